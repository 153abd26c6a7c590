"""One SIP call's RTP and RTCP sockets: a port pair from the configured range, datagrams in, datagrams out.

The thin socket half of a call's audio leg (the sans-I/O `RtpSession` is the other half). It never parses
RTP and never paces anything; it only binds, delivers, sends and closes, and gives its port back.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Callable

from voicerouter.media.sip.transport import Address
from voicerouter.media.sip_io.policy import RtpPortPool

log = logging.getLogger(__name__)

OnDatagram = Callable[[bytes, Address], None]


@functools.lru_cache(maxsize=1024)
def sendable(host: str, port: int) -> bool:
    """An IP literal we may send to: not a name (that would resolve on the loop) and not a hold address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return 0 < port < 65536 and not address.is_unspecified


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: OnDatagram) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, Address(addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a caller that already left: the call's own end handles it.
        log.debug("RTP socket error: %s", exc)


class RtpSocketPair:
    """An even RTP port and RTCP on the next one, bound on `host`, released to the pool on close."""

    def __init__(
        self,
        pool: RtpPortPool,
        port: int,
        rtp: asyncio.DatagramTransport,
        rtcp: asyncio.DatagramTransport,
    ) -> None:
        self.pool = pool
        self.rtp_port = port
        self._rtp = rtp
        self._rtcp = rtcp
        self.closed = False
        self.unsendable = 0

    @classmethod
    async def bind(
        cls, host: str, pool: RtpPortPool, on_rtp: OnDatagram, on_rtcp: OnDatagram
    ) -> RtpSocketPair | None:
        """The first free pair in the pool's order, or None when every port is taken or unbindable."""
        loop = asyncio.get_running_loop()
        for port in pool.candidates():
            try:
                rtp, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(on_rtp), local_addr=(host, port)
                )
            except OSError:
                continue  # another process holds it: try the next pair
            try:
                rtcp, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(on_rtcp), local_addr=(host, port + 1)
                )
            except OSError:
                rtp.close()
                continue
            pool.take(port)
            return cls(pool, port, rtp, rtcp)
        log.warning("no free RTP port pair in the configured range (%d in use)", pool.in_use)
        return None

    def send_rtp(self, data: bytes, destination: Address) -> None:
        self._send(self._rtp, data, destination)

    def send_rtcp(self, data: bytes, destination: Address) -> None:
        self._send(self._rtcp, data, destination)

    def _send(self, transport: asyncio.DatagramTransport, data: bytes, destination: Address) -> None:
        if self.closed or transport.is_closing():
            return
        if not sendable(destination.host, destination.port):
            self.unsendable += 1
            return
        transport.sendto(data, (destination.host, destination.port))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._rtp.close()
        self._rtcp.close()
        self.pool.release(self.rtp_port)
