"""Reply templates of the offline model: `{path|filter}` placeholders over slots and tool results.

Renders only values that are in the context (what the caller said, what a tool returned); a section in
`[[...]]` disappears when one of its values is missing, so a reply never states a fact it does not have.
`{a||b}` says the first of its paths that has a value; a path step `$slot` is that slot's value (a date's
weekday), so `{clinic_info.by_day.$date||clinic_info.answer}` answers the day the caller asked about.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_PATH = r"[A-Za-z0-9_.$]+"
_PLACEHOLDER = re.compile(rf"\{{({_PATH}(?:\|\|{_PATH})*)(?:\|([a-z]+)(?::(\d+))?)?\}}")
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_CLOCK = re.compile(r"\b([01]\d|2[0-3]):([0-5]\d)\b")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class _Missing(Exception):
    """A placeholder whose value the context does not hold."""


def render(template: str, context: dict[str, Any]) -> str:
    """The template with every placeholder filled; optional sections whose values are missing are dropped."""

    def optional(match: re.Match[str]) -> str:
        try:
            return _fill(match.group(1), context, strict=True)
        except _Missing:
            return ""

    text = _OPTIONAL.sub(optional, template)
    text = _fill(text, context, strict=False)
    return re.sub(r"\s+([,.?!])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()


def _fill(template: str, context: dict[str, Any], *, strict: bool) -> str:
    def one(match: re.Match[str]) -> str:
        value = next((v for path in match.group(1).split("||") if _said(v := lookup(context, path))), None)
        if not _said(value):
            if strict:
                raise _Missing(match.group(1))
            return ""
        return apply_filter(value, match.group(2), int(match.group(3)) if match.group(3) else None)

    return _PLACEHOLDER.sub(one, template)


def _said(value: Any) -> bool:
    """A value a reply can state: missing, empty and False values say nothing (0 does)."""
    return value is not None and value is not False and value != "" and value != []


def lookup(context: dict[str, Any], path: str) -> Any:
    """`find_patient.picked.full_name` -> the value, or None when any step of the path is missing."""
    value: Any = context
    for part in path.split("."):
        if part.startswith("$"):
            part = _step_value(context.get(part[1:]))
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def _step_value(value: Any) -> str:
    """A slot used as a path step: an ISO date steps by its weekday ("2026-12-05" -> "saturday")."""
    try:
        return _DAYS[dt.date.fromisoformat(str(value)).weekday()].lower()
    except ValueError:
        return str(value)


def apply_filter(value: Any, name: str | None, arg: int | None) -> str:
    """A template value as spoken through filter `name` ("date", "times", "digits"...); `arg` caps lists."""
    if name is None:
        return spoken_text(str(value)) if isinstance(value, str) else str(value)
    if name == "date":
        return spoken_date(str(value))
    if name == "dob":
        return spoken_date(str(value), with_weekday=False, with_year=True)
    if name == "time":
        return spoken_time(str(value))
    if name == "times":
        items = value if isinstance(value, list) else [value]
        times = [spoken_time(i["time"] if isinstance(i, dict) else str(i)) for i in items]
        return join_spoken(times[: arg or len(times)])
    if name == "when":
        items = value if isinstance(value, list) else [value]
        said = [f"{spoken_date(i['date'])} at {spoken_time(i['time'])}" for i in items if isinstance(i, dict)]
        return join_spoken(said[: arg or len(said)])
    if name == "visits":  # past visits with what became of them: "..., at 1:30 pm (no show)"
        items = value if isinstance(value, list) else [value]
        said = [
            f"{apply_filter(i, 'when', None)} ({apply_filter(i.get('status', ''), 'words', None)})"
            for i in items
            if isinstance(i, dict)
        ]
        return join_spoken(said[: arg or len(said)])
    if name == "digits":
        return " ".join(str(value))
    if name == "words":
        return str(value).replace("_", " ")
    if name == "count":
        return str(len(value)) if isinstance(value, list) else str(value)
    if name == "inline":  # a record's sentence used inside ours: "Cannot add..." -> "cannot add..."
        text = str(value)
        return text[:1].lower() + text[1:] if text[1:2].islower() else text
    if name == "lower":
        return str(value).lower()
    if name == "acronym":
        return str(value).upper() if len(str(value)) <= 4 else str(value)
    if name == "if":
        return ""  # only gates an optional section on the value being there
    raise ValueError(f"unknown template filter {name!r}")


def ordinal(day: int) -> str:
    """A day of the month written as spoken text shows it: 1 -> "1st", 12 -> "12th", 23 -> "23rd"."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def spoken_date(iso: str, *, with_weekday: bool = True, with_year: bool = False) -> str:
    """`2026-12-03` -> `Thursday, December 3rd`; birth dates -> `March 12th, 1984`."""
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    said = f"{_MONTHS[day.month - 1]} {ordinal(day.day)}"
    if with_weekday:
        said = f"{_DAYS[day.weekday()]}, {said}"
    return f"{said}, {day.year}" if with_year else said


def spoken_time(hhmm: str) -> str:
    """`09:30` -> `9:30 am`, `15:00` -> `3 pm`, `12:00` -> `noon`."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", hhmm.strip())
    if not match:
        return hhmm
    hour, minute = int(match.group(1)), int(match.group(2))
    if (hour, minute) == (12, 0):
        return "noon"
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown} {suffix}" if minute == 0 else f"{shown}:{minute:02d} {suffix}"


def spoken_text(text: str) -> str:
    """Free text with its ISO dates and HH:MM times made speakable (tool messages carry both)."""
    text = _ISO_DATE.sub(lambda m: spoken_date(m.group(1)), text)
    return _CLOCK.sub(lambda m: spoken_time(m.group(0)), text)


def join_spoken(items: list[str]) -> str:
    """Items as a sentence lists them: "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
