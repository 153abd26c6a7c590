"""The labelled caller turns the tier classifier is trained and scored on: single utterances with a context
(`data/utterances.jsonl`) and multi-turn cases with the history before them (`data/multiturn.jsonl`).

Loading validates every line and names the file and line at fault; it never trains, scores or rewrites data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicerouter.events import Tier
from voicerouter.router.features import TurnContext

DATA_DIR = Path(__file__).resolve().parent / "data"
UTTERANCES_PATH = DATA_DIR / "utterances.jsonl"
MULTITURN_PATH = DATA_DIR / "multiturn.jsonl"

Split = Literal["train", "test"]


class DatasetError(Exception):
    """A labelled-data file that cannot be used, with the path and line at fault."""


class ContextFields(BaseModel):
    """The optional `context` of a labelled line: the fields of `TurnContext`, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    previous_tier: Tier | None = None
    agent_asked_question: bool = False
    pending_slot: str | None = None
    retries: int = Field(default=0, ge=0)
    turn_index: int = Field(default=0, ge=0)
    agent: str | None = None

    def to_turn_context(self) -> TurnContext:
        return TurnContext(**self.model_dump())


class LabelledUtterance(BaseModel):
    """One caller turn as an ASR transcript shows it, with the tier that should serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    tier: Tier
    agent: Literal["clinic", "helpdesk", "any"]
    context: ContextFields = Field(default_factory=ContextFields)
    split: Split

    def turn_context(self) -> TurnContext:
        return self.context.to_turn_context()


class HistoryEntry(BaseModel):
    """One earlier message of the call: who said it and what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["agent", "user"]
    text: str


class MultiTurnCase(BaseModel):
    """A caller turn whose tier depends on the turns before it, with the history that leads up to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    agent: Literal["clinic", "helpdesk", "any"]
    history: tuple[HistoryEntry, ...] = ()
    text: str = Field(min_length=1)
    tier: Tier
    category: str = ""
    note: str = ""
    split: Split = "test"

    def history_pairs(self) -> list[tuple[str, str]]:
        return [(h.role, h.text) for h in self.history]


def load_multiturn(path: Path = MULTITURN_PATH, split: Split | None = None) -> list[MultiTurnCase]:
    """Every multi-turn case of `path` (or only those of `split`; a line without one counts as test)."""
    rows: list[MultiTurnCase] = []
    for number, data in _json_lines(path):
        try:
            row = MultiTurnCase.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise DatasetError(f"{path}:{number}: {where}: {err['msg']}") from exc
        if split is None or row.split == split:
            rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no multi-turn cases" + (f" in split {split!r}" if split else ""))
    return rows


def _json_lines(path: Path) -> list[tuple[int, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read labelled data: {exc.strerror or exc}") from exc
    out: list[tuple[int, object]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    return out


def load_utterances(path: Path = UTTERANCES_PATH, split: Split | None = None) -> list[LabelledUtterance]:
    """Every labelled line of `path` (or only those of `split`), in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read labelled utterances: {exc.strerror or exc}") from exc
    rows: list[LabelledUtterance] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = LabelledUtterance.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise DatasetError(f"{path}:{number}: {where}: {err['msg']}") from exc
        if split is None or row.split == split:
            rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no labelled utterances" + (f" in split {split!r}" if split else ""))
    return rows
