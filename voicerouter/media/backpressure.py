"""Back-pressure for one inbound media stream, shared by every transport: audio faster than real time is
dropped past a small burst and counted, and a stream that keeps flooding is flagged so its transport ends it.

It never touches a socket or reads a clock of its own: transports give it the time and act on its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from voicerouter.media.limits import EdgeMetrics, edge_metrics
from voicerouter.metrics import Registry

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


class StreamGate:
    """The guard of one live stream wired to the server's metrics: `screen(ms)` before decoding a frame;
    once `flooding`, the transport ends the call (the flood is counted once)."""

    def __init__(
        self, transport: str, metrics: EdgeMetrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.transport = transport
        self.metrics = metrics
        self.clock = clock
        self.guard = InboundMediaGuard(clock())
        self._flood_counted = False

    @classmethod
    def for_registry(cls, transport: str, registry: Registry) -> StreamGate:
        return cls(transport, edge_metrics(registry))

    def screen(self, audio_ms: float) -> bool:
        """True: feed this frame. False: it was dropped (counted; check `flooding`)."""
        if self.guard.admit(audio_ms, self.clock()):
            return True
        self.metrics.media_dropped_ms.inc(audio_ms, self.transport)
        if self.guard.flooding and not self._flood_counted:
            self._flood_counted = True
            self.metrics.floods_closed.inc(1, self.transport)
        return False

    @property
    def flooding(self) -> bool:
        return self.guard.flooding

    def flood_message(self) -> str:
        return (f"media arrives faster than real time: {self.guard.dropped_ms / 1000:.1f} s of audio dropped "
                f"(limit {self.guard.rate:g}x real time)")  # fmt: skip
