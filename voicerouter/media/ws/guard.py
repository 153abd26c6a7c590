"""One WebSocket connection's call, guarded: whatever goes wrong closes that call only, with a reason, and
caller media arriving faster than real time is dropped before it costs anything.

Shared by the native /ws and the Twilio transports; it never reads or writes the socket itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSCloseCode

from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.context import ServeContext
from voicerouter.media.limits import EdgeMetrics, edge_metrics
from voicerouter.media.ws.common import ProtocolViolation, policy

log = logging.getLogger(__name__)

MEDIA_RATE = 1.5  # audio ms admitted per wall-clock ms: real time plus room for clock drift and catch-up
MEDIA_BURST_MS = 1000.0  # audio ahead of real time admitted at once (a jitter buffer flushing after a stall)
FLOOD_CLOSE_MS = 5000.0  # a stream that has had this much audio dropped keeps flooding: close it


class InboundMediaGuard:
    """A token bucket counted in audio milliseconds, for one stream: admits `rate`× real time past a burst,
    counts what it drops and says when a stream keeps flooding. Sans-I/O: it is given `now_s`."""

    def __init__(
        self,
        now_s: float,
        *,
        rate: float = MEDIA_RATE,
        burst_ms: float = MEDIA_BURST_MS,
        close_after_dropped_ms: float = FLOOD_CLOSE_MS,
    ) -> None:
        self.rate = rate
        self.burst_ms = burst_ms
        self.close_after_dropped_ms = close_after_dropped_ms
        self._tokens_ms = burst_ms
        self._updated_s = now_s
        self.dropped_ms = 0.0
        self.dropped_frames = 0

    def admit(self, audio_ms: float, now_s: float) -> bool:
        elapsed_ms = max(0.0, now_s - self._updated_s) * 1000.0
        self._updated_s = now_s
        self._tokens_ms = min(self.burst_ms, self._tokens_ms + elapsed_ms * self.rate)
        if audio_ms <= self._tokens_ms:
            self._tokens_ms -= audio_ms
            return True
        self.dropped_ms += audio_ms
        self.dropped_frames += 1
        return False

    @property
    def flooding(self) -> bool:
        return self.dropped_ms >= self.close_after_dropped_ms


class MediaGate:
    """The guard of one live stream wired to the server's metrics; `await gate.admit(ms)` before decoding."""

    def __init__(
        self, transport: str, metrics: EdgeMetrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.transport = transport
        self.metrics = metrics
        self.clock = clock
        self.guard = InboundMediaGuard(clock())

    @classmethod
    def for_context(cls, transport: str, context: ServeContext) -> MediaGate:
        return cls(transport, edge_metrics(context.services.metrics.registry))

    async def admit(self, audio_ms: float) -> bool:
        """True: feed this frame. False: it was dropped (and the loop was given a turn, so a flood of messages
        already buffered cannot hold it). Raises once the stream keeps flooding."""
        if self.guard.admit(audio_ms, self.clock()):
            return True
        self.metrics.media_dropped_ms.inc(audio_ms, self.transport)
        if self.guard.flooding:
            self.metrics.floods_closed.inc(1, self.transport)
            raise policy(
                f"media arrives faster than real time: {self.guard.dropped_ms / 1000:.1f} s of audio dropped "
                f"(limit {self.guard.rate:g}x real time)"
            )
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

