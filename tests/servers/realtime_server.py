"""A local OpenAI Realtime (GA) server: the documented client and server events over a WebSocket on 127.0.0.1.

It never reaches beyond loopback and never improvises: each `response.create` consumes one scripted reply, the
server enforces the API's own refusals (truncating past the audio sent, committing under 100 ms, cancelling
nothing), and every client event is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.servers.realtime_responses import ResponseStream
from tests.servers.realtime_state import (
    BYTES_PER_MS,
    MIN_COMMIT_MS,
    ActiveResponse,
    Call,
    Commit,
    Event,
    RateLimit,
    RealtimeConnection,
    Reply,
    Say,
    default_session,
    item_problem,
    merge_session,
    session_problem,
)

__all__ = ["Call", "RateLimit", "RealtimeConnection", "RealtimeServer", "Say"]


class RealtimeServer:
    """Serves `/v1/realtime?model=...`; point the SDK at it with `websocket_base_url=server.ws_base_url`.

    `pace_audio=True` sends each `audio_chunk_ms` of audio (and each text fragment) on a real-time schedule,
    so a test can interrupt a response mid-way; otherwise a response goes out as fast as the socket takes it.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        pace_audio: bool = False,
        audio_chunk_ms: int = 100,
        tone_hz: float = 440.0,
    ) -> None:
        self.api_key = api_key
        self.pace_audio = pace_audio
        self.audio_chunk_ms = audio_chunk_ms
        self.tone_hz = tone_hz
        self.client_events: list[Event] = []
        self.connections: list[RealtimeConnection] = []
        self._script: deque[Reply] = deque()
        self._server: Server | None = None
        self._sockets: set[ServerConnection] = set()
        self._changed = asyncio.Condition()
        self._ids = 0

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> RealtimeServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=None,
            compression=None,
            close_timeout=1,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("RealtimeServer is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    @property
    def open_connections(self) -> int:
        return len(self._sockets)

    async def drop_connections(self) -> None:
        """Cut every client socket without a close frame, as a network failure would."""
        for ws in list(self._sockets):
            ws.transport.abort()

    # -- scripting --------------------------------------------------------------------------------

    def reply_audio(self, text: str, audio_ms: int | None = None) -> None:
        self._script.append(Say(text, audio_ms))

    def reply_text(self, text: str) -> None:
        self._script.append(Say(text))

    def function_call(self, name: str, args: dict[str, Any], *, call_id: str | None = None) -> None:
        self._script.append(Call(name, args, call_id))

    def rate_limit(self, *, retry_after_s: float = 1.5, via: Literal["error", "response"] = "error") -> None:
        self._script.append(RateLimit(retry_after_s, via))

    @property
    def unconsumed(self) -> int:
        return len(self._script)

    # -- assertions -------------------------------------------------------------------------------

    def events_of(self, event_type: str) -> list[Event]:
        return [event for event in self.client_events if event.get("type") == event_type]

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_for(self, event_type: str, count: int = 1, timeout_s: float = 5.0) -> list[Event]:
        """The client events of `event_type` once at least `count` have arrived (raises TimeoutError)."""
        await self.wait_until(lambda: len(self.events_of(event_type)) >= count, timeout_s)
        return self.events_of(event_type)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- protocol ---------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/v1/realtime":
            return ws.respond(404, "Not Found\n")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return ws.respond(401, "Incorrect API key provided.\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        model = parse_qs(urlsplit(request.path).query).get("model", [None])[0]
        conn = RealtimeConnection(
            index=len(self.connections),
            path=request.path,
            model=model,
            authorization=request.headers.get("Authorization"),
            session=default_session(model, self._next_id("sess_")),
            conversation_id=self._next_id("conv_"),
        )
        self.connections.append(conn)
        self._sockets.add(ws)
        try:
            await self._emit(ws, {"type": "session.created", "session": copy.deepcopy(conn.session)})
            async for message in ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    await self._error(ws, {}, "The server could not parse the message as JSON.")
                    continue
                if not isinstance(event, dict):
                    await self._error(ws, {}, "Expected an event object.")
                    continue
                conn.events.append(event)
                self.client_events.append(event)
                await self._dispatch(ws, conn, event)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            self._sockets.discard(ws)
            if conn.active is not None:
                conn.active.task.cancel()
                await asyncio.gather(conn.active.task, return_exceptions=True)
            conn.closed = True
            await self._notify()

    async def _emit(self, ws: ServerConnection, event: Event) -> None:
        await ws.send(json.dumps({"event_id": self._next_id("event_"), **event}))

    async def _error(
        self,
        ws: ServerConnection,
        client_event: Event,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        error = {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event.get("event_id"),
        }
        await self._emit(ws, {"type": "error", "error": error})

    async def _dispatch(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        handlers = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.truncate": self._truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }
        handler = handlers.get(str(event.get("type")))
        if handler is None:
            await self._error(
                ws,
                event,
                f"Invalid value: '{event.get('type')}'. Unknown event type.",
                code="invalid_value",
                param="type",
            )
            return
        await handler(ws, conn, event)

    async def _session_update(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        session = event.get("session")
        problem = session_problem(session)
        if problem is not None:
            message, param = problem
            await self._error(ws, event, message, code="invalid_value", param=param)
            return
        assert isinstance(session, dict)
        conn.session = merge_session(conn.session, session)
        await self._emit(ws, {"type": "session.updated", "session": copy.deepcopy(conn.session)})

    async def _append(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        try:
            audio = base64.b64decode(str(event.get("audio", "")), validate=True)
        except (binascii.Error, ValueError):
            await self._error(
                ws,
                event,
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                code="invalid_value",
                param="audio",
            )
            return
        conn.input_buffer += audio
        conn.input_bytes_total += len(audio)

    async def _commit(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        buffered_ms = len(conn.input_buffer) / BYTES_PER_MS[conn.format_type("input")]
        if buffered_ms < MIN_COMMIT_MS:
            await self._error(
                ws,
                event,
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
            return
        item_id, previous = self._next_id("item_"), conn.last_item_id
        conn.commits.append(Commit(item_id, len(conn.input_buffer), buffered_ms))
        conn.input_buffer.clear()
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        conn.items[item_id] = item
        await self._emit(
            ws, {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous}
        )
        await self._emit(ws, {"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        await self._emit(ws, {"type": "conversation.item.done", "item": item, "previous_item_id": previous})

    async def _clear(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        conn.input_buffer.clear()
        await self._emit(ws, {"type": "input_audio_buffer.cleared"})

    async def _item_create(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        item = copy.deepcopy(event.get("item"))
        problem = item_problem(conn, item)
        if problem is not None:
            message, param = problem
            await self._error(ws, event, message, code="invalid_value", param=param)
            return
        assert isinstance(item, dict)
        item.setdefault("id", self._next_id("item_"))
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        if item["type"] == "function_call":
            item.setdefault("call_id", self._next_id("call_"))
        previous = event.get("previous_item_id") or conn.last_item_id
        conn.items[item["id"]] = item
        await self._emit(ws, {"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        await self._emit(ws, {"type": "conversation.item.done", "item": item, "previous_item_id": previous})

    async def _truncate(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        item = conn.items.get(str(item_id))
        if item is None:
            await self._error(
                ws, event, f"Item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
            )
            return
        if item.get("type") != "message" or item.get("role") != "assistant":
            await self._error(ws, event, "Only assistant messages can be truncated.", param="item_id")
            return
        if not isinstance(end_ms, int) or end_ms < 0 or event.get("content_index") != 0:
            await self._error(ws, event, "Invalid 'audio_end_ms' or 'content_index'.", param="audio_end_ms")
            return
        sent_ms = conn.item_audio_ms.get(str(item_id), 0.0)
        if end_ms > sent_ms:
            await self._error(
                ws,
                event,
                f"Audio content of {math.floor(sent_ms)}ms is already shorter than {end_ms}ms",
                param="audio_end_ms",
            )
            return
        conn.item_audio_ms[str(item_id)] = float(end_ms)
        for part in item.get("content", []):
            if part.get("type") == "output_audio":
                part["transcript"] = ""  # the server drops text the caller never heard
        conn.truncations.append({"item_id": item_id, "audio_end_ms": end_ms})
        await self._emit(
            ws,
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            },
        )

    async def _response_create(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        if conn.active is not None:
            await self._error(
                ws,
                event,
                "Conversation already has an active response in progress: "
                f"{conn.active.response_id}. Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
            return
        reply: Reply = self._script.popleft() if self._script else Say("Okay.")
        if isinstance(reply, RateLimit) and reply.via == "error":
            await self._emit(
                ws,
                {
                    "type": "error",
                    "error": {**reply.error(), "param": None, "event_id": event.get("event_id")},
                },
            )
            return
        response_id = self._next_id("resp_")
        cancel = asyncio.Event()

        async def emit(out: Event) -> None:
            await self._emit(ws, out)

        stream = ResponseStream(
            emit=emit,
            next_id=self._next_id,
            conn=conn,
            response_id=response_id,
            params=event.get("response") or {},
            reply=reply,
            cancel=cancel,
            pace=self.pace_audio,
            chunk_ms=self.audio_chunk_ms,
            tone_hz=self.tone_hz,
        )
        conn.active = ActiveResponse(response_id, asyncio.create_task(self._run(conn, stream)), cancel)

    @staticmethod
    async def _run(conn: RealtimeConnection, stream: ResponseStream) -> None:
        try:
            await stream.run()
        except ConnectionClosed:
            conn.active = None

    async def _response_cancel(self, ws: ServerConnection, conn: RealtimeConnection, event: Event) -> None:
        wanted = event.get("response_id")
        if conn.active is None or (wanted is not None and wanted != conn.active.response_id):
            await self._error(
                ws, event, "Cancellation failed: no active response found.", code="response_cancel_not_active"
            )
            return
        conn.active.cancel.set()
