"""Where SIP bytes come from and go to: the address and transport names the sans-I/O layers hand out.

These are plain values for the socket layer to act on; nothing here opens a socket or resolves a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Transport(StrEnum):
    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"

    @property
    def reliable(self) -> bool:
        """Reliable transports carry no retransmissions: the RFC 3261 timers that resend are zeroed."""
        return self is not Transport.UDP


class Address(NamedTuple):
    """An IP literal (or, for destinations the socket layer resolves, a host name) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Outbound:
    """Bytes the socket layer must write: one datagram over UDP, a framed message over TCP/TLS."""

    data: bytes
    destination: Address
    transport: Transport
