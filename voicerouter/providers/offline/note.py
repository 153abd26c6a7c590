"""Reads the note that stands for the trimmed start of a long call, for the offline model.

A long call's history is cut and its start folded into one note (voicerouter/engine/history.py) listing the
tool calls made and their results. The note is not the caller speaking: it is read back as tool facts, never
as words to understand, and a result cut short in the note is dropped rather than guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NOTE_START = "[Earlier in this call, trimmed for length."
_RESULTS_START = "Tool results from then: "
_SEPARATOR = " | "


@dataclass(frozen=True)
class NotedCall:
    """One tool call the note lists: its name, its arguments and what the tool answered (maybe cut short)."""

    tool: str
    args: dict[str, Any]
    content: str
    complete: bool


def is_history_note(text: str) -> bool:
    """Whether a user message is the note that stands in for the trimmed start of a long call."""
    return text.startswith(NOTE_START)


def read_history_note(text: str) -> list[NotedCall]:
    """The calls listed in a history note, in order; an unreadable entry is skipped."""
    _, found, rest = text.partition(_RESULTS_START)
    if not found:
        return []
    calls: list[NotedCall] = []
    decoder = json.JSONDecoder()
    for entry in rest.split(_SEPARATOR):
        name, paren, tail = entry.partition("(")
        if not paren or not name.strip().isidentifier():
            continue
        try:
            args, end = decoder.raw_decode(tail)
        except json.JSONDecodeError:
            continue
        content = tail[end:].removeprefix(") -> ")
        if not isinstance(args, dict) or content == tail[end:]:
            continue
        calls.append(NotedCall(name.strip(), args, content, _complete(content)))
    return calls


def _complete(content: str) -> bool:
    """Whether a result survived the note whole: an error line, or JSON that still parses."""
    if content.startswith("ERROR:"):
        return True
    try:
        json.loads(content)
    except json.JSONDecodeError:
        return False
    return True
