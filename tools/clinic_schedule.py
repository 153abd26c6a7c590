"""The clinic's calendar rules over one call's copy of the data: opening days, providers, free slots.

Pure functions of the data and its fixed reference date; it never reads the clock and never writes records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tools.store import WEEKDAYS, join_words, normalize_name, weekday_name
from voicerouter.toolkit import RecordNotFound, RequestRejected

BOOKING_HORIZON_DAYS = 90
ADULT_AGE_YEARS = 18


class ClinicCalendar:
    """Answers "can this happen then?" for one call's data; bookings live in `data["appointments"]`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.today = dt.date.fromisoformat(data["today"])
        self.clinic: dict[str, Any] = data["clinic"]
        self.providers: list[dict[str, Any]] = data["providers"]
        self.slot_minutes: int = self.clinic["slot_minutes"]

    # -- lookups -------------------------------------------------------------------------------
    def provider(self, spoken: str) -> dict[str, Any]:
        """Resolve "Dr. Chen", "Amelia Chen", "chen" or "the pediatrician" to one provider record."""
        wanted = normalize_name(spoken)
        for record in self.providers:
            names = {
                normalize_name(record["name"]),
                normalize_name(record["short_name"]),
                normalize_name(record["name"]).split(" ")[-1],
                normalize_name(record["role"]),
                record["id"].lower(),
            }
            if wanted and wanted in names:
                return record
        known = join_words([p["name"] for p in self.providers])
        raise RecordNotFound(f"no provider named {spoken!r}; our providers are {known}")

    def provider_by_id(self, provider_id: str) -> dict[str, Any]:
        return next(p for p in self.providers if p["id"] == provider_id)

    def patient(self, patient_id: str) -> dict[str, Any]:
        for record in self.data["patients"]:
            if record["id"] == patient_id:
                return record
        raise RecordNotFound(f"no patient with id {patient_id!r}")

    def appointment(self, appointment_id: str) -> dict[str, Any]:
        for record in self.data["appointments"]:
            if record["id"] == appointment_id:
                return record
        raise RecordNotFound(f"no appointment with id {appointment_id!r}")

    # -- rules ---------------------------------------------------------------------------------
    def opening_hours(self, day: dt.date) -> tuple[str, str] | None:
        for closure in self.clinic["closures"]:
            if closure["date"] == day.isoformat():
                return None
        hours = self.clinic["hours"][WEEKDAYS[day.weekday()]]
        return (hours[0], hours[1]) if hours else None

    def check_day(self, iso_day: str, field: str = "date") -> dt.date:
        """The day as a date if the clinic takes bookings then; otherwise a refusal naming `field`."""
        day = dt.date.fromisoformat(iso_day)
        if day < self.today:
            raise RequestRejected(field, f"{iso_day} is in the past; today is {self.today.isoformat()}")
        if (day - self.today).days > BOOKING_HORIZON_DAYS:
            raise RequestRejected(field, f"bookings open at most {BOOKING_HORIZON_DAYS} days ahead")
        for closure in self.clinic["closures"]:
            if closure["date"] == iso_day:
                raise RequestRejected(field, f"the clinic is closed on {iso_day} for {closure['reason']}")
        if self.opening_hours(day) is None:
            raise RequestRejected(field, f"the clinic is closed on {weekday_name(day)}s")
        return day

    def check_provider_day(self, provider: dict[str, Any], day: dt.date, field: str = "provider") -> None:
        if WEEKDAYS[day.weekday()] not in provider["days"]:
            days = join_words([d.capitalize() for d in provider["days"]])
            raise RequestRejected(
                field,
                f"{provider['short_name']} does not see patients on {weekday_name(day)}s, only on {days}",
            )

    def check_eligible(self, provider: dict[str, Any], patient: dict[str, Any]) -> None:
        if provider["role"] == "pediatrician" and not self.is_child(patient):
            raise RequestRejected("provider", f"{provider['short_name']} only sees patients under 18")

    def is_child(self, patient: dict[str, Any]) -> bool:
        born = dt.date.fromisoformat(patient["date_of_birth"])
        return (self.today - born).days < ADULT_AGE_YEARS * 365.25

    def grid(self, day: dt.date) -> list[str]:
        """Every start time of the day's slots, HH:MM."""
        hours = self.opening_hours(day)
        if hours is None:
            return []
        start = dt.datetime.combine(day, dt.time.fromisoformat(hours[0]))
        end = dt.datetime.combine(day, dt.time.fromisoformat(hours[1]))
        step = dt.timedelta(minutes=self.slot_minutes)
        times = []
        while start + step <= end:
            times.append(start.strftime("%H:%M"))
            start += step
        return times

    def check_time(self, day: dt.date, time: str, field: str = "time") -> None:
        grid = self.grid(day)
        if time in grid:
            return
        hours = self.opening_hours(day) or ("", "")
        if grid and grid[0] <= time < hours[1]:
            raise RequestRejected(
                field, f"appointments start every {self.slot_minutes} minutes, e.g. {grid[0]}"
            )
        raise RequestRejected(
            field,
            f"the clinic is open {hours[0]} to {hours[1]} on {weekday_name(day)}s; {time} is outside that",
        )

    def busy(self, provider_id: str, iso_day: str, time: str, *, ignore_id: str | None = None) -> bool:
        return any(
            a["provider_id"] == provider_id
            and a["date"] == iso_day
            and a["time"] == time
            and a["status"] == "scheduled"
            and a["id"] != ignore_id
            for a in self.data["appointments"]
        )

    def candidates(self, day: dt.date, patient: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Providers working that day, in the order a receptionist would offer them."""
        working = [p for p in self.providers if WEEKDAYS[day.weekday()] in p["days"]]
        if patient is None:
            return working
        if self.is_child(patient):
            return sorted(working, key=lambda p: p["role"] != "pediatrician")
        return [p for p in working if p["role"] != "pediatrician"]

    def free_times(
        self, day: dt.date, providers: list[dict[str, Any]], *, ignore_id: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """(time, first free provider) for every slot where one of `providers` is free."""
        free = []
        for time in self.grid(day):
            for provider in providers:
                if not self.busy(provider["id"], day.isoformat(), time, ignore_id=ignore_id):
                    free.append((time, provider))
                    break
        return free

    def slot_taken(
        self, day: dt.date, time: str, providers: list[dict[str, Any]], *, ignore_id: str | None = None
    ) -> RequestRejected:
        """The refusal for a taken slot, listing a few free times that day so the caller can choose."""
        free = [t for t, _ in self.free_times(day, providers, ignore_id=ignore_id)]
        who = providers[0]["short_name"] if len(providers) == 1 else "every provider"
        nearest = sorted(free, key=lambda t: abs(_minutes(t) - _minutes(time)))[:3]
        tail = (
            f"; free times that day: {', '.join(sorted(nearest))}"
            if nearest
            else "; that day is fully booked"
        )
        return RequestRejected("time", f"{who} is already booked at {time} on {day.isoformat()}{tail}")

    def next_appointment_id(self) -> str:
        highest = max((int(a["id"][1:]) for a in self.data["appointments"]), default=2000)
        return f"A{highest + 1}"


def _minutes(hhmm: str) -> int:
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)
