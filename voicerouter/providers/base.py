"""The one shape every chat model speaks to the engine: a request in, a stream of typed chunks out.

Adapters translate a vendor's wire protocol to these types and vendor errors to `ProviderError`; they never
retry or fall back themselves (the router owns that) and never read configuration files.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from voicerouter.toolkit import ToolSpec


class ToolCall(BaseModel):
    """A tool the model asked for: the vendor's call `id` (answered by a role="tool" message), name, args."""

    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(BaseModel):
    """One entry of the call's conversation, in a vendor-neutral form."""

    model_config = ConfigDict(frozen=True)
    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # tool name, on role="tool"


class ChatRequest(BaseModel):
    """Everything one model turn needs, vendor-neutral (adapters translate it), and which turn it serves."""

    model_config = ConfigDict(frozen=True)
    model: str  # the vendor's model id
    system: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 400
    temperature: float | None = None
    turn_id: int | None = None  # the call's turn; a call-bound model (the Realtime voice) keys on it
    # What the caller already heard of this answer from a model whose stream died: the assistant's partial
    # turn, which this model continues (Anthropic natively, OpenAI as a trailing assistant message).
    assistant_prefix: str = ""


class TextDelta(BaseModel):
    """A fragment of the answer's text, in the order the model streamed it."""

    kind: Literal["text"] = "text"
    text: str


class ToolCallChunk(BaseModel):
    """A complete tool call: adapters assemble streamed argument fragments before yielding it."""

    kind: Literal["tool_call"] = "tool_call"
    call: ToolCall


class ToolCallStarted(BaseModel):
    """A tool call began streaming: the model is answering, though the call is not complete yet.

    Lets the engine tell a model that is slowly writing a long tool call from one that has stalled."""

    kind: Literal["tool_call_started"] = "tool_call_started"
    name: str = ""


class Usage(BaseModel):
    """Token counts of one request. `input_tokens` counts every prompt token (text and audio);
    `cached_input_tokens` is the part served from the provider's prompt cache (priced lower),
    `cache_write_input_tokens` the part written to it (Anthropic bills writes above the input rate).
    The audio counts are the parts of the input, cached input and output that were audio (Realtime)."""

    kind: Literal["usage"] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0


StreamChunk = TextDelta | ToolCallStarted | ToolCallChunk | Usage

ErrorKind = Literal["rate_limited", "server_error", "timeout", "bad_request", "auth", "connection", "stalled"]


class ProviderError(Exception):
    """A vendor failure, classified so the router can decide between retry-later and fall-through."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s


class ChatProvider(Protocol):
    """An async source of streamed completions; one instance may serve many calls at once."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield text deltas and complete tool calls, then exactly one Usage; raise ProviderError.
        A generator, so a consumer that stops early can close it (and its connection) at once."""
        ...
