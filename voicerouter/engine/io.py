"""What the per-call engine is fed (inputs) and what it asks its runtime to do (actions).

Plain immutable values: the engine never performs an action itself, so a live runtime and the simulator can
carry them out in real or virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicerouter.providers.base import ChatMessage, ChatRequest, ProviderError, ToolCall, Usage
from voicerouter.toolkit import ToolOutcome

# ---- inputs from the caller's side (transports, chat, simulator) ----


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking (for audio: a confirmed barge-in when the agent is talking)."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The caller stopped speaking (their transcript may still follow)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the caller said; a final transcript ends the caller's turn and starts the agent's.

    `unrecognised`: the caller spoke but recognition failed (overloaded, engine error): the agent asks them
    to say it again instead of staying silent."""

    text: str
    final: bool = True
    confidence: float = 1.0
    unrecognised: bool = False
    audio_ms: float = 0.0  # length of the caller audio recognised (0 = unknown: estimated from the text)


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
    """The caller's side ended the call."""

    reason: str = "caller hung up"


# ---- inputs from the runtime, answering actions ----


@dataclass(frozen=True, slots=True)
class ModelDelta:
    """More text from generation `gen_id`."""

    gen_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelProgress:
    """The model has started answering with something not yet deliverable (a tool call being written)."""

    gen_id: int


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    """A complete tool call from generation `gen_id`."""

    gen_id: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class ModelDone:
    """Generation `gen_id` ended normally, with its token usage."""

    gen_id: int
    usage: Usage


@dataclass(frozen=True, slots=True)
class ModelFailed:
    """Generation `gen_id` failed; the engine falls back along the chain."""

    gen_id: int
    error: ProviderError


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """Tool call `call_key` returned (found, not found or failed)."""

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
# Commands travel only as actions: a runtime carries these out, and treats the engine's events as records.


@dataclass(frozen=True, slots=True)
class OpenTurn:
    """The agent's turn begins (the caller's words are final): the listener counts the caller as answered,
    the speech tier learns what was said. `history` is the conversation before this turn."""

    turn_id: int
    user_text: str
    history: tuple[ChatMessage, ...]


@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Ask model `model` (a config name) for a streamed completion; answer with Model* inputs for `gen_id`.

    A runtime that voices turns itself (the speech tier) ends the turn's voiced stretch here: whatever this
    generation says is voiced again only if it is the voice's own model."""

    gen_id: int
    turn_id: int
    model: str
    tier: str
    request: ChatRequest
    purpose: str = "answer"  # or "classify": the small model labels a low-confidence turn (ROUTING)
    preemptive: bool = False  # started at a pause, before the turn `turn_id` is confirmed (may be cancelled)


@dataclass(frozen=True, slots=True)
class CancelGeneration:
    """Stop generation `gen_id`; any later Model* input for it is ignored."""

    gen_id: int


@dataclass(frozen=True, slots=True)
class RunTool:
    """Run tool `name` with `args`; answer with `ToolFinished(call_key)` (the engine times it out itself)."""

    call_key: str
    turn_id: int
    name: str
    args: dict[str, Any]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class CancelTool:
    """Stop tool call `call_key`; its result, if one still comes, is ignored."""

    call_key: str


@dataclass(frozen=True, slots=True)
class Speak:
    """Say this text next (appended to the turn's speech); text transports show it at once.
    `acknowledgement`: a filler said while the model works (not the answer itself)."""

    turn_id: int
    text: str
    acknowledgement: bool = False


@dataclass(frozen=True, slots=True)
class FinishSpeaking:
    """No more `Speak` comes for this turn: `text` is all it said, so its playback can finish once played.
    Answer with `PlaybackFinished(turn_id)` when the caller has heard it all."""

    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class StopSpeaking:
    """Barge-in: drop whatever of this turn has not been played yet."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class CloseTurn:
    """The turn is over, answered and played or interrupted: the listener may go idle, the speech tier
    writes back what it did not hear itself. `heard_text` is what the caller heard of the answer (all of
    it unless `interrupted`); `history` is the conversation after the turn."""

    turn_id: int
    heard_text: str
    interrupted: bool
    history: tuple[ChatMessage, ...]


Action = (
    OpenTurn
    | StartGeneration
    | CancelGeneration
    | RunTool
    | CancelTool
    | Speak
    | FinishSpeaking
    | StopSpeaking
    | CloseTurn
)
