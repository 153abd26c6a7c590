"""Time as the engine sees it: a live call reads a monotonic clock, a replay a virtual one.

Nothing in the engine, router or simulator may read the wall clock directly; they take a `Clock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> float:
        """Milliseconds on a monotonic timeline; only differences are meaningful."""
        ...


class RealClock:
    """Monotonic wall time for live calls."""

    def now_ms(self) -> float:
        return time.monotonic() * 1000.0


class VirtualClock:
    """Time that moves only when the simulator says so, so a ten-minute call replays in microseconds."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> float:
        return self._now_ms

    def advance_to(self, t_ms: float) -> None:
        if t_ms < self._now_ms:
            raise ValueError(f"virtual clock cannot run backwards: {t_ms} < {self._now_ms}")
        self._now_ms = t_ms

    def advance(self, delta_ms: float) -> None:
        self.advance_to(self._now_ms + delta_ms)
