"""Spoken dates to ISO: "march third", "the fifth", "next tuesday", "tomorrow", "3rd of march 1984".

Relative dates resolve against a `today` the caller passes in; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import re

from voicerouter.providers.offline.nlp.corrections import correction_points
from voicerouter.providers.offline.nlp.words import (
    UNITS,
    ZERO_WORDS,
    Mention,
    Token,
    ordinal_at,
    small_number_at,
    tokenize,
)

MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
WEEKDAYS = {  # and their plurals ("just saturdays"), added below
    "monday": 0,
    "tuesday": 1,
    "tues": 1,
    "wednesday": 2,
    "weds": 2,
    "thursday": 3,
    "thurs": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
WEEKDAYS.update({f"{name}s": day for name, day in list(WEEKDAYS.items()) if name.endswith("day")})
BIRTH_CUES = {"born", "birth", "birthday", "dob", "birthdate"}
_AMBIGUOUS_BARE_ORDINALS = {1, 2}  # "first", "second" are ordinary words unless "the" or a month is near
_DAY_MAY_PRECEDE = {
    "of",
    "at",
    "in",
    "for",
    "please",
    "then",
    "and",
    "or",
    "no",
    "sorry",
    "instead",
    "would",
    "works",
    "is",
    "around",
    "after",
    "before",
    "if",
    "that",
    "with",
    "morning",
    "afternoon",
}
_NOT_A_DAY_AFTER = {
    "floor",
    "time",
    "times",
    "grade",
    "party",
    "person",
    "name",
    "option",
    "one",
    "place",
    "row",
    "quarter",
    "half",
    "thing",
    "step",
    "visit",
    "appointment",
    "letter",
    "line",
    "door",
}


def find_dates(text: str | list[Token], today: dt.date) -> list[Mention]:
    """Every date said in `text`, in order; flags: `year` (said explicitly), `birth` (a birth cue is near)."""
    tokens = tokenize(text) if isinstance(text, str) else text
    found: list[Mention] = []
    i = 0
    while i < len(tokens):
        parsed = _date_at(tokens, i, today)
        if parsed is None:
            i += 1
            continue
        day, end, flags = parsed
        window = {t.text for t in tokens[max(0, i - 6) : i]}
        if window & BIRTH_CUES:
            flags = flags | {"birth"}
        found.append(Mention("date", day.isoformat(), i, end, frozenset(flags)))
        i = end
    return _carry_month_into_corrections(found, tokens)


def _carry_month_into_corrections(found: list[Mention], tokens: list[Token]) -> list[Mention]:
    """ "january fifth, no sorry the sixth" means January 6th: a corrected day keeps the month said."""
    points = correction_points(tokens)
    out = list(found)
    for k in range(1, len(out)):
        said, fixed = out[k - 1], out[k]
        if "day_only" not in fixed.flags or "day_only" in said.flags:
            continue
        if not any(said.end <= start and end <= fixed.start for start, end in points):
            continue
        moved = _safe_date(int(said.value[:4]), int(said.value[5:7]), int(fixed.value[8:]))
        if moved is not None:
            out[k] = Mention("date", moved.isoformat(), fixed.start, fixed.end, said.flags)
    return out


def _date_at(tokens: list[Token], i: int, today: dt.date) -> tuple[dt.date, int, set[str]] | None:
    word = tokens[i].text
    nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        day = _safe_date(int(word[:4]), int(word[5:7]), int(word[8:]))
        return (day, i + 1, {"year"}) if day else None
    slashed = re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", word)
    if slashed:
        year = _pivot_year(int(slashed.group(3)), today) if slashed.group(3) else None
        return _month_day(int(slashed.group(1)), int(slashed.group(2)), year, today, i + 1)
    if word in {"today", "tonight"}:
        return today, i + 1, set()
    if word == "tomorrow":
        return today + dt.timedelta(days=1), i + 1, set()
    if word == "day" and nxt == "after" and i + 2 < len(tokens) and tokens[i + 2].text == "tomorrow":
        return today + dt.timedelta(days=2), i + 3, set()
    if word == "in":
        return _in_n_days(tokens, i + 1, today)
    if word in MONTHS and (word != "may" or _day_follows(tokens, i + 1)):
        return _after_month(tokens, i, today)
    if word in WEEKDAYS or (word in {"next", "this", "coming", "following"} and nxt in WEEKDAYS):
        return _weekday(tokens, i, today)
    return _day_first(tokens, i, today)


def _day_follows(tokens: list[Token], j: int) -> bool:
    if j < len(tokens) and tokens[j].text == "the":
        j += 1
    return ordinal_at(tokens, j) is not None or small_number_at(tokens, j, max_value=31) is not None


def _after_month(tokens: list[Token], i: int, today: dt.date) -> tuple[dt.date, int, set[str]] | None:
    month = MONTHS[tokens[i].text]
    j = i + 1
    if j < len(tokens) and tokens[j].text == "the":
        j += 1
    day = ordinal_at(tokens, j) or small_number_at(tokens, j, max_value=31)
    if day is None:
        return None
    year = _year_at(tokens, day[1], today)
    if year is None:
        return _month_day(month, day[0], None, today, day[1])
    return _month_day(month, day[0], year[0], today, year[1])


def _day_first(tokens: list[Token], i: int, today: dt.date) -> tuple[dt.date, int, set[str]] | None:
    """ "the third of march", "3rd march", "the fifth", "on the 12th"."""
    lead = i + 1 if tokens[i].text in {"the", "on"} else i
    if lead < len(tokens) and tokens[lead].text == "the":
        lead += 1
    ordinal = ordinal_at(tokens, lead)
    if ordinal is None:
        return None
    value, j = ordinal
    after_of = j + 1 if j < len(tokens) and tokens[j].text == "of" else j
    if after_of < len(tokens) and tokens[after_of].text in MONTHS:
        month = MONTHS[tokens[after_of].text]
        year = _year_at(tokens, after_of + 1, today)
        if year is None:
            return _month_day(month, value, None, today, after_of + 1)
        return _month_day(month, value, year[0], today, year[1])
    following = tokens[j].text if j < len(tokens) else ""
    if following in _NOT_A_DAY_AFTER:
        return None
    said_the = lead > i
    if value in _AMBIGUOUS_BARE_ORDINALS and following and following not in _DAY_MAY_PRECEDE:
        return None
    if value in _AMBIGUOUS_BARE_ORDINALS and not said_the and not tokens[lead].text[0].isdigit():
        return None
    day = _next_day_of_month(value, today)
    return (day, j, {"day_only"}) if day else None


def _weekday(tokens: list[Token], i: int, today: dt.date) -> tuple[dt.date, int, set[str]] | None:
    modifier = ""
    j = i
    if tokens[j].text in {"next", "this", "coming", "following"}:
        modifier = tokens[j].text
        j += 1
    target = WEEKDAYS[tokens[j].text]
    j += 1
    if j + 1 < len(tokens) and tokens[j].text == "the" and ordinal_at(tokens, j + 1):
        value, end = ordinal_at(tokens, j + 1) or (0, 0)
        rest = tokens[end + 1].text if end < len(tokens) and tokens[end].text == "of" else ""
        if end < len(tokens) and (tokens[end].text in MONTHS or rest in MONTHS):
            return _day_first(tokens, j, today)  # "friday the third of march"
        day = _next_day_of_month(value, today)
        return (day, end, set()) if day else None
    ahead = (target - today.weekday()) % 7
    if modifier == "this":
        days = ahead
    elif modifier == "following":  # "the following monday": the one after the coming one
        days = (ahead or 7) + 7
    else:
        days = ahead or 7
    if j + 1 < len(tokens) and tokens[j].text == "next" and tokens[j + 1].text == "week":
        monday_next = today + dt.timedelta(days=7 - today.weekday())
        return monday_next + dt.timedelta(days=target), j + 2, set()
    if j + 1 < len(tokens) and tokens[j].text == "after" and tokens[j + 1].text == "next":
        return today + dt.timedelta(days=days + 7), j + 2, set()
    return today + dt.timedelta(days=days), j, set()


def _in_n_days(tokens: list[Token], j: int, today: dt.date) -> tuple[dt.date, int, set[str]] | None:
    if j < len(tokens) and tokens[j].text in {"a", "one"}:
        count, k = 1, j + 1
    else:
        parsed = small_number_at(tokens, j, max_value=60)
        if parsed is None:
            return None
        count, k = parsed
    if k >= len(tokens) or tokens[k].text not in {"day", "days", "week", "weeks"}:
        return None
    scale = 7 if tokens[k].text.startswith("week") else 1
    return today + dt.timedelta(days=count * scale), k + 1, set()


def _year_at(tokens: list[Token], j: int, today: dt.date) -> tuple[int, int] | None:
    """ "1984", "nineteen eighty four", "twenty oh five", "two thousand and five", "eighty four"."""
    if j >= len(tokens):
        return None
    word = tokens[j].text
    if word.isdigit() and len(word) == 4 and 1900 <= int(word) <= 2100:
        return int(word), j + 1
    if word.isdigit() and len(word) == 2:
        return _pivot_year(int(word), today), j + 1
    if word == "two" and j + 1 < len(tokens) and tokens[j + 1].text == "thousand":
        k = j + 2
        if k < len(tokens) and tokens[k].text == "and":
            k += 1
        rest = small_number_at(tokens, k)
        return (2000 + rest[0], rest[1]) if rest else (2000, k)
    century = small_number_at(tokens, j)
    if century is None:
        return None
    head, k = century
    if head in {19, 20} and k < len(tokens):
        if tokens[k].text in ZERO_WORDS:
            unit = small_number_at(tokens, k + 1, max_value=9)
            if unit:
                return head * 100 + unit[0], unit[1]
        if tokens[k].text == "hundred":
            return head * 100, k + 1
        tail = small_number_at(tokens, k)
        if tail and 13 <= tail[0] <= 19 and tail[1] < len(tokens) and UNITS.get(tokens[tail[1]].text, 0) > 0:
            # "nineteen seventeen nine": no year reads so; a recogniser wrote -teen for -ty (1979)
            return head * 100 + (tail[0] - 10) * 10 + UNITS[tokens[tail[1]].text], tail[1] + 1
        if tail and tail[0] >= 10:
            return head * 100 + tail[0], tail[1]
    if head >= 10 and tokens[j].text not in {"ten", "eleven", "twelve"}:
        return _pivot_year(head, today), k
    return None


def _pivot_year(two_digits: int, today: dt.date) -> int:
    if two_digits >= 100:
        return two_digits
    return 2000 + two_digits if two_digits <= today.year % 100 else 1900 + two_digits


def _month_day(
    month: int, day: int, year: int | None, today: dt.date, end: int
) -> tuple[dt.date, int, set[str]] | None:
    if year is not None:
        found = _safe_date(year, month, day)
        return (found, end, {"year"}) if found else None
    found = _safe_date(today.year, month, day)
    if found is not None and found < today:
        found = _safe_date(today.year + 1, month, day)
    return (found, end, set()) if found else None


def _next_day_of_month(value: int, today: dt.date) -> dt.date | None:
    """The first date on or after today whose day of the month is `value`."""
    year, month = today.year, today.month
    for _ in range(13):
        found = _safe_date(year, month, value)
        if found is not None and found >= today:
            return found
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
