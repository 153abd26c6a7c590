"""Recorded calls: the JSONL recorder a live call writes, the reader that replays validate, and the SQLite
index that finds and summarises them.

The recorder appends one event a line and flushes each line, so a crash loses at most the line being
written and never corrupts earlier ones. The reader never stops at a bad line: it reports `file:line: what`.
The JSONL recordings stay the source of truth; the index can be rebuilt from them. SQLite is blocking, so
every index statement runs on one dedicated thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicerouter import events as ev
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

    def abandon(self) -> None:
        """Close after a write error without trying the failed write again (its bytes are given up)."""
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass


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


T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id    TEXT PRIMARY KEY,
    agent      TEXT NOT NULL,
    transport  TEXT NOT NULL,
    caller     TEXT NOT NULL DEFAULT '',
    started    TEXT NOT NULL,
    ended      TEXT,
    end_reason TEXT,
    turns      INTEGER NOT NULL DEFAULT 0,
    cost_usd   REAL NOT NULL DEFAULT 0,
    routes     TEXT NOT NULL DEFAULT '[]',
    path       TEXT NOT NULL,
    recording  TEXT NOT NULL DEFAULT 'ok'
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started);
"""
_COLUMNS = ("call_id", "agent", "transport", "caller", "started", "ended", "end_reason", "turns", "cost_usd",
            "routes", "path", "recording")  # fmt: skip
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS))


class RouteSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    turn_id: int
    tier: str
    model: str


class CallRow(BaseModel):
    """One call as `/calls` lists it; `ended` is None while the call is in progress (or was cut off)."""

    model_config = ConfigDict(frozen=True)
    call_id: str
    agent: str
    transport: str
    caller: str = ""
    started: str
    ended: str | None = None
    end_reason: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    routes: list[RouteSummary] = Field(default_factory=list)
    path: str
    recording: Literal["ok", "failed"] = "ok"  # failed: a write error stopped it, the call went on


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def summarise_events(events: list[ev.Event]) -> dict[str, Any]:
    """What the index keeps of a call's events: turns, cost, end and the route of every turn."""
    summary: dict[str, Any] = {"routes": []}
    for event in events:
        if isinstance(event, ev.RouteDecided):
            summary["routes"].append(RouteSummary(turn_id=event.turn_id, tier=event.tier, model=event.model))
        elif isinstance(event, ev.CallEnded):
            summary.update(turns=event.turns, cost_usd=event.cost_usd, end_reason=event.reason)
    return summary


class CallStore:
    """Index rows are written when a call starts and completed when it ends, so live calls are listed too."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callstore")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_connection, fn)

    def _with_connection(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            _add_missing_columns(conn)
            self._conn = conn
        with self._conn:
            return fn(self._conn)

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)

    async def call_started(self, row: CallRow) -> None:
        values = _to_db(row)
        await self._run(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO calls ({', '.join(_COLUMNS)}) VALUES ({_PLACEHOLDERS})",
                values,
            )
        )

    async def call_ended(
        self,
        call_id: str,
        *,
        turns: int,
        cost_usd: float,
        end_reason: str,
        routes: list[RouteSummary],
        recording: str = "ok",
        ended: str | None = None,
    ) -> None:
        routes_json = json.dumps([r.model_dump() for r in routes])
        values = (ended or utc_now(), end_reason, turns, cost_usd, routes_json, recording, call_id)
        await self._run(
            lambda conn: conn.execute(
                "UPDATE calls SET ended = ?, end_reason = ?, turns = ?, cost_usd = ?, routes = ?, "
                "recording = ? WHERE call_id = ?",
                values,
            )
        )

    async def list_calls(self, *, limit: int = 100, offset: int = 0) -> list[CallRow]:
        def query(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM calls ORDER BY started DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
            return cursor.fetchall()

        return [_from_db(r) for r in await self._run(query)]

    async def open_calls(self) -> list[CallRow]:
        """Rows without an end: calls in progress, or, at start, calls a crash cut off."""

        def query(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            sql = f"SELECT {', '.join(_COLUMNS)} FROM calls WHERE ended IS NULL ORDER BY started"
            return conn.execute(sql).fetchall()

        return [_from_db(r) for r in await self._run(query)]

    async def get_call(self, call_id: str) -> CallRow | None:
        def query(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            row: tuple[Any, ...] | None = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM calls WHERE call_id = ?", (call_id,)
            ).fetchone()
            return row

        row = await self._run(query)
        return _from_db(row) if row is not None else None

    async def index_directory(self, directory: str | Path) -> int:
        """Add recordings the index does not know (written by another process, or before a crash)."""
        known = {row.call_id for row in await self.list_calls(limit=1_000_000)}
        found = await asyncio.to_thread(lambda: sorted(Path(directory).glob("*.jsonl")))
        paths = [p for p in found if p.stem not in known]
        added = 0
        for path in paths:
            row = await asyncio.to_thread(_row_from_recording, path)
            if row is not None:
                await self.call_started(row)
                added += 1
        return added


def _row_from_recording(path: Path) -> CallRow | None:
    recording = read_recording(path)
    started = next((e for e in recording.events if isinstance(e, ev.CallStarted)), None)
    if started is None:
        return None
    summary = summarise_events(recording.events)
    # The file was last written at the call's last event: its start lies that event's t_ms earlier.
    last_written = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    started_at = last_written - dt.timedelta(milliseconds=recording.events[-1].t_ms)
    mtime = last_written.isoformat(timespec="milliseconds")
    return CallRow(
        call_id=started.call_id,
        agent=started.agent,
        transport=started.transport,
        caller=started.caller,
        started=started_at.isoformat(timespec="milliseconds"),
        ended=mtime if "end_reason" in summary else None,
        end_reason=summary.get("end_reason"),
        turns=summary.get("turns", 0),
        cost_usd=summary.get("cost_usd", 0.0),
        routes=summary["routes"],
        path=str(path),
    )


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Indexes written by an older version lack newer columns; add them with their defaults."""
    present = {info[1] for info in conn.execute("PRAGMA table_info(calls)")}
    if "recording" not in present:
        conn.execute("ALTER TABLE calls ADD COLUMN recording TEXT NOT NULL DEFAULT 'ok'")


def _to_db(row: CallRow) -> tuple[Any, ...]:
    data = row.model_dump()
    data["routes"] = json.dumps(data["routes"])
    return tuple(data[c] for c in _COLUMNS)


def _from_db(values: tuple[Any, ...]) -> CallRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    data["routes"] = json.loads(data["routes"] or "[]")
    return CallRow.model_validate(data)
