"""A caller's side of a call, as the simulator plays it: turns, timing, barge-ins, labels and faults.

Built from a recorded call (the user side of its events) or from a scenario file. Loading never stops at a
bad line or a bad scenario: it reports `file:line: what` or `file: key: what` and carries on.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.faults import Faults
from voicerouter import events as ev
from voicerouter.events import Label
from voicerouter.store import read_recording

WORDS_PER_SECOND = 2.6  # unhurried phone speech


class UserTurn(BaseModel):
    """What the caller says next, or (`silence_ms`, no text) how long the caller says nothing. A silent turn
    is not a turn of the call: labels and fault turn numbers count only the turns where the caller speaks."""

    model_config = ConfigDict(extra="forbid")
    text: str = ""
    gap_ms: float = Field(default=700.0, ge=0, description="silence after the agent finished")
    speech_ms: float | None = Field(default=None, gt=0)
    silence_ms: float | None = Field(default=None, gt=0, description="a silent turn: says nothing this long")
    barge_in_at_ms: float | None = Field(default=None, gt=0, description="talks over the previous answer")
    label: Label | None = None

    @model_validator(mode="after")
    def _spoken_or_silent(self) -> UserTurn:
        if self.silence_ms is None and not self.text.strip():
            raise ValueError("a turn needs words to say, or silence_ms for a silent caller")
        if self.silence_ms is not None and (self.text or self.label is not None or self.barge_in_at_ms):
            raise ValueError("a silent turn (silence_ms) has no words, label or barge-in")
        return self

    @property
    def silent(self) -> bool:
        return self.silence_ms is not None

    def duration_ms(self) -> float:
        if self.silence_ms is not None:
            return self.silence_ms
        return self.speech_ms or max(400.0, len(self.text.split()) / WORDS_PER_SECOND * 1000)


class CallScript(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str
    agent: str
    caller: str = ""
    turns: list[UserTurn]
    faults: Faults = Faults()
    source: str = ""

    def spoken_turns(self) -> list[UserTurn]:
        """The turns where the caller speaks: the call's turns 1, 2, ... in order."""
        return [t for t in self.turns if not t.silent]

    def labels(self) -> dict[int, Label]:
        """Labels by the call's turn number (silent turns are not numbered)."""
        return {i: t.label for i, t in enumerate(self.spoken_turns(), start=1) if t.label is not None}


class ScriptError(Exception):
    pass


def script_from_recording(path: str | Path) -> tuple[CallScript | None, list[str]]:
    """The user side of a recorded call; errors name the file and line (bad lines are skipped)."""
    recording = read_recording(path)
    errors = list(recording.errors)
    started = next((e for e in recording.events if isinstance(e, ev.CallStarted)), None)
    if started is None:
        errors.append(f"{path}: no call.started event: not a recorded call")
        return None, errors
    labels = {label.turn: label for label in recording.labels}
    faults = Faults()
    recorded = next((e for e in recording.events if isinstance(e, ev.SimFaults)), None)
    if recorded is not None:
        try:
            faults = Faults.model_validate(recorded.spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            errors.append(f"{path}: sim.faults: {where}: {err['msg']} (replayed without faults)")
    turns: list[UserTurn] = []
    speech_start: float | None = None
    agent_end_ms = 0.0
    answer_start_ms: float | None = None
    interrupted_since_last = False
    for event in recording.events:
        if isinstance(event, ev.UserSpeechStarted):
            speech_start = event.t_ms
        elif isinstance(event, ev.AgentText) and answer_start_ms is None:
            answer_start_ms = event.t_ms
        elif isinstance(event, ev.TurnInterrupted):
            interrupted_since_last = True
        elif isinstance(event, ev.TurnCompleted | ev.AgentAudioStopped):
            agent_end_ms = max(agent_end_ms, event.t_ms)
        elif isinstance(event, ev.UserTranscript) and event.final and event.text.strip():
            start = speech_start if speech_start is not None else max(agent_end_ms, event.t_ms - 1500)
            turn = UserTurn(
                text=event.text,
                gap_ms=max(0.0, start - agent_end_ms) if not interrupted_since_last else 700.0,
                speech_ms=max(200.0, event.t_ms - start) if speech_start is not None else None,
                label=labels.get(len(turns) + 1),
            )
            if interrupted_since_last and answer_start_ms is not None and turns:
                turn.barge_in_at_ms = max(1.0, start - answer_start_ms)
            turns.append(turn)
            speech_start, answer_start_ms, interrupted_since_last = None, None, False
            agent_end_ms = event.t_ms
    if not turns:
        errors.append(f"{path}: no final user transcript: nothing to replay")
        return None, errors
    script = CallScript(
        call_id=started.call_id,
        agent=started.agent,
        caller=started.caller,
        turns=turns,
        faults=faults,
        source=str(path),
    )
    return script, errors


class ScenarioTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    say: str | None = Field(min_length=1, description="null: the caller says nothing for silence_ms")
    gap_ms: float = 700.0
    speech_ms: float | None = None
    silence_ms: float | None = None
    barge_in_at_ms: float | None = None
    expect: dict[str, Any] | None = Field(
        default=None, description="label fields: tier, tool, refusal, unavailable"
    )


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    agent: str
    description: str = ""
    caller: str = "scenario"
    turns: list[ScenarioTurn] = Field(min_length=1)
    faults: Faults = Faults()


def script_from_scenario(path: str | Path) -> CallScript:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot read scenario: {exc}") from exc
    try:
        scenario = Scenario.model_validate(raw)
        turns = []
        spoken = 0
        for index, t in enumerate(scenario.turns):
            if t.say is None and t.silence_ms is None:
                raise ScriptError(
                    f"{path}: turns.{index}: say: null needs silence_ms (how long it is silent)"
                )
            spoken += t.say is not None
            label = None
            if t.expect is not None:
                if t.say is None:
                    raise ScriptError(f"{path}: turns.{index}: expect: a silent turn has nothing to label")
                label = Label.model_validate({"turn": spoken, **t.expect})
            turns.append(
                UserTurn(
                    text=t.say or "",
                    gap_ms=t.gap_ms,
                    speech_ms=t.speech_ms,
                    silence_ms=t.silence_ms if t.say is None else None,
                    barge_in_at_ms=t.barge_in_at_ms,
                    label=label,
                )
            )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ScriptError(f"{path}: {where}: {err['msg']}") from exc
    return CallScript(
        call_id=f"scenario-{scenario.name}",
        agent=scenario.agent,
        caller=scenario.caller,
        turns=turns,
        faults=scenario.faults,
        source=str(path),
    )
