"""Scripted local HTTP servers for vendor chat protocols: tests drive the real SDKs against them over sockets.

They bind 127.0.0.1 on a free port and never reach the network; each request consumes one scripted behaviour.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from aiohttp import web

RequestBody = dict[str, Any]
TextSource = str | Callable[[RequestBody], str]


@dataclass(frozen=True)
class UsageSpec:
    """Token counts exactly as the server reports them on the wire; None means derived from request and reply.

    `input_tokens` is OpenAI's `prompt_tokens` (cached tokens included) and Anthropic's `input_tokens` (cached
    tokens excluded: those travel as `cache_read_input_tokens` / `cache_creation_input_tokens`).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0  # Anthropic only


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    args: dict[str, Any] | None = None
    raw_arguments: str | None = None  # exact argument text, e.g. broken JSON
    call_id: str | None = None
    fragments: int = 3  # how many deltas the argument text is split across

    def argument_text(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.args or {})


@dataclass(frozen=True)
class Reply:
    """One scripted model answer, and the pace and faults of its delivery.

    "Deltas" counts content-carrying events (text and tool-argument fragments), so `stall_after_deltas=2`
    means two pieces of the answer arrive before the stream goes silent.
    """

    text: TextSource = ""
    deltas: tuple[str, ...] | None = None  # exact text deltas; default splits the text into words
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    usage: UsageSpec = field(default_factory=UsageSpec)
    stall_before_headers_s: float = 0.0  # request read, no response yet
    stall_before_first_event_s: float = 0.0  # headers sent, then nothing
    first_token_delay_ms: float = 0.0  # stream framing sent, first delta late
    stall_after_deltas: int | None = None
    stall_s: float = 3600.0
    error_after_deltas: int | None = None  # an error event inside the stream
    error_type: str | None = None  # vendor default when None
    error_message: str = "The server had an error while processing your request."
    drop_after_deltas: int | None = None  # connection closed mid-body
    end_after_deltas: int | None = None  # body ends cleanly, without the closing events

    def text_deltas(self, body: RequestBody) -> tuple[str, ...]:
        if self.deltas is not None:
            return self.deltas
        content = self.text(body) if callable(self.text) else self.text
        return tuple(re.findall(r"\s*\S+", content))


@dataclass(frozen=True)
class HttpError:
    """A failed request: status, the vendor's error JSON, and headers such as Retry-After."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Behaviour = Reply | HttpError


@dataclass(frozen=True)
class Frame:
    data: bytes
    content: bool = False  # carries a piece of the model's answer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: RequestBody


def text(
    content: TextSource, *, deltas: tuple[str, ...] | None = None, usage: UsageSpec | None = None
) -> Reply:
    """A text answer; `content` may be a function of the request body (e.g. echo the last tool result)."""
    return Reply(text=content, deltas=deltas, usage=usage or UsageSpec())


def tool_call(
    name: str,
    args: dict[str, Any] | None = None,
    *,
    raw_arguments: str | None = None,
    call_id: str | None = None,
    fragments: int = 3,
    say: str = "",
    usage: UsageSpec | None = None,
) -> Reply:
    """A request for one tool, its JSON arguments split across `fragments` deltas, maybe after some text."""
    call = ScriptedToolCall(name, args, raw_arguments=raw_arguments, call_id=call_id, fragments=fragments)
    return Reply(text=say, tool_calls=(call,), usage=usage or UsageSpec())


def tool_calls(*calls: ScriptedToolCall, say: str = "", usage: UsageSpec | None = None) -> Reply:
    """Several tool calls in one answer (parallel tool use)."""
    return Reply(text=say, tool_calls=calls, usage=usage or UsageSpec())


def _or_default(reply: Reply | None) -> Reply:
    return reply if reply is not None else text("Sorry for the wait, here is your answer.")


def stall_before_headers(seconds: float = 3600.0, reply: Reply | None = None) -> Reply:
    """The request is read, then not even a status line for `seconds`."""
    return _replace(_or_default(reply), stall_before_headers_s=seconds)


def stall_before_first_token(seconds: float = 3600.0, reply: Reply | None = None) -> Reply:
    """Response headers go out, then nothing at all for `seconds` (then the reply, if anyone listens)."""
    return _replace(_or_default(reply), stall_before_first_event_s=seconds)


def slow_first_token(ms: float, reply: Reply | None = None) -> Reply:
    """Stream framing goes out at once; the first piece of the answer `ms` later."""
    return _replace(_or_default(reply), first_token_delay_ms=ms)


def stall_midway(after_deltas: int = 1, seconds: float = 3600.0, reply: Reply | None = None) -> Reply:
    """`after_deltas` pieces of the answer, then silence for `seconds`."""
    return _replace(_or_default(reply), stall_after_deltas=after_deltas, stall_s=seconds)


def stream_error(
    after_deltas: int = 1,
    *,
    error_type: str | None = None,
    message: str | None = None,
    reply: Reply | None = None,
) -> Reply:
    """`after_deltas` pieces of the answer, then the vendor's error event inside the 200 stream."""
    base = _or_default(reply)
    return _replace(
        base,
        error_after_deltas=after_deltas,
        error_type=error_type,
        error_message=message or base.error_message,
    )


def drop_midway(after_deltas: int = 1, reply: Reply | None = None) -> Reply:
    """`after_deltas` pieces of the answer, then the TCP connection is closed mid-body."""
    return _replace(_or_default(reply), drop_after_deltas=after_deltas)


def end_early(after_deltas: int = 1, reply: Reply | None = None) -> Reply:
    """`after_deltas` pieces of the answer, then a clean end of body with no finish or stop event."""
    return _replace(_or_default(reply), end_after_deltas=after_deltas)


def _replace(reply: Reply, **changes: Any) -> Reply:
    return dataclasses.replace(reply, **changes)


def split_evenly(value: str, parts: int) -> list[str]:
    """`value` cut into at most `parts` non-empty consecutive pieces."""
    parts = max(1, min(parts, len(value)))
    size, extra = divmod(len(value), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(value[start:end])
        start = end
    return [p for p in pieces if p]


def estimate_input_tokens(body: RequestBody) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, len(json.dumps(body.get("messages", []))) // 4)


class ScriptedServer(ABC):
    """An aiohttp server that answers each request with the next scripted behaviour and records what it got.

    Stream accounting (`open_streams`, `streams_aborted`) and `wait_until_idle` let tests prove that a client
    closed its response: aiohttp cancels a handler when its connection drops.
    """

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.open_streams = 0
        self.streams_completed = 0
        self.streams_aborted = 0
        self._script: deque[Behaviour] = deque()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._ids = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.endpoint, self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def open_connections(self) -> int:
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def wait_until_idle(self, timeout_s: float = 5.0) -> None:
        """Wait until no stream is being served and no client connection is open (raises TimeoutError)."""
        async with asyncio.timeout(timeout_s):
            # aiohttp offers no signal for a closed connection, so this polls its connection table.
            while self.open_streams or self.open_connections:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    # -- scripting -------------------------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours; each request consumes the next one."""
        self._script.extend(behaviours)

    @property
    def unconsumed(self) -> int:
        return len(self._script)

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    # -- vendor hooks ----------------------------------------------------------------------------------------

    endpoint: str = ""
    stream_headers: ClassVar[Mapping[str, str]] = {}

    @property
    @abstractmethod
    def base_url(self) -> str: ...

    @abstractmethod
    def auth_error(self, request: web.Request) -> HttpError | None: ...

    @abstractmethod
    def validation_error(self, body: RequestBody) -> HttpError | None: ...

    @abstractmethod
    def unscripted_error(self) -> HttpError: ...

    @abstractmethod
    def render_stream(self, reply: Reply, body: RequestBody) -> list[Frame]: ...

    @abstractmethod
    def render_stream_error(self, reply: Reply) -> bytes: ...

    @abstractmethod
    def render_json(self, reply: Reply, body: RequestBody) -> dict[str, Any]: ...

    # -- serving ---------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error_response(self.validation_error({}) or self.unscripted_error())
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        failure = self.auth_error(request) or self.validation_error(body)
        if failure is not None:
            return self._error_response(failure)
        behaviour = self._script.popleft() if self._script else self.unscripted_error()
        if isinstance(behaviour, HttpError):
            return self._error_response(behaviour)
        if not body.get("stream"):
            return web.json_response(self.render_json(behaviour, body), headers=self._id_headers())
        return await self._stream(request, behaviour, body)

    def _id_headers(self) -> dict[str, str]:
        return {"x-request-id": self.next_id("req_"), "request-id": self.next_id("req_")}

    def _error_response(self, error: HttpError) -> web.Response:
        return web.json_response(
            error.body, status=error.status, headers={**self._id_headers(), **error.headers}
        )

    async def _stream(self, request: web.Request, reply: Reply, body: RequestBody) -> web.StreamResponse:
        frames = self.render_stream(reply, body)
        response = web.StreamResponse(status=200, headers={**self.stream_headers, **self._id_headers()})
        self.open_streams += 1
        finished = False
        try:
            if reply.stall_before_headers_s:
                await asyncio.sleep(reply.stall_before_headers_s)
            await response.prepare(request)  # sends the headers now
            if reply.stall_before_first_event_s:
                await asyncio.sleep(reply.stall_before_first_event_s)
            sent = 0
            for frame in frames:
                if frame.content:
                    if sent == 0 and reply.first_token_delay_ms:
                        await asyncio.sleep(reply.first_token_delay_ms / 1000)
                    if sent == reply.stall_after_deltas:
                        await asyncio.sleep(reply.stall_s)
                    if sent == reply.error_after_deltas:
                        await response.write(self.render_stream_error(reply))
                        break
                    if sent == reply.end_after_deltas:
                        break
                    if sent == reply.drop_after_deltas:
                        assert request.transport is not None
                        request.transport.close()
                        await asyncio.sleep(3600)  # cancelled when aiohttp sees the connection drop
                    sent += 1
                await response.write(frame.data)
            await response.write_eof()
            finished = True
            return response
        finally:
            self.open_streams -= 1
            if finished:
                self.streams_completed += 1
            else:
                self.streams_aborted += 1


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
