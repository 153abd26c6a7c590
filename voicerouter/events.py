"""The event vocabulary every part of voicerouter speaks: transports, engine, recorder and simulator.

Events are immutable pydantic models in one discriminated union on `type`; a field never changes meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Tier = Literal["triage", "reasoning", "speech"]
TIERS: tuple[Tier, ...] = ("triage", "reasoning", "speech")


class _Event(BaseModel):
    """The fields every event has: which call, and when (ms since the call started)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str
    t_ms: int = Field(ge=0, description="milliseconds since the call started")


class CallStarted(_Event):
    """A call began: which agent answers it, over which transport, from whom."""

    type: Literal["call.started"] = "call.started"
    agent: str
    transport: str
    caller: str = ""


class UserSpeechStarted(_Event):
    """The caller started speaking (a barge-in when the agent was talking)."""

    type: Literal["user.speech_started"] = "user.speech_started"


class UserSpeechStopped(_Event):
    """The caller stopped speaking; a transcript may follow."""

    type: Literal["user.speech_stopped"] = "user.speech_stopped"


class UserTranscript(_Event):
    """What the recogniser heard; a final, non-empty one starts the agent's turn."""

    type: Literal["user.transcript"] = "user.transcript"
    text: str
    final: bool = True
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


class TurnStarted(_Event):
    """The agent's turn `turn_id` began, answering the caller's `text`."""

    type: Literal["turn.started"] = "turn.started"
    turn_id: int
    text: str


class RouteDecided(_Event):
    """Which tier and model answer the turn, and why in words."""

    type: Literal["route.decided"] = "route.decided"
    turn_id: int
    tier: Tier
    model: str
    provider: str
    reason: str
    confidence: float
    est_cost_usd: float


class LlmFirstToken(_Event):
    """The first words of the turn's answer arrived, `ttft_ms` after the turn started."""

    type: Literal["llm.first_token"] = "llm.first_token"
    turn_id: int
    model: str
    ttft_ms: int


class ToolCalled(_Event):
    """The model asked for a tool, with these arguments."""

    type: Literal["tool.called"] = "tool.called"
    turn_id: int
    name: str
    args: dict[str, Any]


class ToolResult(_Event):
    """A tool returned (or failed, or timed out) after `latency_ms`."""

    type: Literal["tool.result"] = "tool.result"
    turn_id: int
    name: str
    ok: bool
    result: Any = None
    error: str | None = None
    latency_ms: int
    timed_out: bool = False


class AgentText(_Event):
    """Text the agent says in the turn: a sentence as it is spoken, or (final) the whole answer."""

    type: Literal["agent.text"] = "agent.text"
    turn_id: int
    text: str
    final: bool


class AgentAudioStarted(_Event):
    """The caller started hearing the agent's audio for the turn (turn 0: the greeting)."""

    type: Literal["agent.audio_started"] = "agent.audio_started"
    turn_id: int


class AgentAudioStopped(_Event):
    """The agent's audio for the turn ended: played out or cut off."""

    type: Literal["agent.audio_stopped"] = "agent.audio_stopped"
    turn_id: int


class TurnInterrupted(_Event):
    """The caller cut the turn short; `heard_text` is what they heard of it."""

    type: Literal["turn.interrupted"] = "turn.interrupted"
    turn_id: int
    heard_text: str


class ProviderFailed(_Event):
    """A model request failed or stalled; `fallback_to` is the model tried next, if any."""

    type: Literal["provider.failed"] = "provider.failed"
    turn_id: int
    provider: str
    model: str
    error: str
    fallback_to: str | None = None


class TurnCompleted(_Event):
    """The turn is over (answered or interrupted): its model, tokens, cost and timing.

    `cost_usd` is everything the turn cost: its models plus speech recognition and synthesis, which are
    also given apart (`model_cost_usd`, `stt_cost_usd`, `tts_cost_usd`)."""

    type: Literal["turn.completed"] = "turn.completed"
    turn_id: int
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    first_token_ms: int | None
    total_ms: int
    cached_tokens_in: int = 0
    model_cost_usd: float = 0.0
    stt_cost_usd: float = 0.0
    tts_cost_usd: float = 0.0


class LlmDiscarded(_Event):
    """A preemptive model request was cancelled (the caller went on, or said something else): what it cost."""

    type: Literal["llm.discarded"] = "llm.discarded"
    turn_id: int
    model: str
    reason: str
    tokens_in: int
    tokens_out: int
    cost_usd: float


class TurnLatency(_Event):
    """When each stage of the caller's wait happened in a live turn (call times in ms, None: never), and
    `first_audio_ms`: the caller's end of speech (VAD stop less its hangover) to the first agent audio."""

    type: Literal["turn.latency"] = "turn.latency"
    turn_id: int
    vad_stop_at_ms: int | None = None
    end_of_turn_at_ms: int | None = None
    transcript_at_ms: int | None = None
    first_token_at_ms: int | None = None
    first_audio_at_ms: int | None = None
    first_audio_ms: int | None = None


class CallAudio(_Event):
    """Where one side of the call's audio was saved, so a replay can feed the real audio again."""

    type: Literal["call.audio"] = "call.audio"
    track: Literal["caller", "agent"]
    path: str
    sample_rate_hz: int
    encoding: str = "pcm16"


class CallEnded(_Event):
    """The call is over: why, how many turns, what it cost."""

    type: Literal["call.ended"] = "call.ended"
    reason: str
    turns: int
    cost_usd: float  # models plus speech, as the sum of the turns' cost_usd
    stt_cost_usd: float = 0.0
    tts_cost_usd: float = 0.0


class UserDtmf(_Event):
    """A key the caller pressed (RFC 4733 telephone-event on SIP, Twilio's dtmf message)."""

    type: Literal["user.dtmf"] = "user.dtmf"
    digit: str = Field(pattern=r"^[0-9*#A-D]$")


class CallTransferred(_Event):
    """The caller was handed to a person or another number (SIP REFER accepted and completed)."""

    type: Literal["call.transferred"] = "call.transferred"
    target: str


class SimFaults(_Event):
    """The faults a simulated call ran with, so that replaying its recording injects them again. `spec` is
    the simulator's fault set (sim/faults.py validates it): per-turn targets ride in it."""

    type: Literal["sim.faults"] = "sim.faults"
    spec: dict[str, Any]


Event = Annotated[
    CallStarted
    | UserSpeechStarted
    | UserSpeechStopped
    | UserTranscript
    | TurnStarted
    | RouteDecided
    | LlmFirstToken
    | ToolCalled
    | ToolResult
    | AgentText
    | AgentAudioStarted
    | AgentAudioStopped
    | TurnInterrupted
    | ProviderFailed
    | TurnCompleted
    | TurnLatency
    | LlmDiscarded
    | CallAudio
    | CallEnded
    | UserDtmf
    | CallTransferred
    | SimFaults,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class ExpectedToolCall(BaseModel):
    """The tool call a correct agent makes on a labelled turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Label(BaseModel):
    """Ground truth for scoring, riding beside the user turn it labels (1-based `turn`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["label"] = "label"
    turn: int = Field(ge=1)
    tier: Tier | None = None
    tool: ExpectedToolCall | None = None
    refusal: bool = False
    unavailable: bool = False  # the lookup times out: the right answer says it could not check, no record
    note: str = ""


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Validate one event from JSON text or a decoded dict; raises pydantic.ValidationError."""
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)


def dump_event(event: Event | Label) -> str:
    """One compact JSON line, the exact form the recorder writes."""
    return event.model_dump_json(exclude_none=False)
