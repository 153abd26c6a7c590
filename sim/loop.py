"""A discrete-event loop on a `VirtualClock`: callbacks run in time order, time jumps between them.

Single-threaded and deterministic (ties break by scheduling order); it never sleeps or reads real time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from voicerouter.clock import VirtualClock


@dataclass(slots=True)
class _Entry:
    t_ms: float
    seq: int
    callback: Callable[[], None]
    cancelled: bool = False


class Handle:
    __slots__ = ("_entry",)

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry.cancelled = True


class VirtualLoop:
    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock()
        self._queue: list[tuple[float, int, _Entry]] = []  # (time, seq) order; tuples compare in C
        self._seq = 0

    def now_ms(self) -> float:
        return self.clock.now_ms()

    def call_at(self, t_ms: float, callback: Callable[[], None]) -> Handle:
        self._seq += 1
        entry = _Entry(max(t_ms, self.clock.now_ms()), self._seq, callback)
        heapq.heappush(self._queue, (entry.t_ms, entry.seq, entry))
        return Handle(entry)

    def call_later(self, delay_ms: float, callback: Callable[[], None]) -> Handle:
        return self.call_at(self.clock.now_ms() + max(0.0, delay_ms), callback)

    def run(self, *, max_events: int = 1_000_000, until_ms: float | None = None) -> int:
        """Run callbacks in time order until none remain (or a limit); returns how many ran."""
        ran = 0
        while self._queue and ran < max_events:
            entry = self._queue[0][2]
            if until_ms is not None and entry.t_ms > until_ms:
                break
            heapq.heappop(self._queue)
            if entry.cancelled:
                continue
            self.clock.advance_to(entry.t_ms)
            entry.callback()
            ran += 1
        return ran
