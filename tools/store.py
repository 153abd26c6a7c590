"""Shared helpers of the bundled tools: data loading, canonical argument types, refusals with a field name.

Data files load once per process and every call gets its own deep copy; nothing here reads the wall clock.
"""

from __future__ import annotations

import datetime as dt
import json
import marshal
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from voicerouter.toolkit import Tool

DATA_DIR = Path(__file__).resolve().parent / "data"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@cache
def _snapshot(name: str) -> bytes:
    """`tools/data/<name>.json` parsed once, kept in marshal form: the same values in the same key order,
    and a fresh copy from it costs about half a JSON parse."""
    return marshal.dumps(json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8")))


def load_data(name: str) -> dict[str, Any]:
    """A private copy of `tools/data/<name>.json`: read from disk once per process, copied per call."""
    data: dict[str, Any] = marshal.loads(_snapshot(name))
    return data


def normalize_name(text: str) -> str:
    """Lower-case ASCII words only, so `Anne-Marie O'Brien` and `anne marie obrien` compare equal."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    folded = folded.replace("'", "").replace("’", "")
    words = re.findall(r"[a-z0-9]+", folded)
    titles = {"dr", "doctor", "mr", "mrs", "ms", "miss", "np", "nurse", "practitioner"}
    return " ".join(w for w in words if w not in titles)


def _iso_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"expected a calendar date as YYYY-MM-DD, got {value!r}") from None


def _clock_time(value: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"expected a 24-hour time as HH:MM, got {value!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


IsoDate = Annotated[
    str,
    BeforeValidator(_strip),
    AfterValidator(_iso_date),
    Field(json_schema_extra={"format": "date"}, examples=["2026-12-03"]),
]
ClockTime = Annotated[
    str, BeforeValidator(_strip), AfterValidator(_clock_time), Field(examples=["09:30", "14:00"])
]


class ToolArgs(BaseModel):
    """Base of tool arguments: unknown fields are an error, numbers given for ids are read as text."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)


class ToolResult(BaseModel):
    """Base of tool results: plain JSON the model reads back."""

    model_config = ConfigDict(frozen=True)


def make_tool(
    name: str, description: str, args_model: type[BaseModel], handler: Any, *, timeout_ms: int
) -> Tool:
    return Tool(name, description, args_model, handler, timeout_ms=timeout_ms)


def prefixed_id(prefix: str) -> Any:
    """A before-validator that reads `p1001`, `1001` or 1001 as `P1001`: ids arrive spoken and typed."""

    def normalize(value: Any) -> Any:
        if isinstance(value, int):
            value = str(value)
        if not isinstance(value, str):
            return value
        compact = re.sub(r"[\s#-]", "", value).upper()
        if compact.isdigit():
            compact = prefix + compact
        return compact

    return BeforeValidator(normalize)


def weekday_name(day: dt.date) -> str:
    return WEEKDAYS[day.weekday()].capitalize()


def spoken_clock(hhmm: str) -> str:
    """`09:30` -> `9:30 am`, `12:00` -> `noon`: for sentences a voice reads out."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    if (hour, minute) == (12, 0):
        return "noon"
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown} {suffix}" if minute == 0 else f"{shown}:{minute:02d} {suffix}"


def join_words(items: list[str], last: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"
