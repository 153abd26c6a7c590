"""One WebSocket connection's call, guarded: whatever goes wrong closes that call only, with a reason.

Shared by the native /ws and the Twilio transports; it never reads or writes the socket itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSCloseCode

from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.context import ServeContext
from voicerouter.media.ws.common import ProtocolViolation

log = logging.getLogger(__name__)


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

