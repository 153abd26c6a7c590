"""Record details in an agent's reply, and whether a tool (or the caller) ever supplied them.

An answer "invents" a record only when it asserts details nobody gave it: a greeting, an apology or an
honest "I couldn't check" asserts none. Details are numbers (ids, days, times, confirmation numbers),
weekdays and months; a date or time a tool returned also vouches for the ways a person would say it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_DETAIL = re.compile(
    r"(?<![\d:])(\d{1,2}:\d{2}|\d+)(?:st|nd|rd|th)?(?![\d:])|\b("
    + "|".join(WEEKDAYS + MONTHS[:4] + MONTHS[5:])
    + r")\b",
    re.IGNORECASE,
)  # "may" is left out: as a word it is far more often the verb
_SPELLED_DIGITS = re.compile(r"(?<![\d:])\d(?:[ -]\d(?![\d:]))+")  # "E 1 0 2 4", read out digit by digit
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_ORDINALS = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90, "twentieth": 20, "thirtieth": 30}  # fmt: skip
_WORD = {**{w: i for i, w in enumerate(_UNITS)}, **{w: i for i, w in enumerate(_ORDINALS)}, "oh": 0}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def details(text: str) -> set[str]:
    """The record details a text states, normalised ("10th" -> "10", "Thursday" -> "thursday")."""
    found = set()
    text = _SPELLED_DIGITS.sub(lambda m: re.sub(r"[ -]", "", m.group(0)), text)
    for number, word in _DETAIL.findall(text):
        if number:
            found.add(number.lstrip("0") or "0" if ":" not in number else _clock(number))
        else:
            found.add(word.lower())
    return found


def _clock(text: str) -> str:
    hour, minute = text.split(":")
    return f"{int(hour)}:{minute}"


def spoken_numbers(text: str) -> set[str]:
    """Numbers a caller says in words: "the fourth", "twenty first", "forty five ninety" (45, 90, 4590),
    "four six one zero" (each digit and the whole run)."""
    found: set[str] = set()
    run: list[str] = []  # consecutive digit words, read as one number too
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    previous_tens: int | None = None
    for word in [*words, ""]:
        value = _WORD.get(word)
        if word in _TENS:
            previous_tens = _TENS[word]
            found.add(str(previous_tens))
            run.append(str(previous_tens))
            continue
        if value is not None:
            if previous_tens is not None and value < 10:
                found.add(str(previous_tens + value))
                run[-1] = str(previous_tens + value)
            else:
                found.add(str(value))
                run.append(str(value))
        else:
            if len(run) > 1:
                found.add("".join(run))
            run = []
        previous_tens = None
    return found


def vouched(texts: Iterable[str]) -> set[str]:
    """Every detail the given sources (tool results and arguments, the caller's words) support."""
    known: set[str] = set()
    months: set[tuple[int, int]] = set()
    for text in texts:
        known |= details(text) | spoken_numbers(text)
        months |= {(int(y), int(m)) for y, m, _ in _ISO_DATE.findall(text)}
        for year, month, day in _ISO_DATE.findall(text):
            try:
                date = dt.date(int(year), int(month), int(day))
            except ValueError:
                continue
            known |= {WEEKDAYS[date.weekday()], MONTHS[date.month - 1], str(date.day), str(date.year)}
        for hour, minute in _CLOCK.findall(text):
            twelve = int(hour) % 12 or 12
            known |= {str(int(hour)), str(twelve), f"{twelve}:{minute}", f"{int(hour)}:{minute}"}
    for year, month in months:  # "the eighth" in a month the records are in: the weekday it falls on
        for day in range(1, 32):
            if str(day) in known:
                try:
                    known.add(WEEKDAYS[dt.date(year, month, day).weekday()])
                except ValueError:
                    continue
    return known


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def unsupported_details(answer: str, sources: Iterable[str]) -> set[str]:
    """The details `answer` asserts that no source supports (empty when it invents nothing)."""
    return details(answer) - vouched(sources)
