"""Recorded calls: the JSONL recorder a live call writes, and the reader that replays validate.

The recorder appends one event a line and flushes each line, so a crash loses at most the line being
written and never corrupts earlier ones. The reader never stops at a bad line: it reports `file:line: what`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from voicerouter.events import Event, Label, dump_event, parse_event


class CallRecorder:
    """Appends a call's events to `<dir>/<call_id>.jsonl` as they happen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    @classmethod
    def in_dir(cls, directory: str | Path, call_id: str) -> CallRecorder:
        return cls(Path(directory) / f"{call_id}.jsonl")

    def write(self, item: Event | Label) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path}: recorder is closed")
        self._file.write(dump_event(item) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


@dataclass
class Recording:
    path: Path
    events: list[Event] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def call_id(self) -> str:
        return self.events[0].call_id if self.events else self.path.stem


def _describe(exc: ValidationError, kind: str) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    if loc and loc[0] == kind:  # the union's tag adds nothing to "bad <kind> event"
        loc = loc[1:]
    where = ".".join(str(p) for p in loc)
    return f"{where}: {err['msg']}" if where else err["msg"]


def read_recording(path: str | Path) -> Recording:
    """Every valid line of a recording; each invalid one becomes an error naming its file and line."""
    path = Path(path)
    recording = Recording(path=path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                recording.errors.append(f"{path}:{lineno}: not JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(raw, dict):
                recording.errors.append(f"{path}:{lineno}: expected a JSON object, got {type(raw).__name__}")
                continue
            try:
                if raw.get("type") == "label":
                    recording.labels.append(Label.model_validate(raw))
                else:
                    recording.events.append(parse_event(raw))
            except ValidationError as exc:
                kind = str(raw.get("type", "?"))
                recording.errors.append(f"{path}:{lineno}: bad {kind} event: {_describe(exc, kind)}")
    return recording


def find_recordings(paths: list[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively for *.jsonl, in a stable order."""
    found: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.jsonl")))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return found
