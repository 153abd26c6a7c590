"""What the per-call engine is fed (inputs) and what it asks its runtime to do (actions).

Plain immutable values: the engine never performs an action itself, so a live runtime and the simulator can
carry them out in real or virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicerouter.providers.base import ChatRequest, ProviderError, ToolCall, Usage
from voicerouter.toolkit import ToolOutcome

# ---- inputs from the caller's side (transports, chat, simulator) ----


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking (for audio: a confirmed barge-in when the agent is talking)."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    pass


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the caller said; a final transcript ends the caller's turn and starts the agent's."""

    text: str
    final: bool = True
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class PlaybackProgress:
    """The caller has now heard the first `heard_chars` characters the engine asked to speak in this turn."""

    turn_id: int
    heard_chars: int


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """Everything the engine asked to speak in this turn has been played."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: str = "caller hung up"


# ---- inputs from the runtime, answering actions ----


@dataclass(frozen=True, slots=True)
class ModelDelta:
    gen_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelProgress:
    """The model has started answering with something not yet deliverable (a tool call being written)."""

    gen_id: int


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    gen_id: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class ModelDone:
    gen_id: int
    usage: Usage


@dataclass(frozen=True, slots=True)
class ModelFailed:
    gen_id: int
    error: ProviderError


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_key: str
    outcome: ToolOutcome


Input = (
    SpeechStarted
    | SpeechStopped
    | Transcript
    | PlaybackProgress
    | PlaybackFinished
    | HangUp
    | ModelDelta
    | ModelProgress
    | ModelToolCall
    | ModelDone
    | ModelFailed
    | ToolFinished
)

# ---- actions for the runtime ----


@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Ask model `model` (a config name) for a streamed completion; answer with Model* inputs for `gen_id`."""

    gen_id: int
    turn_id: int
    model: str
    tier: str
    request: ChatRequest
    purpose: str = "answer"  # or "classify": the small model labels a low-confidence turn


@dataclass(frozen=True, slots=True)
class CancelGeneration:
    gen_id: int


@dataclass(frozen=True, slots=True)
class RunTool:
    call_key: str
    turn_id: int
    name: str
    args: dict[str, Any]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class CancelTool:
    call_key: str


@dataclass(frozen=True, slots=True)
class Speak:
    """Say this text next (appended to the turn's speech); text transports show it at once."""

    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class StopSpeaking:
    """Barge-in: drop whatever of this turn has not been played yet."""

    turn_id: int


Action = StartGeneration | CancelGeneration | RunTool | CancelTool | Speak | StopSpeaking
