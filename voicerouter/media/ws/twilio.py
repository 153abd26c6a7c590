"""`GET /twilio`: a call over Twilio Media Streams (bidirectional `<Connect><Stream>`), spoken exactly.

Agent audio goes out as 20 ms µ-law `media` messages with a `mark` after each sentence; the marks Twilio
echoes say what the caller has really heard, and barge-in sends `clear`. The agent comes from the stream's
`customParameters.agent`. With TWILIO_AUTH_TOKEN set the upgrade's `X-Twilio-Signature` is checked
(media/auth.py); otherwise, when VOICEROUTER_TOKEN is set and the upgrade carried no credential,
`customParameters.token` must hold it (Twilio stream URLs cannot carry headers, and a token never goes in a
URL). A malformed message closes this call only.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from voicerouter.audio.g711 import lin2ulaw, ulaw2lin
from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.auth import request_authorized
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.media.limits import ws_message_limit
from voicerouter.media.ws.common import (
    HARD_MESSAGE_BYTES,
    START_TIMEOUT_S,
    ProtocolViolation,
    check_message,
    close_socket,
    describe_validation,
    invalid,
    parse_json_object,
    policy,
    unsupported,
)
from voicerouter.media.ws.guard import CallSlot, MediaGate, run_call
from voicerouter.media.ws.twilio_messages import (
    TWILIO_ENCODING,
    TWILIO_RATE_HZ,
    Connected,
    Dtmf,
    Mark,
    MediaFrameError,
    Start,
    Stop,
    clear_message,
    mark_message,
    media_frame,
    media_message,
    parse_inbound,
)

log = logging.getLogger(__name__)
_MS_PER_SAMPLE = 1000.0 / TWILIO_RATE_HZ


class TwilioTransport:
    kind = "twilio"
    marks = True

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.stream_sid = ""
        self.close_code: int = WSCloseCode.OK
        self.close_message = ""

    async def _send(self, text: str) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                pass  # the receive loop sees the closed socket and ends the call

    async def send_audio(self, pcm16: bytes) -> None:
        await self._send(media_message(self.stream_sid, lin2ulaw(pcm16)))

    async def send_mark(self, name: str) -> None:
        await self._send(mark_message(self.stream_sid, name))

    async def clear(self) -> None:
        await self._send(clear_message(self.stream_sid))

    def notify(self, payload: dict[str, Any]) -> None:
        return None  # Twilio has no channel for events: read them from /calls/{id}

    def fail(self, code: int, message: str) -> None:
        self.close_code, self.close_message = code, message

    async def hang_up(self, reason: str) -> None:
        await close_socket(self.ws, self.close_code, self.close_message or reason)


async def handle_twilio(request: web.Request) -> web.WebSocketResponse:
    context: ServeContext = request.app[CONTEXT_KEY]
    ws = web.WebSocketResponse(max_msg_size=HARD_MESSAGE_BYTES, heartbeat=30.0)
    await ws.prepare(request)
    transport = TwilioTransport(ws)
    limit = ws_message_limit(request)

    async def call(slot: CallSlot) -> str:
        start = await _read_start(ws, limit)
        params = start.start.custom_parameters
        if not request_authorized(request, context.token) and not context.token_ok(params.get("token")):
            raise policy("missing or wrong token (send it as customParameters.token)")
        transport.stream_sid = start.start.stream_sid
        slot.pipeline = pipeline = await context.open_call(
            transport,
            agent=params.get("agent"),
            caller=params.get("caller") or params.get("from") or start.start.call_sid,
            rate_hz=TWILIO_RATE_HZ,
            call_id=start.start.call_sid,
        )
        return await _receive_loop(ws, pipeline, limit, MediaGate.for_context("twilio", context))

    await run_call("/twilio", context, transport, call)
    return ws


async def _next_message(
    ws: web.WebSocketResponse, limit: int, timeout_s: float | None = None, *, fast_media: bool = False
) -> Any:
    """The next Twilio message, or None once the socket closes.

    With `fast_media` (after `start`) a `media` message comes back as its caller µ-law bytes (b"" for another
    track) instead of a pydantic model: the per-frame path builds no model objects.
    """
    msg = await ws.receive(timeout=timeout_s)
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        return None
    check_message(msg, limit)
    if msg.type is not WSMsgType.TEXT:
        raise unsupported("Twilio Media Streams messages are JSON text, got a binary frame")
    data = parse_json_object(msg.data)
    if fast_media and data.get("event") == "media":
        try:
            return media_frame(data) or b""  # None (another track) would read as the socket closing
        except MediaFrameError as exc:
            raise invalid(f"bad Twilio message: {exc}") from exc
    try:
        return parse_inbound(data)
    except ValidationError as exc:
        raise invalid(f"bad Twilio message: {describe_validation(exc)}") from exc


async def _read_start(ws: web.WebSocketResponse, limit: int) -> Start:
    while True:
        try:
            message = await _next_message(ws, limit, START_TIMEOUT_S)
        except TimeoutError as exc:
            raise policy("no start message within 10 s") from exc
        if message is None:
            raise ProtocolViolation(WSCloseCode.OK, "closed before start")
        if isinstance(message, Connected):
            continue
        if not isinstance(message, Start):
            raise invalid(f"expected connected/start first, got {message.event}")
        fmt = message.start.media_format
        if fmt.encoding != TWILIO_ENCODING or fmt.sample_rate != TWILIO_RATE_HZ or fmt.channels != 1:
            raise unsupported(
                f"unsupported mediaFormat {fmt.encoding} {fmt.sample_rate} Hz x{fmt.channels}: "
                f"expected {TWILIO_ENCODING} {TWILIO_RATE_HZ} Hz mono"
            )
        return message


async def _receive_loop(
    ws: web.WebSocketResponse, pipeline: AudioCallPipeline, limit: int, gate: MediaGate
) -> str:
    while True:
        message = await _next_message(ws, limit, fast_media=True)
        if message is None:
            return "caller hung up"
        if isinstance(message, bytes):
            if message and await gate.admit(len(message) * _MS_PER_SAMPLE):
                pipeline.push_audio(ulaw2lin(message))
        elif isinstance(message, Mark):
            pipeline.mark_echoed(message.mark.name)
        elif isinstance(message, Stop):
            return "caller hung up"
        elif isinstance(message, Dtmf):
            log.info("call %s: caller pressed %r (keypad input is not used yet)", pipeline.call_id,
                     message.dtmf.digit)  # fmt: skip
        elif isinstance(message, Start):
            raise invalid("a second start message on one stream")
