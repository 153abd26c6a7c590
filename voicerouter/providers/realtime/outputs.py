"""Typed outputs of an OpenAI Realtime session (what the engine sees) and the error classes they carry.

Plain immutable data and pure functions: nothing here knows about sockets, tasks or the wire format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voicerouter.providers.base import ErrorKind, ProviderError, Usage

_RETRY_AFTER = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)


# ----------------------------------------------------------------------------------------------------
# Outputs: what a session hands to the engine.


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class AudioDelta(_Output):
    """A chunk of the assistant's voice; `pcm` is in the session's output format (PCM16 24 kHz or G.711)."""

    type: Literal["audio_delta"] = "audio_delta"
    response_id: str
    item_id: str
    pcm: bytes
    audio_ms: float


class TranscriptDelta(_Output):
    """Text of what the voice is saying, streamed alongside (and usually slightly ahead of) the audio."""

    type: Literal["transcript_delta"] = "transcript_delta"
    response_id: str
    item_id: str
    text: str


class TranscriptDone(_Output):
    """The full transcript of one spoken item, as generated (the caller may have heard less)."""

    type: Literal["transcript_done"] = "transcript_done"
    response_id: str
    item_id: str
    text: str


class TextDelta(_Output):
    """Text of a text-only response."""

    type: Literal["text_delta"] = "text_delta"
    response_id: str
    item_id: str
    text: str


class FunctionCall(_Output):
    """A complete tool call: emitted once its item is done, never for a call cut off by a cancel."""

    type: Literal["function_call"] = "function_call"
    response_id: str
    item_id: str
    call_id: str
    name: str
    args: dict[str, Any]


class ResponseStarted(_Output):
    """The server opened response `response_id`; until its `ResponseDone` it is the one to cancel."""

    type: Literal["response_started"] = "response_started"
    response_id: str


class RealtimeUsage(_Output):
    """Tokens billed for one response; `input_tokens` includes cached ones, as the API counts them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    def to_usage(self) -> Usage:
        """The counts every chat provider reports, for cost accounting alongside the other tiers."""
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            audio_input_tokens=self.input_audio_tokens,
            cached_audio_input_tokens=self.cached_audio_tokens,
            audio_output_tokens=self.output_audio_tokens,
        )


class ResponseDone(_Output):
    """The end of a response, whatever its outcome (`completed`, `cancelled`, `failed`, `incomplete`)."""

    type: Literal["response_done"] = "response_done"
    response_id: str
    status: str
    reason: str | None = None
    usage: RealtimeUsage = Field(default_factory=RealtimeUsage)


class SpeechStarted(_Output):
    """Server VAD heard speech (only when server turn detection is on)."""

    type: Literal["speech_started"] = "speech_started"
    item_id: str
    audio_start_ms: int


class SpeechStopped(_Output):
    """Server VAD heard the caller stop (only when server turn detection is on)."""

    type: Literal["speech_stopped"] = "speech_stopped"
    item_id: str
    audio_end_ms: int


class Committed(_Output):
    """The input audio buffer became the user item `item_id`."""

    type: Literal["committed"] = "committed"
    item_id: str
    previous_item_id: str | None = None


class Truncated(_Output):
    """The server cut an assistant item's audio (and its transcript) at `audio_end_ms`."""

    type: Literal["truncated"] = "truncated"
    item_id: str
    audio_end_ms: int


class SessionError(_Output):
    """A server-reported failure; the session usually stays open. `client_event` names what caused it."""

    type: Literal["session_error"] = "session_error"
    kind: ErrorKind
    message: str
    code: str | None = None
    client_event: str | None = None
    response_id: str | None = None
    retry_after_s: float | None = None

    def to_provider_error(self, provider: str = "openai_realtime") -> ProviderError:
        """The error as the router's `ProviderError`, saying which request caused it, for fallbacks."""
        where = f" on {self.client_event}" if self.client_event else ""
        code = f" [{self.code}]" if self.code else ""
        return ProviderError(
            self.kind,
            f"{provider}: server error{where}{code}: {self.message}",
            retry_after_s=self.retry_after_s,
        )


SessionOutput = Annotated[
    AudioDelta
    | TranscriptDelta
    | TranscriptDone
    | TextDelta
    | FunctionCall
    | ResponseStarted
    | ResponseDone
    | SpeechStarted
    | SpeechStopped
    | Committed
    | Truncated
    | SessionError,
    Field(discriminator="type"),
]


# ----------------------------------------------------------------------------------------------------
# Error classes.


def classify_error(error_type: str | None, code: str | None) -> ErrorKind:
    """Map an OpenAI error `type`/`code` pair to the router's error kinds (retry later vs. fall through)."""
    t, c = (error_type or "").lower(), (code or "").lower()
    if c == "insufficient_quota":  # billing, not load: waiting will not help, so it is not "rate_limited"
        return "auth"
    if "rate_limit" in t or "rate_limit" in c or t in ("requests", "tokens"):
        return "rate_limited"
    if "auth" in t or "permission" in t or c in ("invalid_api_key", "unauthorized"):
        return "auth"
    if "timeout" in t or "timeout" in c:
        return "timeout"
    if t == "invalid_request_error" or "invalid" in c:
        return "bad_request"
    return "server_error"


def retry_after_s(message: str) -> float | None:
    """The wait the server asks for in prose ("Please try again in 1.5s"), if any."""
    match = _RETRY_AFTER.search(message)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000.0 if match.group(2).lower() == "ms" else value


def session_error(
    error: Mapping[str, Any], *, client_event: str | None, response_id: str | None
) -> SessionError:
    """A SessionError from an API error object (`type`, `code`, `message`)."""
    message = str(error.get("message") or "unspecified error")
    code = error.get("code")
    return SessionError(
        kind=classify_error(error.get("type"), code),
        message=message,
        code=str(code) if code else None,
        client_event=client_event,
        response_id=response_id,
        retry_after_s=retry_after_s(message),
    )
