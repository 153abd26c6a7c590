"""Log set-up: plain text or one JSON object per line, with the call and turn ids on every line of a call.

The ids travel in a context variable bound when a call starts, so every task the call starts inherits it and
no log call has to pass them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from voicerouter import events as ev

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(call)s: %(message)s"


class CallScope:
    """The ids of the call a line is logged in; the turn id follows the call's `turn.started` events."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.turn_id: int | None = None

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.TurnStarted):
            self.turn_id = event.turn_id


_scope: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar("voicerouter_call", default=None)


def bind_call(scope: CallScope) -> None:
    """Log lines of the current task, and of the tasks it starts from now on, belong to this call."""
    _scope.set(scope)


class CallIdsFilter(logging.Filter):
    """Puts `call_id` and `turn_id` on every record (None outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _scope.get()
        record.call_id = scope.call_id if scope else None
        record.turn_id = scope.turn_id if scope else None
        record.call = _text_ids(scope)
        return True


def _text_ids(scope: CallScope | None) -> str:
    if scope is None:
        return ""
    turn = f" turn {scope.turn_id}" if scope.turn_id is not None else ""
    return f" [{scope.call_id}{turn}]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, call_id, turn_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "call_id": getattr(record, "call_id", None),
            "turn_id": getattr(record, "turn_id", None),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(fmt: LogFormat = "text", level: int = logging.INFO) -> None:
    """The process's root handler on stderr in `fmt`; replaces handlers set before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CallIdsFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
