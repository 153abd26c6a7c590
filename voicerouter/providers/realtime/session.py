"""One call's OpenAI Realtime conversation: a thin asyncio shell around the sans-I/O `RealtimeProtocol`.

It never retries, reconnects or falls back on its own (the router owns that) and never decides turns:
server VAD stays off unless the caller asks for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, cast

from openai import AsyncOpenAI, OpenAIError
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.websocket_connection_options import WebSocketConnectionOptions
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voicerouter.providers.base import ChatMessage, ErrorKind, ProviderError, ToolSpec
from voicerouter.providers.realtime import requests
from voicerouter.providers.realtime.outputs import SessionError, SessionOutput
from voicerouter.providers.realtime.protocol import RealtimeProtocol
from voicerouter.providers.realtime.requests import BYTES_PER_MS, AudioFormat

log = logging.getLogger(__name__)


class _End:
    """Queued once when the socket is gone: `error` is None for a close we asked for."""

    __slots__ = ("error",)

    def __init__(self, error: ProviderError | None) -> None:
        self.error = error


def _status_kind(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "bad_request"


def _handshake_error(provider: str, exc: BaseException) -> ProviderError:
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return ProviderError(
            _status_kind(status), f"{provider}: websocket handshake rejected with HTTP {status}"
        )
    if isinstance(exc, TimeoutError):
        return ProviderError("timeout", f"{provider}: websocket connect timed out")
    return ProviderError("connection", f"{provider}: cannot connect: {exc!r}")


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    return f"code {frame.code} {frame.reason!r}" if frame is not None else "no close frame"


class RealtimeSession:
    """One call's Realtime conversation over one WebSocket.

    Sends run in the caller's task; one reader task folds server events into typed outputs and queues them for
    `events()`. Server `error` events arrive as `SessionError` outputs (most leave the session usable); a lost
    connection ends `events()` with `ProviderError("connection")`.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        provider_name: str = "openai_realtime",
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
    ) -> None:
        self._client = client
        self.model = model
        self._name = provider_name
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._close_timeout_s = close_timeout_s
        self._protocol = RealtimeProtocol()
        self._queue: asyncio.Queue[SessionOutput | _End] = asyncio.Queue()
        self._connection: AsyncRealtimeConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._open_error: ProviderError | None = None
        self._closing = False
        self._ended = False
        self._input_format: AudioFormat = "pcm16"
        self._buffered_input_bytes = 0

    async def __aenter__(self) -> RealtimeSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Connected and neither closing nor ended by the server: requests can still be sent."""
        return self._connection is not None and not self._closing and not self._ended

    @property
    def buffered_input_ms(self) -> float:
        """Caller audio appended since the last commit or clear (the API refuses to commit under 100 ms)."""
        return self._buffered_input_bytes / BYTES_PER_MS[self._input_format]

    @property
    def active_response_id(self) -> str | None:
        """The response the server is producing now, if any (the one a barge-in cancels)."""
        return self._protocol.active_response_id

    def received_audio_ms(self, item_id: str) -> int | None:
        """Whole milliseconds of assistant audio received for `item_id` (None if none arrived)."""
        return self._protocol.received_audio_ms(item_id)

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(
        self,
        *,
        instructions: str,
        tools: Sequence[ToolSpec] = (),
        input_format: AudioFormat = "pcm16",
        output_format: AudioFormat = "pcm16",
        voice: str = "marin",
        turn_detection: Mapping[str, Any] | None = None,
        text_only: bool = False,
        max_output_tokens: int | None = None,
    ) -> None:
        """Connect and configure; returns once the server acknowledged it (`session.updated`)."""
        if self._connection is not None or self._closing:
            raise RuntimeError(f"{self._name}: a RealtimeSession opens once")
        self._input_format = input_format
        self._protocol.output_format = output_format
        self._connection = await self._connect()
        self._reader = asyncio.create_task(self._read(self._connection), name=f"{self._name}-reader")
        try:
            await self._send(
                requests.session_update(
                    instructions=instructions,
                    tools=tools,
                    input_format=input_format,
                    output_format=output_format,
                    voice=voice,
                    turn_detection=turn_detection,
                    text_only=text_only,
                    max_output_tokens=max_output_tokens,
                )
            )
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                raise ProviderError(
                    "timeout", f"{self._name}: no session.updated within {self._ack_timeout_s:g} s"
                ) from None
            if self._open_error is not None:
                raise self._open_error
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> AsyncRealtimeConnection:
        # Bounded close handshake: websockets takes it as a connect() keyword; the SDK passes options through.
        options = cast(WebSocketConnectionOptions, {"close_timeout": self._close_timeout_s})
        manager = self._client.realtime.connect(model=self.model, websocket_connection_options=options)
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await manager.enter()
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError, OpenAIError) as exc:
            raise _handshake_error(self._name, exc) from exc

    async def close(self) -> None:
        """Close the socket and stop the reader; `events()` then ends. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        if self._connection is not None:
            try:
                async with asyncio.timeout(self._close_timeout_s * 2):
                    await self._connection.close()
            except Exception as exc:  # the socket is going away either way
                log.debug("%s: close: %r", self._name, exc)
        reader = self._reader
        if reader is not None and not reader.done():
            await asyncio.wait({reader}, timeout=self._close_timeout_s)
            if not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        self._finish(None)
        if not self._ready.is_set():
            self._open_error = ProviderError("connection", f"{self._name}: closed before configuration")
            self._ready.set()

    def _finish(self, error: ProviderError | None) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_End(error))

    # -- reading ----------------------------------------------------------------------------------

    async def _read(self, connection: AsyncRealtimeConnection) -> None:
        error: ProviderError | None = None
        try:
            while True:
                raw = await connection.recv_bytes()
                try:
                    event = json.loads(raw)
                except ValueError:
                    log.warning("%s: ignoring a non-JSON server message (%d bytes)", self._name, len(raw))
                    continue
                if isinstance(event, dict):
                    self._dispatch(event)
        except ConnectionClosed as exc:
            if not self._closing:
                error = ProviderError("connection", f"{self._name}: connection lost ({_close_reason(exc)})")
        except Exception as exc:  # whatever stops the reader must end events(), never leave it waiting
            log.exception("%s: reader stopped", self._name)
            error = ProviderError("connection", f"{self._name}: reader stopped: {exc!r}")
        if not self._ready.is_set():
            self._open_error = error or ProviderError(
                "connection", f"{self._name}: closed before configuration"
            )
            self._ready.set()
        self._finish(error)

    def _dispatch(self, event: dict[str, Any]) -> None:
        try:
            outputs = self._protocol.receive(event)
        except (KeyError, TypeError, ValueError) as exc:
            # A malformed event must surface as an error, not stop the reader.
            message = f"malformed {event.get('type')!r} event: {exc!r}"
            outputs = [SessionError(kind="server_error", message=message)]
        for output in outputs:
            if isinstance(output, SessionError) and not self._ready.is_set():
                self._open_error = output.to_provider_error(self._name)
                self._ready.set()
            else:
                self._queue.put_nowait(output)
        if self._protocol.session_ready:
            self._ready.set()

    async def events(self, *, idle_timeout_s: float | None = None) -> AsyncGenerator[SessionOutput, None]:
        """Outputs in server order until the session closes; `idle_timeout_s` bounds the wait for each one."""
        if self._connection is None and not self._ended:
            raise RuntimeError(f"{self._name}: events() before open()")
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    item = await self._queue.get()
            except TimeoutError:
                raise ProviderError(
                    "stalled", f"{self._name}: no server event within {idle_timeout_s:g} s"
                ) from None
            if isinstance(item, _End):
                self._queue.put_nowait(item)  # every later reader sees the end too
                if item.error is not None:
                    raise ProviderError(item.error.kind, item.error.message)
                return
            yield item

    # -- sending ----------------------------------------------------------------------------------

    async def _send(self, event: Mapping[str, Any]) -> None:
        if self._connection is None:
            raise RuntimeError(f"{self._name}: send before open()")
        if self._closing:
            raise ProviderError("connection", f"{self._name}: cannot send {event['type']}: session is closed")
        payload = json.dumps(self._protocol.stamp(event))
        try:
            await self._connection.send_raw(payload)
        except ConnectionClosed as exc:
            raise ProviderError(
                "connection",
                f"{self._name}: cannot send {event['type']}: connection lost ({_close_reason(exc)})",
            ) from exc
        except OpenAIError as exc:
            raise ProviderError("connection", f"{self._name}: cannot send {event['type']}: {exc}") from exc

    async def append_audio(self, pcm: bytes) -> None:
        """Append caller audio, in the session's input format, to the server's input buffer."""
        if not pcm:
            return
        if self._input_format == "pcm16" and len(pcm) % 2:
            raise ValueError(f"{self._name}: append_audio: PCM16 needs an even byte count, got {len(pcm)}")
        await self._send(requests.input_audio_append(pcm))
        self._buffered_input_bytes += len(pcm)

    async def commit(self) -> None:
        """Turn the buffered audio into a user item (acknowledged by a `Committed` output)."""
        await self._send(requests.input_audio_commit())
        self._buffered_input_bytes = 0

    async def clear_input(self) -> None:
        """Drop buffered caller audio, e.g. when another tier answers this turn from its transcript."""
        await self._send(requests.input_audio_clear())
        self._buffered_input_bytes = 0

    async def create_response(self, *, instructions: str | None = None, text_only: bool = False) -> None:
        """Ask the model to answer.

        `instructions` override the session's for this response only, so the engine can have the voice say
        another tier's answer; that spoken answer then lands in the conversation by itself.
        """
        await self._send(requests.response_create(instructions=instructions, text_only=text_only))

    async def cancel_response(self) -> bool:
        """Stop the response in progress; False (nothing sent) when there is none: the API errors on that."""
        if self._protocol.active_response_id is None and not self._protocol.response_requested:
            return False
        await self._send(requests.response_cancel(self._protocol.active_response_id))
        return True

    async def truncate(self, item_id: str, audio_end_ms: int) -> int:
        """Cut an assistant item at the played position so the model forgets what the caller never heard.

        Never asks beyond the audio actually received for the item (the API rejects that): the position is
        clamped, the clamp logged, and the position sent is returned.
        """
        clamped_ms = self._protocol.clamp_truncate(item_id, audio_end_ms)
        await self._send(requests.item_truncate(item_id, clamped_ms))
        return clamped_ms

    async def add_item_text(self, role: Literal["user", "assistant"], text: str) -> None:
        """Write a turn into the conversation, e.g. the transcript and answer of another tier's turn."""
        await self._send(requests.message_item(role, text))

    async def send_function_output(self, call_id: str, output: str | Mapping[str, Any]) -> None:
        """Answer a function call; follow with `create_response()` for the model to speak about it."""
        text = output if isinstance(output, str) else json.dumps(dict(output), default=str)
        await self._send(requests.function_output_item(call_id, text))

    async def add_history(self, messages: Sequence[ChatMessage]) -> None:
        """Replay a vendor-neutral history (text, tool calls and their outputs) into the conversation."""
        for event in requests.history_items(messages):
            await self._send(event)
