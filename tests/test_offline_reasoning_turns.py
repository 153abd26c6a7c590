"""Regression tests for the offline model on reasoning-heavy caller turns (the corpus calls numbered 70+).

Each test names a failure the offline agent model once had on a long, conditional or troubleshooting
utterance, and proves the decisive tool call (or the honest "not found") now comes out of it.
"""

from __future__ import annotations

import datetime as dt

from tests.test_offline_model import Call
from voicerouter.providers.offline.nlp import find_names
from voicerouter.providers.offline.nlp.corrections import correction_points
from voicerouter.providers.offline.nlp.words import tokenize

TODAY = dt.date(2026, 12, 1)


# -- words ---------------------------------------------------------------------------------------------
def test_a_written_name_stops_at_the_department_said_after_it() -> None:
    names = find_names("I'm Wei Zhang, data engineering")
    assert [m.value for m in names] == ["Wei Zhang"]


def test_a_lowercase_name_still_reads_whole() -> None:
    assert [m.value for m in find_names("i'm jon park")] == ["Jon Park"]


def test_no_after_has_is_a_determiner_not_a_self_correction() -> None:
    assert correction_points(tokenize("my headset has no sound at all")) == []
    assert correction_points(tokenize("the fifth, no, the sixth")) != []


# -- clinic -------------------------------------------------------------------------------------------
def test_a_no_show_fee_complaint_looks_up_the_callers_past_visits() -> None:
    call = Call("clinic")
    reply = call.say(
        "I got a letter saying I owe a no show fee for a visit in october, but I called and cancelled."
        " my name's Jose Alvarez"
    )
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1024"})
    assert "October 22nd at 1:30 pm (no show)" in reply


def test_naming_the_visit_and_its_new_day_in_one_answer_moves_the_named_one() -> None:
    call = Call("clinic")
    call.say("this is Hannah Becker, I need to push back my appointment")
    reply = call.say("let's move the thursday one to thursday the tenth then")
    assert "Thursday, December 10th" in reply and "I don't see" not in reply
    call.say("eight thirty")
    call.say("yes")
    assert call.called()[-1] == (
        "reschedule_appointment",
        {"appointment_id": "A2049", "new_date": "2026-12-10", "new_time": "08:30"},
    )


def test_a_conditional_move_of_a_visit_on_a_day_without_one_says_it_is_not_there() -> None:
    call = Call("clinic")
    reply = call.say(
        "it's Linh Nguyen. I have my back pain appointment on thursday, and if Doctor Chen is free"
        " earlier that morning could you move me up"
    )
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1008"})
    assert reply.startswith("I don't see an appointment on Thursday, December 3rd")
    assert not [name for name, _ in call.called() if name == "reschedule_appointment"]


# -- helpdesk -----------------------------------------------------------------------------------------
def test_a_department_after_the_name_does_not_spoil_the_employee_lookup() -> None:
    call = Call("helpdesk")
    call.say(
        "my VPN keeps dropping every few minutes, and every time it drops Outlook asks for my password"
        " again. I'm Wei Zhang, data engineering"
    )
    assert ("find_employee", {"full_name": "Wei Zhang"}) in call.called()


def test_customer_service_in_a_callers_introduction_is_no_service_status_question() -> None:
    call = Call("helpdesk")
    reply = call.say(
        "hi, Sofia Acosta from customer service. I changed my password yesterday and now the VPN won't"
        " take it, so can you reset the VPN one"
    )
    assert call.called() == [("find_employee", {"full_name": "Sofia Acosta"})]
    assert "couldn't find an employee named Sofia Acosta" in reply


def test_a_ticket_logged_for_an_outage_described_before_takes_its_category_from_that_description() -> None:
    call = Call("helpdesk")
    call.say("the order system's been down all morning, is it coming back before three")
    call.say("can you at least log a ticket, mark it urgent, I'm Ahmed Khan")
    call.say("yes")
    name, args = call.called()[-1]
    assert name == "create_ticket"
    assert (args["employee_id"], args["category"], args["priority"]) == ("E1128", "software", "urgent")


def test_a_problem_that_went_away_closes_the_ticket_after_a_yes() -> None:
    call = Call("helpdesk")
    call.say(
        "if ticket four six three two is the outlook password prompt one you can close it, that problem"
        " went away after the update"
    )
    assert call.called() == [("get_ticket", {"ticket_id": "4632"})]
    call.say("yes")
    assert call.called()[-1] == ("close_ticket", {"ticket_id": "4632"})
