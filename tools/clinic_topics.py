"""Spoken answers to the clinic's general questions (hours, location, parking, insurance, services).

Built only from the clinic record; it never guesses a fact the data does not hold.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tools.store import WEEKDAYS, join_words, spoken_clock


def clinic_answer(clinic: dict[str, Any], today: dt.date, topic: str) -> tuple[str, list[str]]:
    """(one or two spoken sentences, the facts behind them) for `topic`."""
    if topic == "hours":
        return _hours(clinic, today)
    if topic == "location":
        facts = [clinic["address"], clinic["location_notes"], clinic["transit"]]
        return f"We're at {clinic['address']}. {clinic['location_notes'].split('.')[0]}.", facts
    if topic == "parking":
        return clinic["parking"].split(". ")[0] + ".", [clinic["parking"]]
    if topic == "insurance":
        accepted = clinic["insurers_accepted"]
        refused = clinic["insurers_not_accepted"]
        answer = f"We accept {join_words(accepted)}. We don't take {join_words(refused, 'or')}."
        return answer, [
            *(f"accepted: {name}" for name in accepted),
            *(f"not accepted: {name}" for name in refused),
            clinic["self_pay"],
        ]
    services = clinic["services"]
    return f"We offer {join_words(services)}.", list(services)


def _hours(clinic: dict[str, Any], today: dt.date) -> tuple[str, list[str]]:
    groups: dict[str, list[str]] = {}
    facts = []
    for day in WEEKDAYS:
        span = clinic["hours"][day]
        said = f"{spoken_clock(span[0])} to {spoken_clock(span[1])}" if span else "closed"
        facts.append(f"{day.capitalize()}: {f'{span[0]} to {span[1]}' if span else 'closed'}")
        groups.setdefault(said, []).append(day.capitalize())
    parts = [
        f"{join_words(days)} {said}"
        if said != "closed"
        else f"closed on {join_words([d + 's' for d in days])}"
        for said, days in groups.items()
    ]
    upcoming = [c for c in clinic["closures"] if c["date"] >= today.isoformat()]
    facts += [f"closed on {c['date']} ({c['reason']})" for c in upcoming]
    answer = f"We're open {join_words(parts)}."
    if upcoming:
        answer += f" We're also closed for {join_words([c['reason'] for c in upcoming])}."
    return answer, facts


def hours_by_day(clinic: dict[str, Any]) -> dict[str, str]:
    """One spoken sentence per weekday, so that a caller who narrows the question ("just saturdays")
    hears only the day asked about."""
    said = {}
    for day in WEEKDAYS:
        span = clinic["hours"][day]
        said[day] = (
            f"On {day.capitalize()}s we're open {spoken_clock(span[0])} to {spoken_clock(span[1])}."
            if span
            else f"We're closed on {day.capitalize()}s."
        )
    return said
