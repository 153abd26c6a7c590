"""Chat adapter for the OpenAI Chat Completions protocol: OpenAI, and vLLM, Ollama, llama.cpp by base_url.

It translates `ChatRequest` to the wire and the SSE stream back to typed chunks; it never retries, never falls
back, and never leaves an HTTP response open after its consumer stops reading or is cancelled.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal

import httpx2
import openai
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from voicerouter.providers.base import (
    ChatMessage,
    ChatRequest,
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
    encode_tool_arguments,
    kind_for_status,
    retry_after_s,
)

MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


def to_wire_messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    """System prompt first, then the conversation; tool results stay as `role="tool"` messages.

    An answer cut off mid-stream ends the list as the assistant's partial turn (what the caller heard), which
    the model continues; the system prompt says so too, for servers that would answer it afresh."""
    wire: list[ChatCompletionMessageParam] = []
    if request.system:
        wire.append({"role": "system", "content": request.system})
    for message in request.messages:
        wire.append(_to_wire_message(message))
    if request.assistant_prefix.strip():
        wire.append({"role": "assistant", "content": request.assistant_prefix.strip()})
    return wire


def _to_wire_message(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "user":
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        if not message.tool_call_id:
            raise ProviderError("bad_request", "openai: a role='tool' message has no tool_call_id")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    calls: list[ChatCompletionMessageFunctionToolCallParam] = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": encode_tool_arguments(call.args)},
        }
        for call in message.tool_calls
    ]
    # `content: null` is what the API itself returns next to tool calls; some compatible servers reject "".
    return {"role": "assistant", "content": message.content or None, "tool_calls": calls}


def to_wire_tools(tools: tuple[ToolSpec, ...]) -> list[ChatCompletionFunctionToolParam]:
    """Our tool specs as Chat Completions `tools` entries (JSON-schema function declarations)."""
    return [
        {
            "type": "function",
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
        }
        for tool in tools
    ]


@dataclass
class _PendingCall:
    call_id: str
    name: str = ""
    fragments: list[str] = field(default_factory=list)


class ChunkDecoder:
    """Turns `chat.completion.chunk` objects into typed chunks; holds tool calls until they are complete.

    OpenAI streams a tool call as a first delta carrying `index`, `id` and the function name, then argument
    fragments under the same `index`; a call is complete only when the choice reports a `finish_reason`.
    """

    def __init__(self) -> None:
        self._calls: dict[int, _PendingCall] = {}
        self.finished = False
        self.usage = Usage()

    def feed(self, chunk: ChatCompletionChunk) -> list[StreamChunk]:
        """The typed chunks one streamed chunk completes; `finished` and `usage` update as they arrive."""
        out: list[StreamChunk] = []
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            # Compatible servers sometimes send nulls here; the SDK does not validate, so guard each field.
            self.usage = Usage(
                input_tokens=chunk.usage.prompt_tokens or 0,
                output_tokens=chunk.usage.completion_tokens or 0,
                cached_input_tokens=(details.cached_tokens or 0) if details is not None else 0,
            )
        for choice in chunk.choices:
            if choice.index != 0:
                continue  # we never ask for n > 1
            delta = choice.delta
            if delta.content:
                out.append(TextDelta(text=delta.content))
            if delta.refusal:
                out.append(TextDelta(text=delta.refusal))
            for fragment in delta.tool_calls or ():
                if fragment.index not in self._calls:
                    name = fragment.function.name if fragment.function is not None else None
                    out.append(ToolCallStarted(name=name or ""))
                self._absorb(fragment)
            if choice.finish_reason is not None:
                self.finished = True
                out.extend(self._complete_calls())
        return out

    def _absorb(self, fragment: ChoiceDeltaToolCall) -> None:
        pending = self._calls.get(fragment.index)
        if pending is None:
            pending = _PendingCall(call_id=fragment.id or f"call_{fragment.index}")
            self._calls[fragment.index] = pending
        function = fragment.function
        if function is None:
            return
        if function.name and not pending.name:
            pending.name = function.name
        if function.arguments:
            pending.fragments.append(function.arguments)

    def _complete_calls(self) -> list[StreamChunk]:
        done: list[StreamChunk] = [
            ToolCallChunk(
                call=ToolCall(
                    id=pending.call_id,
                    name=pending.name,
                    args=decode_tool_arguments("".join(pending.fragments)),
                )
            )
            for _, pending in sorted(self._calls.items())
        ]
        self._calls.clear()
        return done


class OpenAIChatProvider:
    """Streams completions from any server that speaks OpenAI Chat Completions.

    `max_tokens_param` picks the field that carries `ChatRequest.max_tokens`: OpenAI's own API wants
    `max_completion_tokens` (its reasoning models reject `max_tokens`), while compatible servers all accept
    `max_tokens`. By default it follows `base_url`: unset means OpenAI.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        request_timeout_s: float = 30.0,
        max_tokens_param: MaxTokensParam | None = None,
    ) -> None:
        self.name = name
        self._base_url = base_url
        self._closed = False
        self._max_tokens_param: MaxTokensParam = max_tokens_param or (
            "max_completion_tokens" if base_url is None else "max_tokens"
        )
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,  # None: OPENAI_BASE_URL, else OpenAI
            timeout=request_timeout_s,
            max_retries=0,  # the router owns retries and fallbacks
        )

    async def aclose(self) -> None:
        """Close the connection pool; in-flight streams fail with a connection error."""
        self._closed = True
        await self._client.close()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield text deltas as they arrive, each tool call once complete, then exactly one Usage.

        Stop early with `contextlib.aclosing` or by cancelling the consuming task: either closes the response.
        """
        if self._closed:
            raise ProviderError("connection", f"{self.name}: stream() called after aclose()")
        tools = to_wire_tools(request.tools)
        limit_in_max_tokens = self._max_tokens_param == "max_tokens"
        try:
            sdk_stream = await self._client.chat.completions.create(
                model=request.model,
                messages=to_wire_messages(request),
                stream=True,
                stream_options={"include_usage": True},
                tools=tools if tools else openai.omit,
                temperature=request.temperature if request.temperature is not None else openai.omit,
                max_tokens=request.max_tokens if limit_in_max_tokens else openai.omit,
                max_completion_tokens=openai.omit if limit_in_max_tokens else request.max_tokens,
            )
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise self._provider_error(exc, request.model) from exc
        decoder = ChunkDecoder()
        try:
            async for chunk in sdk_stream:
                for item in decoder.feed(chunk):
                    yield item
        except (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError) as exc:
            raise self._provider_error(exc, request.model) from exc
        finally:
            await sdk_stream.close()
        if not decoder.finished:
            raise ProviderError(
                "connection", f"{self.name} {request.model}: stream ended before a finish_reason"
            )
        yield decoder.usage

    def _provider_error(self, exc: Exception, model: str) -> ProviderError:
        where = f"{self.name} {model} ({self._base_url or 'api.openai.com'})"
        if isinstance(exc, openai.APIStatusError):
            detail = _api_message(exc.body) or exc.message
            kind = kind_for_status(exc.status_code)
            retry_s = retry_after_s(exc.response.headers)  # 429 always, 503/529 sometimes
            return ProviderError(kind, f"{where}: HTTP {exc.status_code}: {detail}", retry_after_s=retry_s)
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return ProviderError("timeout", f"{where}: no response within the request timeout")
        if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError):
            return ProviderError("connection", f"{where}: {describe_failure(exc)}")
        if isinstance(exc, openai.APIError):  # an error object inside the event stream
            return ProviderError("server_error", f"{where}: error in stream: {exc.message}")
        if isinstance(exc, json.JSONDecodeError):
            return ProviderError("server_error", f"{where}: malformed JSON in stream: {exc}")
        return ProviderError("server_error", f"{where}: {describe_failure(exc)}")


def _api_message(body: object) -> str | None:
    """The `message` of the vendor's error object, without the SDK's "Error code: NNN - {...}" wrapping."""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) and message else None
