"""Chat adapter for the Anthropic Messages API, streamed as raw server-sent events through the official SDK.

It translates `ChatRequest` to the wire and the events back to typed chunks; it never retries, never falls
back, and never leaves an HTTP response open after its consumer stops reading or is cancelled.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal

import anthropic
import httpx2
from anthropic.types import (
    AssistantMessageParam,
    CacheControlEphemeralParam,
    ContentBlockParam,
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    UserMessageParam,
)

from voicerouter.providers.base import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolCallStarted,
    ToolSpec,
    Usage,
)
from voicerouter.providers.vendor_wire import (
    decode_tool_arguments,
    describe_failure,
    kind_for_status,
    retry_after_s,
)

# `error.type` of an `error` event sent inside a 200 stream, where the HTTP status says nothing.
_KIND_FOR_ERROR_TYPE: dict[str, ErrorKind] = {
    "rate_limit_error": "rate_limited",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "bad_request",
}


def to_wire_messages(messages: tuple[ChatMessage, ...], assistant_prefix: str = "") -> list[MessageParam]:
    """The conversation as Messages API turns.

    Tool results become `tool_result` blocks in a user turn, and consecutive turns of one role are merged, so
    every result of a multi-tool step lands in the single user message the API requires after `tool_use`.
    Empty text is dropped: the API rejects empty text blocks (an interrupted reply the caller never heard).
    An `assistant_prefix` (an answer cut off mid-stream) ends the list as the assistant's turn, which the
    API continues word for word; it may not end in whitespace.
    """
    prefix = assistant_prefix.rstrip()
    if prefix:
        messages = (*messages, ChatMessage(role="assistant", content=prefix))
    turns: list[tuple[Literal["user", "assistant"], list[ContentBlockParam]]] = []
    for message in messages:
        role: Literal["user", "assistant"] = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [_turn(role, blocks) for role, blocks in turns]


def _turn(role: Literal["user", "assistant"], blocks: list[ContentBlockParam]) -> MessageParam:
    if role == "user":
        user: UserMessageParam = {"role": "user", "content": blocks}
        return user
    assistant: AssistantMessageParam = {"role": "assistant", "content": blocks}
    return assistant


def _blocks(message: ChatMessage) -> list[ContentBlockParam]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ProviderError("bad_request", "anthropic: a role='tool' message has no tool_call_id")
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    blocks: list[ContentBlockParam] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.args)})
    return blocks


def to_wire_tools(tools: tuple[ToolSpec, ...]) -> list[ToolParam]:
    """Our tool specs as Messages API `tools` entries (`input_schema` is the JSON schema of the args)."""
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


_EPHEMERAL: CacheControlEphemeralParam = {"type": "ephemeral"}


def to_wire_system(system: str) -> list[TextBlockParam]:
    """The system prompt as one text block marked for the prompt cache (tools and system are cached as one
    prefix: the API orders tools, then system, then messages)."""
    return [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]


def mark_cache_breakpoints(tools: list[ToolParam], messages: list[MessageParam]) -> None:
    """Mark the last tool and the last block of the conversation with `cache_control`, in place.

    The conversation grows by appending, so the whole prompt of this request is the stable prefix of the next
    one: the next request reads it from the cache (0.1x the input price) and writes only what was added."""
    if tools:
        tools[-1]["cache_control"] = _EPHEMERAL
    if messages:
        content = messages[-1]["content"]
        if isinstance(content, list) and content:
            last = content[-1]
            if last.get("type") in ("text", "tool_result", "tool_use"):
                last["cache_control"] = _EPHEMERAL


@dataclass
class _PendingToolUse:
    tool_use_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


class EventDecoder:
    """Turns raw Messages stream events into typed chunks; a tool call is yielded at its `content_block_stop`.

    Usage follows the API's accounting: `message_start` carries the prompt side, `message_delta` the
    cumulative output (and, on newer servers, final prompt counts). `Usage.input_tokens` is every prompt
    token, cached or not, as OpenAI counts it; `cached_input_tokens` is the part read from the prompt cache.
    """

    def __init__(self) -> None:
        self._tool_uses: dict[int, _PendingToolUse] = {}
        self._uncached_input_tokens = 0
        self._cache_write_tokens = 0
        self._cache_read_tokens = 0
        self._output_tokens = 0
        self.finished = False

    @property
    def usage(self) -> Usage:
        """Token counts so far, prompt side counted the OpenAI way (cache reads and writes included)."""
        return Usage(
            input_tokens=self._uncached_input_tokens + self._cache_write_tokens + self._cache_read_tokens,
            output_tokens=self._output_tokens,
            cached_input_tokens=self._cache_read_tokens,
            cache_write_input_tokens=self._cache_write_tokens,
        )

    def feed(self, event: RawMessageStreamEvent) -> list[StreamChunk]:
        """The typed chunks one stream event completes; `finished` and `usage` update as they arrive."""
        if event.type == "message_start":
            usage = event.message.usage
            self._uncached_input_tokens = usage.input_tokens or 0
            self._cache_write_tokens = usage.cache_creation_input_tokens or 0
            self._cache_read_tokens = usage.cache_read_input_tokens or 0
            self._output_tokens = usage.output_tokens or 0
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "text" and block.text:
                return [TextDelta(text=block.text)]
            if block.type == "tool_use":
                self._tool_uses[event.index] = _PendingToolUse(tool_use_id=block.id, name=block.name)
                return [ToolCallStarted(name=block.name)]
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta" and delta.text:
                return [TextDelta(text=delta.text)]
            if delta.type == "input_json_delta" and event.index in self._tool_uses:
                self._tool_uses[event.index].fragments.append(delta.partial_json)
        elif event.type == "content_block_stop":
            pending = self._tool_uses.pop(event.index, None)
            if pending is not None:
                args = decode_tool_arguments("".join(pending.fragments))
                return [ToolCallChunk(call=ToolCall(id=pending.tool_use_id, name=pending.name, args=args))]
        elif event.type == "message_delta":
            final = event.usage
            self._output_tokens = final.output_tokens or self._output_tokens
            if final.input_tokens is not None:
                self._uncached_input_tokens = final.input_tokens
            if final.cache_creation_input_tokens is not None:
                self._cache_write_tokens = final.cache_creation_input_tokens
            if final.cache_read_input_tokens is not None:
                self._cache_read_tokens = final.cache_read_input_tokens
        elif event.type == "message_stop":
            self.finished = True
        return []


class AnthropicMessagesProvider:
    """Streams completions from the Anthropic Messages API (or a server that speaks it, by base_url).

    `ChatRequest.temperature` is not sent: the Messages API of the pinned SDK has no sampling temperature.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "anthropic",
        request_timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self._base_url = base_url
        self._closed = False
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,  # None: ANTHROPIC_BASE_URL, else Anthropic
            timeout=request_timeout_s,
            max_retries=0,  # the router owns retries and fallbacks
        )

    async def aclose(self) -> None:
        """Close the connection pool; in-flight streams fail with a connection error."""
        self._closed = True
        await self._client.close()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield text deltas as they arrive, each tool call once its block closes, then exactly one Usage.

        Stop early with `contextlib.aclosing` or by cancelling the consuming task: either closes the response.
        """
        if self._closed:
            raise ProviderError("connection", f"{self.name}: stream() called after aclose()")
        tools = to_wire_tools(request.tools)
        messages = to_wire_messages(request.messages, request.assistant_prefix)
        prefilled = bool(request.assistant_prefix.strip()) and len(messages) > 1
        mark_cache_breakpoints(tools, messages[:-1] if prefilled else messages)  # a prefill is never stable
        try:
            sdk_stream = await self._client.messages.create(
                model=request.model,
                max_tokens=request.max_tokens,
                messages=messages,
                system=to_wire_system(request.system) if request.system else anthropic.omit,
                tools=tools if tools else anthropic.omit,
                stream=True,
            )
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            raise self._provider_error(exc, request.model) from exc
        decoder = EventDecoder()
        try:
            async for event in sdk_stream:
                for item in decoder.feed(event):
                    yield item
        except (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError) as exc:
            raise self._provider_error(exc, request.model) from exc
        finally:
            await sdk_stream.close()
        if not decoder.finished:
            raise ProviderError(
                "connection", f"{self.name} {request.model}: stream ended before message_stop"
            )
        yield decoder.usage

    def _provider_error(self, exc: Exception, model: str) -> ProviderError:
        where = f"{self.name} {model} ({self._base_url or 'api.anthropic.com'})"
        if isinstance(exc, anthropic.APIStatusError):
            if exc.status_code < 300:  # an `error` event inside an accepted stream
                kind = _KIND_FOR_ERROR_TYPE.get(exc.type or "", "server_error")
                return ProviderError(kind, f"{where}: error event in stream: {exc.type}: {exc.api_message}")
            kind = kind_for_status(exc.status_code)
            retry_s = retry_after_s(exc.response.headers)  # 429 always, 503/529 sometimes
            detail = f"{exc.type}: {exc.api_message}" if exc.type else exc.message
            return ProviderError(kind, f"{where}: HTTP {exc.status_code}: {detail}", retry_after_s=retry_s)
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return ProviderError("timeout", f"{where}: no response within the request timeout")
        if isinstance(exc, anthropic.APIConnectionError | httpx2.HTTPError):
            return ProviderError("connection", f"{where}: {describe_failure(exc)}")
        if isinstance(exc, json.JSONDecodeError):
            return ProviderError("server_error", f"{where}: malformed JSON in stream: {exc}")
        return ProviderError("server_error", f"{where}: {describe_failure(exc)}")
