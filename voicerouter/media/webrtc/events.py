"""The call's events to the page: JSON messages over the peer's "events" data channel.

Messages sent before the channel opens wait in a bounded queue and leave, in order, when it opens. A page
that stops reading is detected (the channel's buffer passes a bound) and reported, never buffered without
end. It never interprets the messages and never closes the peer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel
from aiortc.exceptions import InvalidStateError

log = logging.getLogger(__name__)

EVENTS_LABEL = "events"
MAX_PENDING_MESSAGES = 1000  # queued before the channel opens; the oldest go first past this
MAX_BUFFERED_BYTES = 1024 * 1024  # unsent on an open channel: past this the page is not reading


class EventChannel:
    """One call's outbound message stream; `overflowed` turns true once the page stops reading."""

    def __init__(self, on_overflow: Callable[[], None] | None = None) -> None:
        self._on_overflow = on_overflow
        self.channel: RTCDataChannel | None = None
        self._pending: deque[str] = deque()
        self.dropped = 0
        self.overflowed = False
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    def attach(self, channel: RTCDataChannel) -> None:
        """Use `channel` from now on (the page's first "events" channel; later ones are ignored)."""
        if self.channel is not None:
            return
        self.channel = channel
        channel.bufferedAmountLowThreshold = 0
        channel.on("bufferedamountlow", self._drained.set)
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        if not self.open:
            if len(self._pending) >= MAX_PENDING_MESSAGES:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(text)
            return
        self._send(text)

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until every message was handed to the transport, so closing does not lose them."""
        if not self.open or self.channel is None or self.channel.bufferedAmount == 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout_s)

    def _flush(self) -> None:
        while self._pending and self.open:
            self._send(self._pending.popleft())

    def _send(self, text: str) -> None:
        channel = self.channel
        if channel is None:
            return
        try:
            channel.send(text)
        except InvalidStateError:  # closed between the check and the send
            self.dropped += 1
            return
        if channel.bufferedAmount > 0:
            self._drained.clear()
        if channel.bufferedAmount > MAX_BUFFERED_BYTES and not self.overflowed:
            self.overflowed = True
            log.warning("events channel: %d bytes unsent; the page is not reading", channel.bufferedAmount)
            if self._on_overflow is not None:
                self._on_overflow()
