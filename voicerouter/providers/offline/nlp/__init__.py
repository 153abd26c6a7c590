"""Spoken-language parsing: numbers, dates, times, spelled names and self-corrections, to canonical forms.

Shared by the offline agent model and the simulator; every function is pure and takes its reference date.
"""

from __future__ import annotations

import datetime as dt
import re

from voicerouter.lexicon.tokens import fold_heard as fold
from voicerouter.providers.offline.nlp.corrections import correction_points, drop_corrected
from voicerouter.providers.offline.nlp.dates import find_dates
from voicerouter.providers.offline.nlp.names import find_names, spoken_name
from voicerouter.providers.offline.nlp.times import find_times
from voicerouter.providers.offline.nlp.words import Mention, Token, digit_strings, tokenize

__all__ = [
    "Mention",
    "Token",
    "correction_points",
    "digit_strings",
    "drop_corrected",
    "find_dates",
    "find_names",
    "find_times",
    "fold",
    "normalize_date",
    "normalize_digits",
    "normalize_id",
    "normalize_name",
    "normalize_time",
    "spoken_name",
    "tokenize",
]


def normalize_date(text: str, today: dt.date) -> str | None:
    """The date the speaker finally means, ISO `YYYY-MM-DD`: "the fifth no sorry the sixth" -> the sixth."""
    tokens = tokenize(text)
    found = drop_corrected(find_dates(tokens, today), tokens)
    return found[-1].value if found else None


def normalize_time(text: str, *, pm_below_hour: int = 7) -> str | None:
    """The time the speaker finally means, `HH:MM` 24-hour; a bare "three" counts (the text is a time)."""
    tokens = tokenize(text)
    found = drop_corrected(find_times(tokens, bare_ok=True, pm_below_hour=pm_below_hour), tokens)
    return found[-1].value if found else None


def normalize_digits(text: str, length: int | None = None) -> str | None:
    """The last spoken number with `length` digits (any length if None): "four five nine one" -> "4591"."""
    found = [d for d, _, _ in digit_strings(text) if length is None or len(d) == length]
    return found[-1] if found else None


def normalize_id(text: str, prefix: str, digits: int) -> str | None:
    """An id such as `E1042` from "e one oh four two", "E1042" or "employee id one zero four two"."""
    compact = re.search(rf"\b{re.escape(prefix)}\s?-?(\d{{{digits}}})\b", text, flags=re.IGNORECASE)
    if compact:
        return prefix.upper() + compact.group(1)
    number = normalize_digits(text, digits)
    return prefix.upper() + number if number else None


def normalize_name(text: str) -> str | None:
    """A person's name from an answer like "it's jon s m y t h" -> "Jon Smyth"."""
    tokens = tokenize(text)
    found = drop_corrected(find_names(tokens, bare=True), tokens)
    return found[-1].value if found else None
