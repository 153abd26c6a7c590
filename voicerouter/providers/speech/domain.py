"""What callers of one agent are likely to say, as spoken-form phrases, for biasing a speech recogniser.

It reads the routing utterance corpus and the agent's bundled data set if they exist; it never fails for a
missing source (an agent without data still gets generic numbers, dates and times) and never writes files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from voicerouter.providers.speech.spoken import (
    MONTHS,
    WEEKDAYS,
    date_words,
    number_words,
    ordinal_words,
    spoken_words,
    time_words,
)

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # voicerouter/
UTTERANCES_PATH = _PACKAGE_DIR / "router" / "data" / "utterances.jsonl"
TOOLS_DATA_DIR = _PACKAGE_DIR.parent / "tools" / "data"
SHARED_AGENT = "any"  # utterances every agent hears: greetings, yes/no, thanks

# Keys whose string values are what a caller says or hears about a record. Free-text fields (summaries,
# reasons, notes) carry the domain's vocabulary; codes, emails and URLs do not.
_SKIPPED_KEYS = {"email", "self_service", "url", "status", "priority", "category", "by", "created", "updated",
                 "date", "time", "since", "today", "patient_id", "provider_id", "employee_id"}  # fmt: skip
_NAME_PAIRS = (("first_name", "last_name"),)


def domain_phrases(
    agent_name: str,
    *,
    splits: Collection[str] | None = None,
    utterances_path: Path = UTTERANCES_PATH,
    data_dir: Path = TOOLS_DATA_DIR,
) -> list[str]:
    """Spoken-form phrases for `agent_name`: its utterances and the shared ones, its data set's names and
    vocabulary, and generic numbers, dates and times. Order is stable and duplicates are removed.

    `splits` keeps only utterances of those corpus splits (e.g. {"train"} to measure on "test").
    """
    phrases: list[str] = []
    phrases.extend(_utterances(agent_name, utterances_path, splits))
    phrases.extend(_data_phrases(data_dir / f"{agent_name}.json"))
    phrases.extend(generic_phrases())
    seen: set[str] = set()
    unique = []
    for phrase in phrases:
        text = " ".join(phrase.split())
        if text and text not in seen:
            seen.add(text)
            unique.append(text)
    return unique


def generic_phrases() -> list[str]:
    """Numbers, dates, times and days in the forms callers use on the phone, for any agent."""
    phrases = [number_words(n) for n in range(0, 101)]
    phrases.append(" ".join(number_words(n) for n in range(10)))
    phrases.extend(f"the {ordinal_words(day)}" for day in range(1, 32))
    # Each month once with a different day: enough for month -> ordinal bigrams without swamping the model.
    phrases.extend(f"{MONTHS[(day - 1) % 12]} {ordinal_words(day)}" for day in range(1, 32))
    phrases.extend(f"on {weekday}" for weekday in WEEKDAYS)
    phrases.extend(f"next {weekday} morning" for weekday in WEEKDAYS)
    for hour in range(1, 13):
        phrases.append(f"at {time_words(hour, 0)}")
        phrases.append(f"{time_words(hour, 30)} in the {'morning' if 7 <= hour <= 11 else 'afternoon'}")
        phrases.append(f"{number_words(hour)} fifteen")
        phrases.append(f"{number_words(hour)} forty five")
        phrases.append(f"{number_words(hour)} {'a m' if 7 <= hour <= 11 else 'p m'}")
    return phrases


def _utterances(agent_name: str, path: Path, splits: Collection[str] | None) -> Iterator[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.warning("domain phrases: utterance corpus %s unreadable (%s); skipping it", path, exc)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            log.warning("domain phrases: %s:%d is not JSON (%s); skipping it", path, number, exc)
            continue
        if record.get("agent") not in (agent_name, SHARED_AGENT):
            continue
        if splits is not None and record.get("split") not in splits:
            continue
        text = record.get("text")
        if isinstance(text, str):
            yield " ".join(spoken_words(text))


def _data_phrases(path: Path) -> list[str]:
    """Names and free text of the agent's bundled records; an absent file is normal (no data set)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("domain phrases: data set %s unreadable (%s); skipping it", path, exc)
        return []
    phrases: list[str] = []
    for record in _records(data):
        phrases.extend(_record_phrases(record))
    return phrases


def _records(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _records(child)
    elif isinstance(value, list):
        for child in value:
            yield from _records(child)


def _record_phrases(record: dict[str, Any]) -> list[str]:
    phrases: list[str] = []
    for first_key, last_key in _NAME_PAIRS:
        first, last = record.get(first_key), record.get(last_key)
        if isinstance(first, str) and isinstance(last, str):
            full = " ".join(spoken_words(f"{first} {last}"))
            phrases.extend((full, f"my name is {full}", " ".join(last.lower())))
    birth = record.get("date_of_birth")
    if isinstance(birth, str):
        phrases.append(_birth_words(birth))
    for key, value in record.items():
        if key in _SKIPPED_KEYS or key in ("first_name", "last_name", "date_of_birth"):
            continue
        for text in _strings(value):
            if "@" not in text and "://" not in text:
                phrases.append(" ".join(spoken_words(text)))
    return phrases


def _strings(value: Any) -> Iterator[str]:
    """Strings directly under a key, or in a list of strings under it (nested records are walked apart)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _birth_words(iso_date: str) -> str:
    """Dates of birth are said with the year: "march twelfth nineteen eighty four"."""
    try:
        day = dt.date.fromisoformat(iso_date)
    except ValueError:
        return ""
    return f"{date_words(day)} {number_words(day.year)}"
