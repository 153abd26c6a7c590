"""One WebSocket connection's call, guarded: whatever goes wrong closes that call only, with a reason, and
caller media arriving faster than real time is dropped before it costs anything.

Shared by the native /ws and the Twilio transports; it never reads or writes the socket itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSCloseCode

from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.backpressure import StreamGate
from voicerouter.media.context import ServeContext
from voicerouter.media.limits import edge_metrics
from voicerouter.media.ws.common import ProtocolViolation, policy

log = logging.getLogger(__name__)


class MediaGate(StreamGate):
    """A WebSocket stream's gate: `await gate.admit(ms)` before decoding; a flood closes the socket."""

    @classmethod
    def for_context(cls, transport: str, context: ServeContext) -> MediaGate:
        return cls(transport, edge_metrics(context.services.metrics.registry))

    async def admit(self, audio_ms: float) -> bool:
        """True: feed this frame. False: it was dropped (and the loop was given a turn, so a flood of messages
        already buffered cannot hold it). Raises once the stream keeps flooding."""
        if self.screen(audio_ms):
            return True
        if self.flooding:
            raise policy(self.flood_message())
        await asyncio.sleep(0)
        return False


class FailingTransport(Protocol):
    def fail(self, code: int, message: str) -> None: ...

    async def hang_up(self, reason: str) -> None: ...


class CallSlot:
    """Holds the call a WebSocket connection opened, if it got that far."""

    pipeline: AudioCallPipeline | None = None


async def run_call(
    label: str,
    context: ServeContext,
    transport: FailingTransport,
    body: Callable[[CallSlot], Awaitable[str]],
) -> None:
    """Run one connection's call; whatever goes wrong closes this call only, with a reason, and always
    closes it (or hangs up a connection that never opened one)."""
    slot = CallSlot()
    reason = "caller hung up"
    try:
        reason = await body(slot)
    except ProtocolViolation as exc:
        log.info("%s call closed: %s (%d)", label, exc.message, exc.code)
        if exc.code != WSCloseCode.OK:  # a peer that left before starting broke nothing
            context.services.metrics.call_errors.inc(1, "protocol")
        if exc.code == WSCloseCode.MESSAGE_TOO_BIG:
            edge_metrics(context.services.metrics.registry).refused.inc(1, "ws_message_too_big")
        transport.fail(exc.code, exc.message)
        reason = f"protocol error: {exc.message}"
    except Exception:
        log.exception("%s call failed", label)
        context.services.metrics.call_errors.inc(1, "internal")
        transport.fail(WSCloseCode.INTERNAL_ERROR, "internal error")
        reason = "internal error"
    finally:
        if slot.pipeline is not None:
            await asyncio.shield(context.close_call(slot.pipeline, reason))
        else:
            await transport.hang_up(reason)
