"""What the WebSocket transports share: message limits, protocol-violation close codes, a JSON writer.

A bad message closes that call's socket with a code and a reason that says what was wrong; nothing here
lets one connection's error reach another, and nothing here knows about audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # one message; 20 ms of 48 kHz PCM16 is under 2 KiB
HARD_MESSAGE_BYTES = 1024 * 1024  # beyond this aiohttp drops the connection before we see the message
CLOSE_REASON_BYTES = 123  # the most a close frame's reason may hold
START_TIMEOUT_S = 10.0  # a connection that never says who it is for is closed
MAX_PENDING_MESSAGES = 5000  # control messages queued for a client that stopped reading


class ProtocolViolation(Exception):
    """The far end broke the protocol: close its socket with `code` and this message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsupported(message: str) -> ProtocolViolation:
    return ProtocolViolation(WSCloseCode.UNSUPPORTED_DATA, message)  # 1003


def invalid(message: str) -> ProtocolViolation:
    return ProtocolViolation(WSCloseCode.INVALID_TEXT, message)  # 1007


def too_big(size: int, limit: int = MAX_MESSAGE_BYTES) -> ProtocolViolation:
    return ProtocolViolation(
        WSCloseCode.MESSAGE_TOO_BIG,
        f"message of {size} bytes exceeds the {limit // 1024} KiB limit",
    )  # 1009


def policy(message: str) -> ProtocolViolation:
    return ProtocolViolation(WSCloseCode.POLICY_VIOLATION, message)  # 1008


def clip_reason(message: str) -> bytes:
    data = message.encode("utf-8")
    if len(data) <= CLOSE_REASON_BYTES:
        return data
    return data[: CLOSE_REASON_BYTES - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."


def check_message(msg: Any, limit: int = MAX_MESSAGE_BYTES) -> None:
    """Raise for a message that must close the call: too big, an aiohttp-level error, or an unknown kind."""
    if msg.type is WSMsgType.ERROR:
        exc = msg.data
        raise ProtocolViolation(getattr(exc, "code", WSCloseCode.PROTOCOL_ERROR), f"websocket error: {exc}")
    if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        size = len(msg.data)
        if isinstance(msg.data, str) and size * 4 > limit:  # UTF-8 takes ≤ 4 bytes a character
            size = len(msg.data.encode("utf-8"))
        if size > limit:
            raise too_big(size, limit)


def parse_json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise invalid(f"expected a JSON object, got {type(data).__name__}")
    return data


def describe_validation(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


class JsonWriter:
    """Sends JSON messages in order from one task, so producers never await a slow client."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.overflowed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="websocket json writer")

    def send(self, payload: dict[str, Any]) -> None:
        if self._queue.qsize() >= MAX_PENDING_MESSAGES:
            self.overflowed = True
            return
        self._queue.put_nowait(json.dumps(payload, separators=(",", ":")))

    async def _run(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                return  # the peer went away; the receive loop notices and closes the call

    async def drain(self, timeout_s: float = 1.0) -> None:
        """Send what is queued (bounded in time), then stop the writer."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


async def close_socket(ws: web.WebSocketResponse, code: int, message: str) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=code, message=clip_reason(message))
