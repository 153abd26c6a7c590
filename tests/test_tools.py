"""The bundled data set and the clinic and helpdesk tools: lookups, refusals, validation and isolation."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from tools import clinic, helpdesk
from tools.store import load_data
from voicerouter.agent import load_agent
from voicerouter.toolkit import ToolRegistry

DATA = Path(__file__).resolve().parent.parent / "tools" / "data"


@pytest.fixture
def desk() -> ToolRegistry:
    return ToolRegistry(clinic.create_tools())


@pytest.fixture
def service() -> ToolRegistry:
    return ToolRegistry(helpdesk.create_tools())


# -- the data set ------------------------------------------------------------------------------------
def test_both_data_sets_share_a_fixed_tuesday_as_today() -> None:
    for name in ("clinic", "helpdesk"):
        today = dt.date.fromisoformat(json.loads((DATA / f"{name}.json").read_text())["today"])
        assert today == dt.date(2026, 12, 1)
        assert today.strftime("%A") == "Tuesday"


def test_clinic_data_has_the_promised_breadth_and_no_double_booking() -> None:
    data = load_data("clinic")
    assert len(data["patients"]) >= 40
    assert 3 <= len(data["providers"]) <= 5
    appointments = data["appointments"]
    assert len(appointments) >= 60
    assert len({a["id"] for a in appointments}) == len(appointments)
    assert any(a["date"] < data["today"] for a in appointments)
    assert any(a["date"] >= data["today"] for a in appointments)
    booked = Counter(
        (a["provider_id"], a["date"], a["time"]) for a in appointments if a["status"] == "scheduled"
    )
    assert max(booked.values()) == 1
    assert data["clinic"]["hours"]["saturday"] == ["09:00", "12:00"]
    assert data["clinic"]["hours"]["sunday"] is None


def test_helpdesk_data_has_the_promised_breadth() -> None:
    data = load_data("helpdesk")
    assert len(data["employees"]) >= 40
    assert any(e["id"] == "E1042" for e in data["employees"])
    tickets = data["tickets"]
    assert len(tickets) >= 50
    assert all(len(t["id"]) == 4 and t["id"].isdigit() for t in tickets)
    assert len({t["id"] for t in tickets}) == len(tickets)
    assert {"4591"} <= {t["id"] for t in tickets}
    assert {s["id"] for s in data["services"]} >= {"email", "vpn", "wifi", "printers", "sso", "laptops"}


def test_load_data_returns_a_private_copy() -> None:
    first = load_data("clinic")
    first["patients"].clear()
    assert len(load_data("clinic")["patients"]) >= 40


def test_every_tool_declares_a_timeout_and_described_arguments(
    desk: ToolRegistry, service: ToolRegistry
) -> None:
    for tool in [*desk, *service]:
        assert 1500 <= tool.timeout_ms <= 3000, tool.name
        schema = tool.spec().parameters
        for field, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{tool.name}.{field} has no description"


# -- clinic lookups ----------------------------------------------------------------------------------
def test_find_patient_matches_a_spoken_name_case_and_punctuation_insensitively(desk: ToolRegistry) -> None:
    outcome = desk.run("find_patient", {"full_name": "katherine obrien"})
    assert outcome.ok
    assert outcome.result is not None
    assert outcome.result["patients"][0]["full_name"] == "Katherine O'Brien"


@pytest.mark.parametrize("near_miss", ["Jon Smith", "John Smyth", "Catherine O'Brien", "Steven Clark"])
def test_find_patient_never_returns_a_near_miss(desk: ToolRegistry, near_miss: str) -> None:
    outcome = desk.run("find_patient", {"full_name": near_miss})
    assert not outcome.ok
    assert outcome.not_found
    assert near_miss in (outcome.error or "")
    assert outcome.for_model().startswith("ERROR: not found: ")


def test_find_patient_returns_every_namesake_until_the_birth_date_tells_them_apart(
    desk: ToolRegistry,
) -> None:
    both = desk.run("find_patient", {"full_name": "Maria Garcia"})
    assert both.result is not None and both.result["count"] == 2
    one = desk.run("find_patient", {"full_name": "Maria Garcia", "date_of_birth": "1995-05-17"})
    assert one.result is not None and [p["patient_id"] for p in one.result["patients"]] == ["P1004"]
    wrong = desk.run("find_patient", {"full_name": "Maria Garcia", "date_of_birth": "1990-01-01"})
    assert wrong.not_found


def test_invalid_arguments_come_back_as_an_outcome_naming_each_bad_field(desk: ToolRegistry) -> None:
    outcome = desk.run("book_appointment", {"patient_id": "P1001", "date": "march third", "time": "25:00"})
    assert not outcome.ok and not outcome.not_found
    assert outcome.error is not None
    assert "date:" in outcome.error and "YYYY-MM-DD" in outcome.error
    assert "time:" in outcome.error and "HH:MM" in outcome.error


def test_unknown_arguments_are_rejected_by_name(desk: ToolRegistry) -> None:
    outcome = desk.run("clinic_info", {"topic": "hours", "colour": "blue"})
    assert not outcome.ok
    assert "colour" in (outcome.error or "")


def test_list_appointments_splits_upcoming_from_recent_visits(desk: ToolRegistry) -> None:
    outcome = desk.run("list_appointments", {"patient_id": "p1001"})
    assert outcome.result is not None
    upcoming = outcome.result["upcoming"]
    assert [a["date"] for a in upcoming] == sorted(a["date"] for a in upcoming)
    assert all(a["date"] >= "2026-12-01" and a["status"] == "scheduled" for a in upcoming)
    assert all(a["date"] < "2026-12-01" for a in outcome.result["recent"])


def test_open_slots_exclude_times_already_booked(desk: ToolRegistry) -> None:
    outcome = desk.run("find_open_slots", {"date": "2026-12-03", "provider": "Dr. Chen"})
    assert outcome.result is not None
    times = [s["time"] for s in outcome.result["slots"]]
    assert "09:30" not in times
    assert times[0] == "12:00"


@pytest.mark.parametrize(
    ("args", "field", "why"),
    [
        ({"date": "2026-12-06", "time": "10:00"}, "date", "closed on Sundays"),
        ({"date": "2026-11-20", "time": "10:00"}, "date", "in the past"),
        ({"date": "2026-12-25", "time": "10:00"}, "date", "Christmas Day"),
        ({"date": "2026-12-05", "time": "13:00"}, "time", "outside"),
        ({"date": "2026-12-03", "time": "09:30", "provider": "Dr. Chen"}, "time", "already booked"),
        ({"date": "2026-12-01", "time": "10:00", "provider": "Dr. Patel"}, "provider", "Tuesdays"),
        ({"date": "2026-12-02", "time": "10:00", "provider": "Dr. Patel"}, "provider", "under 18"),
    ],
)
def test_booking_refusals_say_which_field_and_why(
    desk: ToolRegistry, args: dict[str, str], field: str, why: str
) -> None:
    outcome = desk.run("book_appointment", {"patient_id": "P1001", **args})
    assert not outcome.ok and not outcome.not_found
    assert (outcome.error or "").startswith(f"invalid request: {field}: ")
    assert why in (outcome.error or "")


def test_a_taken_slot_refusal_offers_free_times_that_day(desk: ToolRegistry) -> None:
    outcome = desk.run(
        "book_appointment",
        {"patient_id": "P1002", "date": "2026-12-03", "time": "09:30", "provider": "Dr. Chen"},
    )
    assert "free times that day: 12:00, 12:30, 13:00" in (outcome.error or "")


def test_a_booking_is_visible_in_the_same_call_and_invisible_in_the_next(desk: ToolRegistry) -> None:
    booked = desk.run("book_appointment", {"patient_id": "P1007", "date": "2026-12-04", "time": "15:00"})
    assert booked.result is not None
    appointment_id = booked.result["appointment_id"]
    mine = desk.run("list_appointments", {"patient_id": "P1007"}).result
    assert mine is not None and [a["appointment_id"] for a in mine["upcoming"]] == [appointment_id]
    again = desk.run("book_appointment", {"patient_id": "P1007", "date": "2026-12-04", "time": "15:00"})
    assert "already has an appointment" in (again.error or "")
    fresh = ToolRegistry(clinic.create_tools())
    theirs = fresh.run("list_appointments", {"patient_id": "P1007"}).result
    assert theirs is not None and theirs["upcoming"] == []


def test_reschedule_keeps_the_provider_and_reports_the_old_slot(desk: ToolRegistry) -> None:
    moved = desk.run(
        "reschedule_appointment", {"appointment_id": "A2056", "new_date": "2026-12-04", "new_time": "16:00"}
    )
    assert moved.result is not None
    assert (moved.result["previous_date"], moved.result["previous_time"]) == ("2026-12-03", "17:30")
    assert (moved.result["date"], moved.result["time"]) == ("2026-12-04", "16:00")
    assert moved.result["provider"] == "Grace Okafor, NP"


def test_cancel_twice_is_refused_and_an_unknown_id_is_not_found(desk: ToolRegistry) -> None:
    first = desk.run("cancel_appointment", {"appointment_id": "A2056"})
    assert first.result is not None and first.result["status"] == "cancelled"
    second = desk.run("cancel_appointment", {"appointment_id": "A2056"})
    assert (second.error or "").startswith("invalid request: appointment_id: ")
    assert desk.run("cancel_appointment", {"appointment_id": "A9999"}).not_found


@pytest.mark.parametrize("topic", ["hours", "location", "parking", "insurance", "services"])
def test_clinic_info_answers_every_topic_from_the_data(desk: ToolRegistry, topic: str) -> None:
    outcome = desk.run("clinic_info", {"topic": topic})
    assert outcome.result is not None
    assert outcome.result["answer"] and outcome.result["facts"]


def test_clinic_hours_mention_the_saturday_morning(desk: ToolRegistry) -> None:
    outcome = desk.run("clinic_info", {"topic": "hours"})
    assert outcome.result is not None
    assert "Saturday 9 am to noon" in outcome.result["answer"]


# -- helpdesk ----------------------------------------------------------------------------------------
def test_find_employee_by_spoken_id_or_exact_name(service: ToolRegistry) -> None:
    by_id = service.run("find_employee", {"employee_id": "e 1042"})
    by_name = service.run("find_employee", {"full_name": "jon park"})
    assert by_id.result == by_name.result
    assert by_id.result is not None and by_id.result["employees"][0]["employee_id"] == "E1042"
    assert service.run("find_employee", {"full_name": "John Park"}).not_found


def test_find_employee_without_a_name_or_id_is_refused_naming_the_field(service: ToolRegistry) -> None:
    outcome = service.run("find_employee", {})
    assert (outcome.error or "").startswith("invalid request: full_name: ")


def test_ticket_ids_given_as_numbers_are_read_as_text(service: ToolRegistry) -> None:
    outcome = service.run("get_ticket", {"ticket_id": 4591})
    assert outcome.result is not None and outcome.result["ticket_id"] == "4591"
    assert (
        outcome.result["history"] and outcome.result["last_update"] == outcome.result["history"][-1]["note"]
    )


def test_a_near_miss_ticket_is_not_found_and_a_malformed_one_is_invalid(service: ToolRegistry) -> None:
    assert service.run("get_ticket", {"ticket_id": "4590"}).not_found
    malformed = service.run("get_ticket", {"ticket_id": "45911"})
    assert not malformed.not_found and "ticket_id" in (malformed.error or "")


def test_create_ticket_numbers_and_routes_the_new_ticket(service: ToolRegistry) -> None:
    outcome = service.run(
        "create_ticket",
        {
            "employee_id": "E1042",
            "summary": "Laptop will not boot",
            "category": "hardware",
            "priority": "high",
        },
    )
    assert outcome.result is not None
    assert outcome.result["ticket_id"] == "4639"
    assert (outcome.result["status"], outcome.result["assignee"]) == ("open", "Noah Fischer")
    assert service.run("get_ticket", {"ticket_id": "4639"}).ok
    assert ToolRegistry(helpdesk.create_tools()).run("get_ticket", {"ticket_id": "4639"}).not_found


def test_close_ticket_twice_is_refused(service: ToolRegistry) -> None:
    assert service.run("close_ticket", {"ticket_id": "4591", "resolution": "Gateway fixed."}).ok
    again = service.run("close_ticket", {"ticket_id": "4591"})
    assert (again.error or "").startswith("invalid request: ticket_id: ")


def test_reset_password_refuses_a_system_the_employee_does_not_have(service: ToolRegistry) -> None:
    outcome = service.run("reset_password", {"employee_id": "E1042", "system": "payroll"})
    assert (outcome.error or "").startswith("invalid request: system: ")


def test_reset_password_refuses_a_disabled_account_and_unlocks_a_locked_one(service: ToolRegistry) -> None:
    disabled = service.run("reset_password", {"employee_id": "E1080", "system": "email"})
    assert (disabled.error or "").startswith("invalid request: employee_id: ")
    locked = service.run("reset_password", {"employee_id": "E1068", "system": "email"})
    assert locked.result is not None and locked.result["account_unlocked"] is True
    assert "phone ending in" in locked.result["delivery"]


def test_service_status_understands_aliases_and_admits_unknown_services(service: ToolRegistry) -> None:
    outcome = service.run("service_status", {"service": "Wi-Fi"})
    assert outcome.result is not None and outcome.result["service"] == "wifi"
    unknown = service.run("service_status", {"service": "fax machine"})
    assert unknown.not_found and "known services" in (unknown.error or "")


# -- agents ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["clinic", "helpdesk"])
def test_shipped_agents_load_and_their_offline_hints_name_real_tools(name: str) -> None:
    agent = load_agent(name)
    tools = set(agent.create_tools().names())
    assert agent.prompt.strip()
    assert agent.offline["today"] == load_data(name)["today"]
    for intent in agent.offline["intents"]:
        for step in intent["steps"]:
            assert step["tool"] in tools, f"{name}: {intent['name']} uses unknown tool {step['tool']}"


@pytest.mark.parametrize("agent", ["clinic", "helpdesk"])
def test_every_agent_can_hand_the_caller_to_a_person(agent: str) -> None:
    from voicerouter.providers.base import ChatMessage, ChatRequest
    from voicerouter.providers.offline.model import OfflineAgentModel

    spec = load_agent(agent)
    tools = spec.create_tools()
    outcome = tools.run("transfer_to_human", {"reason": "billing question"})
    assert outcome.ok and outcome.result == {"status": "transfer requested", "reason": "billing question"}
    request = ChatRequest(
        model="offline-agent-v1",
        system=spec.prompt,
        messages=(ChatMessage(role="user", content="um can i talk to a real person please"),),
        tools=tools.specs(),
    )
    completion = OfflineAgentModel(spec).complete(request)
    assert [c.name for c in completion.tool_calls] == ["transfer_to_human"]
