"""Tools of the Maple Street Family Clinic receptionist: patients, appointments, opening hours and policies.

Each `create_tools()` works on its own copy of `data/clinic.json`; a tool never invents a missing record.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from tools.clinic_schedule import ClinicCalendar
from tools.clinic_topics import clinic_answer, hours_by_day
from tools.handoff import transfer_tool
from tools.store import (
    ClockTime,
    IsoDate,
    ToolArgs,
    ToolResult,
    load_data,
    make_tool,
    normalize_name,
    prefixed_id,
    weekday_name,
)
from voicerouter.toolkit import RecordNotFound, RequestRejected, Tool

PatientId = Annotated[str, prefixed_id("P"), Field(pattern=r"^P\d{4}$", examples=["P1001"])]
AppointmentId = Annotated[str, prefixed_id("A"), Field(pattern=r"^A\d{4}$", examples=["A2031"])]
Topic = Literal["hours", "location", "parking", "insurance", "services"]


# -- arguments ------------------------------------------------------------------------------------
class FindPatientArgs(ToolArgs):
    full_name: str = Field(min_length=2, description="Patient's first and last name, e.g. 'John Smith'.")
    date_of_birth: IsoDate | None = Field(
        default=None, description="Date of birth YYYY-MM-DD; tells apart patients with the same name."
    )


class PatientIdArgs(ToolArgs):
    patient_id: PatientId = Field(description="Patient id from find_patient, e.g. 'P1001'.")


class OpenSlotsArgs(ToolArgs):
    date: IsoDate = Field(description="Day to search, YYYY-MM-DD.")
    provider: str | None = Field(
        default=None, description="Optional provider, e.g. 'Dr. Chen'; omit for any provider."
    )


class BookArgs(ToolArgs):
    patient_id: PatientId = Field(description="Patient id from find_patient, e.g. 'P1001'.")
    date: IsoDate = Field(description="Day of the visit, YYYY-MM-DD.")
    time: ClockTime = Field(description="Start time, 24-hour HH:MM, on the half hour.")
    provider: str | None = Field(default=None, description="Optional provider, e.g. 'Dr. Ortiz'.")
    reason: str | None = Field(default=None, max_length=200, description="Optional reason for the visit.")


class RescheduleArgs(ToolArgs):
    appointment_id: AppointmentId = Field(description="Appointment id from list_appointments, e.g. 'A2031'.")
    new_date: IsoDate = Field(description="New day, YYYY-MM-DD.")
    new_time: ClockTime = Field(description="New start time, 24-hour HH:MM.")


class AppointmentIdArgs(ToolArgs):
    appointment_id: AppointmentId = Field(description="Appointment id from list_appointments, e.g. 'A2031'.")


class ClinicInfoArgs(ToolArgs):
    topic: Topic = Field(description="What the caller asks about.")


# -- results --------------------------------------------------------------------------------------
class PatientSummary(ToolResult):
    patient_id: str
    full_name: str
    date_of_birth: str = Field(description="YYYY-MM-DD")
    phone_last4: str = Field(description="Last four digits of the phone number on file.")


class FindPatientResult(ToolResult):
    patients: list[PatientSummary] = Field(description="Matches; more than one means: ask the date of birth.")
    count: int


class AppointmentView(ToolResult):
    appointment_id: str
    date: str = Field(description="YYYY-MM-DD")
    weekday: str
    time: str = Field(description="HH:MM, 24-hour")
    provider: str
    reason: str | None
    status: Literal["scheduled", "completed", "cancelled", "no_show"]


class AppointmentsResult(ToolResult):
    patient_id: str
    full_name: str
    upcoming: list[AppointmentView] = Field(description="Scheduled visits from today on, soonest first.")
    recent: list[AppointmentView] = Field(description="Up to three past visits, most recent first.")


class Slot(ToolResult):
    time: str = Field(description="HH:MM, 24-hour")
    provider: str


class OpenSlotsResult(ToolResult):
    date: str
    weekday: str
    open_from: str
    open_until: str
    slots: list[Slot] = Field(description="Free start times, earliest first, with the provider offered.")


class BookingResult(AppointmentView):
    patient_id: str
    patient_name: str


class RescheduleResult(AppointmentView):
    previous_date: str
    previous_time: str


class ClinicInfoResult(ToolResult):
    topic: Topic
    answer: str = Field(description="A short spoken answer.")
    facts: list[str] = Field(description="The underlying facts, one per line.")
    by_day: dict[str, str] = Field(
        default_factory=dict, description="For hours: one spoken sentence per weekday, keyed 'monday'..."
    )


# -- handlers -------------------------------------------------------------------------------------
class ClinicDesk:
    """The tools' behaviour over one call's private copy of the clinic data."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.calendar = ClinicCalendar(data)

    def _view(self, appt: dict[str, Any]) -> dict[str, Any]:
        provider = self.calendar.provider_by_id(appt["provider_id"])
        day = dt.date.fromisoformat(appt["date"])
        return {
            "appointment_id": appt["id"],
            "date": appt["date"],
            "weekday": weekday_name(day),
            "time": appt["time"],
            "provider": provider["name"],
            "reason": appt.get("reason"),
            "status": appt["status"],
        }

    def find_patient(self, args: FindPatientArgs) -> FindPatientResult:
        wanted = normalize_name(args.full_name)
        if len(wanted.split()) < 2:
            raise RequestRejected("full_name", "give both the first and the last name")
        named = [
            p
            for p in self.data["patients"]
            if normalize_name(f"{p['first_name']} {p['last_name']}") == wanted
        ]
        if not named:
            raise RecordNotFound(f"no patient named {args.full_name!r}")
        if args.date_of_birth is not None:
            named = [p for p in named if p["date_of_birth"] == args.date_of_birth]
            if not named:
                raise RecordNotFound(f"no patient named {args.full_name!r} born on {args.date_of_birth}")
        summaries = [
            PatientSummary(
                patient_id=p["id"],
                full_name=f"{p['first_name']} {p['last_name']}",
                date_of_birth=p["date_of_birth"],
                phone_last4=p["phone"][-4:],
            )
            for p in named
        ]
        return FindPatientResult(patients=summaries, count=len(summaries))

    def list_appointments(self, args: PatientIdArgs) -> AppointmentsResult:
        patient = self.calendar.patient(args.patient_id)
        today = self.calendar.today.isoformat()
        mine = sorted(
            (a for a in self.data["appointments"] if a["patient_id"] == patient["id"]),
            key=lambda a: (a["date"], a["time"]),
        )
        upcoming = [a for a in mine if a["date"] >= today and a["status"] == "scheduled"]
        recent = [a for a in mine if a["date"] < today][::-1][:3]
        return AppointmentsResult(
            patient_id=patient["id"],
            full_name=f"{patient['first_name']} {patient['last_name']}",
            upcoming=[AppointmentView(**self._view(a)) for a in upcoming],
            recent=[AppointmentView(**self._view(a)) for a in recent],
        )

    def find_open_slots(self, args: OpenSlotsArgs) -> OpenSlotsResult:
        day = self.calendar.check_day(args.date)
        providers = self.calendar.candidates(day, None)
        if args.provider is not None:
            provider = self.calendar.provider(args.provider)
            self.calendar.check_provider_day(provider, day)
            providers = [provider]
        hours = self.calendar.opening_hours(day) or ("", "")
        free = self.calendar.free_times(day, providers)
        return OpenSlotsResult(
            date=day.isoformat(),
            weekday=weekday_name(day),
            open_from=hours[0],
            open_until=hours[1],
            slots=[Slot(time=t, provider=p["name"]) for t, p in free],
        )

    def book_appointment(self, args: BookArgs) -> BookingResult:
        patient = self.calendar.patient(args.patient_id)
        day = self.calendar.check_day(args.date)
        self.calendar.check_time(day, args.time)
        if args.provider is not None:
            provider = self.calendar.provider(args.provider)
            self.calendar.check_provider_day(provider, day)
            self.calendar.check_eligible(provider, patient)
            providers = [provider]
        else:
            providers = self.calendar.candidates(day, patient)
        if any(
            a["patient_id"] == patient["id"]
            and a["date"] == args.date
            and a["time"] == args.time
            and a["status"] == "scheduled"
            for a in self.data["appointments"]
        ):
            raise RequestRejected(
                "time", f"the patient already has an appointment at {args.time} on {args.date}"
            )
        free = [p for p in providers if not self.calendar.busy(p["id"], args.date, args.time)]
        if not free:
            raise self.calendar.slot_taken(day, args.time, providers)
        record = {
            "id": self.calendar.next_appointment_id(),
            "patient_id": patient["id"],
            "provider_id": free[0]["id"],
            "date": args.date,
            "time": args.time,
            "duration_minutes": self.calendar.slot_minutes,
            "reason": args.reason,
            "status": "scheduled",
        }
        self.data["appointments"].append(record)
        return BookingResult(
            **self._view(record),
            patient_id=patient["id"],
            patient_name=f"{patient['first_name']} {patient['last_name']}",
        )

    def reschedule_appointment(self, args: RescheduleArgs) -> RescheduleResult:
        appt = self._changeable(args.appointment_id)
        provider = self.calendar.provider_by_id(appt["provider_id"])
        day = self.calendar.check_day(args.new_date, "new_date")
        self.calendar.check_provider_day(provider, day, "new_date")
        self.calendar.check_time(day, args.new_time, "new_time")
        if self.calendar.busy(provider["id"], args.new_date, args.new_time, ignore_id=appt["id"]):
            taken = self.calendar.slot_taken(day, args.new_time, [provider], ignore_id=appt["id"])
            raise RequestRejected("new_time", taken.message)
        previous = (appt["date"], appt["time"])
        appt["date"], appt["time"] = args.new_date, args.new_time
        return RescheduleResult(**self._view(appt), previous_date=previous[0], previous_time=previous[1])

    def cancel_appointment(self, args: AppointmentIdArgs) -> AppointmentView:
        appt = self._changeable(args.appointment_id)
        appt["status"] = "cancelled"
        return AppointmentView(**self._view(appt))

    def _changeable(self, appointment_id: str) -> dict[str, Any]:
        appt = self.calendar.appointment(appointment_id)
        if appt["status"] != "scheduled":
            raise RequestRejected(
                "appointment_id", f"appointment {appointment_id} is {appt['status']}, not scheduled"
            )
        if appt["date"] < self.calendar.today.isoformat():
            raise RequestRejected("appointment_id", f"appointment {appointment_id} is in the past")
        return appt

    def clinic_info(self, args: ClinicInfoArgs) -> ClinicInfoResult:
        clinic = self.data["clinic"]
        answer, facts = clinic_answer(clinic, self.calendar.today, args.topic)
        by_day = hours_by_day(clinic) if args.topic == "hours" else {}
        return ClinicInfoResult(topic=args.topic, answer=answer, facts=facts, by_day=by_day)


def create_tools() -> list[Tool]:
    """The clinic tools over a fresh copy of the data: one call's bookings never reach another call."""
    desk = ClinicDesk(load_data("clinic"))
    return [
        make_tool(
            "find_patient",
            "Look up a patient by full name, optionally date of birth.",
            FindPatientArgs,
            desk.find_patient,
            timeout_ms=2000,
        ),
        make_tool(
            "list_appointments",
            "List a patient's upcoming and recent appointments.",
            PatientIdArgs,
            desk.list_appointments,
            timeout_ms=2000,
        ),
        make_tool(
            "find_open_slots",
            "Free appointment times on a day, optionally with one provider.",
            OpenSlotsArgs,
            desk.find_open_slots,
            timeout_ms=2500,
        ),
        make_tool(
            "book_appointment",
            "Book an appointment. Confirm day and time with the caller first.",
            BookArgs,
            desk.book_appointment,
            timeout_ms=3000,
        ),
        make_tool(
            "reschedule_appointment",
            "Move an appointment to a new day and time, same provider.",
            RescheduleArgs,
            desk.reschedule_appointment,
            timeout_ms=3000,
        ),
        make_tool(
            "cancel_appointment",
            "Cancel a scheduled appointment. Confirm with the caller first.",
            AppointmentIdArgs,
            desk.cancel_appointment,
            timeout_ms=2500,
        ),
        make_tool(
            "clinic_info",
            "Opening hours, location, parking, accepted insurance or services.",
            ClinicInfoArgs,
            desk.clinic_info,
            timeout_ms=1500,
        ),
        transfer_tool(),
    ]


def canonical_args(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as the tools read them: a provider named by any of its forms ("Grace Okafor, NP",
    "Nurse Practitioner Okafor", "okafor") is that provider's id, so two forms of one choice compare equal."""
    provider = args.get("provider")
    if not isinstance(provider, str):
        return args
    try:
        record = _CALENDAR.provider(provider)
    except (RecordNotFound, RequestRejected):
        return args
    return {**args, "provider": record["id"]}


_CALENDAR = ClinicCalendar(load_data("clinic"))
