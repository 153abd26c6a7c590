"""`GET /ws`: voicerouter's own WebSocket call protocol — a JSON `start`, then PCM16 frames both ways.

Client → server: `{"type":"start","agent":"clinic","encoding":"pcm16","sample_rate_hz":16000,"caller":"..."}`,
then binary PCM16 mono frames at that rate, and `{"type":"stop"}` to hang up. Server → client: binary PCM16
frames (20 ms) of the agent's voice, `{"type":"started","call_id":...}`, every engine event as
`{"type":"event","event":{...}}`, `{"type":"latency",...}` per answered turn, `{"type":"clear"}` on barge-in
(drop any agent audio not yet played) and `{"type":"stop","reason":...}` when the call ends.
A malformed or oversized message closes that call (1003 / 1007 / 1009 with a reason), never the server.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.media.limits import ws_message_limit
from voicerouter.media.ws.common import (
    HARD_MESSAGE_BYTES,
    START_TIMEOUT_S,
    JsonWriter,
    ProtocolViolation,
    check_message,
    close_socket,
    describe_validation,
    invalid,
    parse_json_object,
    unsupported,
)
from voicerouter.media.ws.guard import CallSlot, MediaGate, run_call

log = logging.getLogger(__name__)

SampleRate = Literal[8000, 16000, 24000, 48000]


class StartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["start"]
    agent: str | None = Field(default=None, max_length=64)
    encoding: Literal["pcm16"] = "pcm16"
    sample_rate_hz: SampleRate = 16000
    caller: str = Field(default="", max_length=200)


class NativeTransport:
    """The pipeline's view of one /ws connection."""

    kind = "ws"
    marks = False

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.writer = JsonWriter(ws)
        self.close_code: int = WSCloseCode.OK
        self.close_message = ""

    async def send_audio(self, pcm16: bytes) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_bytes(pcm16)
            except ConnectionError:
                pass  # the receive loop sees the closed socket and ends the call

    async def send_mark(self, name: str) -> None:
        return None

    async def clear(self) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_str('{"type":"clear"}')  # ahead of queued events: the client must stop now
            except ConnectionError:
                pass

    def notify(self, payload: dict[str, Any]) -> None:
        self.writer.send(payload)

    def fail(self, code: int, message: str) -> None:
        self.close_code, self.close_message = code, message

    async def hang_up(self, reason: str) -> None:
        if self.close_code == WSCloseCode.OK:
            self.writer.send({"type": "stop", "reason": reason})
            await self.writer.drain()
        else:
            await self.writer.stop()
        await close_socket(self.ws, self.close_code, self.close_message or reason)


async def handle_ws(request: web.Request) -> web.WebSocketResponse:
    context: ServeContext = request.app[CONTEXT_KEY]
    ws = web.WebSocketResponse(max_msg_size=HARD_MESSAGE_BYTES, heartbeat=30.0)
    await ws.prepare(request)
    transport = NativeTransport(ws)
    limit = ws_message_limit(request)

    async def call(slot: CallSlot) -> str:
        start = await _read_start(ws, limit)
        transport.writer.start()
        slot.pipeline = pipeline = await context.open_call(
            transport,
            agent=start.agent,
            caller=start.caller or request.remote or "",
            rate_hz=start.sample_rate_hz,
        )
        rate_hz = start.sample_rate_hz
        transport.notify({"type": "started", "call_id": pipeline.call_id, "sample_rate_hz": rate_hz,
                          "frame_ms": 20})  # fmt: skip
        gate = MediaGate.for_context("ws", context)
        return await _receive_loop(ws, pipeline, transport, limit, gate)

    await run_call("/ws", context, transport, call)
    return ws


async def _read_start(ws: web.WebSocketResponse, limit: int) -> StartMessage:
    try:
        msg = await ws.receive(timeout=START_TIMEOUT_S)
    except TimeoutError as exc:
        raise ProtocolViolation(WSCloseCode.POLICY_VIOLATION, "no start message within 10 s") from exc
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        raise ProtocolViolation(WSCloseCode.OK, "closed before start")
    check_message(msg, limit)
    if msg.type is not WSMsgType.TEXT:
        raise unsupported("expected a JSON start message first")
    data = parse_json_object(msg.data)
    try:
        return StartMessage.model_validate(data)
    except ValidationError as exc:
        raise invalid(f"bad start message: {describe_validation(exc)}") from exc


async def _receive_loop(
    ws: web.WebSocketResponse,
    pipeline: AudioCallPipeline,
    transport: NativeTransport,
    limit: int,
    gate: MediaGate,
) -> str:
    """Feed caller frames until the caller stops or the socket closes (our own hang-up closes it too)."""
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return "caller hung up"
        check_message(msg, limit)
        if msg.type is WSMsgType.BINARY:
            if len(msg.data) % 2:
                raise invalid(f"PCM16 frame of {len(msg.data)} bytes is not a whole number of samples")
            if await gate.admit(len(msg.data) / 2 / pipeline.rate_hz * 1000.0):
                pipeline.push_audio(msg.data)
        elif msg.type is WSMsgType.TEXT:
            data = parse_json_object(msg.data)
            if data.get("type") == "stop":
                return "caller hung up"
            raise unsupported(f"unexpected message type {str(data.get('type'))[:40]!r} after start")
        if transport.writer.overflowed:
            raise ProtocolViolation(WSCloseCode.POLICY_VIOLATION, "client is not reading its messages")
