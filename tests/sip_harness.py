"""Drives a sans-I/O `UserAgent` on a virtual clock for the SIP tests: feed bytes, read what it sends.

Randomness is replaced by a counter so tags and branches are predictable; nothing here touches a socket.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable

from tests.sip_corpus import TRUNK_HOST, TRUNK_PORT
from voicerouter.media.sip.message import SipMessage, SipRequest, SipResponse
from voicerouter.media.sip.parser import parse_datagram
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip.ua_events import UaEvent
from voicerouter.media.sip.ua_support import UserAgentConfig
from voicerouter.media.sip.useragent import UserAgent

TRUNK = Address(TRUNK_HOST, TRUNK_PORT)
TRUNK_NETWORK = ipaddress.ip_network("192.0.2.0/24")


def counter_token() -> Callable[[], str]:
    counter = itertools.count(0x1000)
    return lambda: f"{next(counter):08x}"


class Harness:
    def __init__(self, config: UserAgentConfig | None = None) -> None:
        self.ua = UserAgent(
            config or UserAgentConfig(allowed_sources=(TRUNK_NETWORK,)),
            token=counter_token(),
        )
        self.now_ms = 0.0

    def send(self, data: bytes, source: Address = TRUNK, at_ms: float | None = None) -> None:
        if at_ms is not None:
            self.advance(at_ms)
        self.ua.receive_datagram(data, source, self.now_ms)

    def advance(self, to_ms: float) -> list[tuple[float, SipMessage]]:
        """Run every timer up to `to_ms`; returns what was sent, with the time it was sent."""
        sent: list[tuple[float, SipMessage]] = []
        while (deadline := self.ua.next_timer_ms()) is not None and deadline <= to_ms:
            self.now_ms = max(self.now_ms, deadline)
            self.ua.on_timer(self.now_ms)
            sent += [(self.now_ms, m) for m in self.sent()]
        self.now_ms = max(self.now_ms, to_ms)
        return sent

    def sent(self) -> list[SipMessage]:
        out: list[SipMessage] = []
        for outbound in self.ua.data_to_send():
            parsed = parse_datagram(outbound.data)
            assert parsed is not None
            out.append(parsed)
        return out

    def responses(self) -> list[SipResponse]:
        out = self.sent()
        assert all(isinstance(m, SipResponse) for m in out), out
        return [m for m in out if isinstance(m, SipResponse)]

    def requests(self) -> list[SipRequest]:
        return [m for m in self.sent() if isinstance(m, SipRequest)]

    def events(self) -> list[UaEvent]:
        return self.ua.events()

    def settle(self) -> None:
        """Let every transaction timer run out (64*T1 and T4 are the longest)."""
        self.advance(self.now_ms + 40_000)
