"""The asyncio loop around one sans-I/O SIP user agent: its UDP and TCP sockets, its one timer, its output.

Bytes and time go in, what the user agent wants sent goes out (names resolved off the loop), and its events
go to the endpoint's handler. Every call into the user agent goes through `decide()`, which never raises:
a decision about a call that just ended is ignored, anything else is logged. It makes no call decisions.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from voicerouter import workers
from voicerouter.media.sip import IllegalCallTransition, Outbound, Transport, UaEvent, UnknownCall, UserAgent
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip_io.rtp_sockets import sendable
from voicerouter.media.sip_io.tcp import SipTcpServer

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 5.0
T = TypeVar("T")


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, Address(addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("sip udp: %s", exc)


class UserAgentLoop:
    def __init__(self, on_event: Callable[[UaEvent], None]) -> None:
        self._on_event = on_event
        self.ua: UserAgent | None = None
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp = SipTcpServer(self._on_tcp_message, self._on_tcp_parse_error)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at_ms: float | None = None
        self._pumping = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def tcp_connections(self) -> int:
        return self._tcp.connections

    @property
    def task_count(self) -> int:
        return len(self._tasks) + self._tcp.task_count

    def now_ms(self) -> float:
        return asyncio.get_running_loop().time() * 1000.0

    async def open(self, host: str, port: int) -> int:
        """Bind UDP on `port` (0: any) and TCP on the same number; returns the port."""
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_datagram), local_addr=(host, port),
            reuse_port=workers.reuse_port() or None,
        )
        self.port = int(self._udp.get_extra_info("sockname")[1])
        try:
            await self._tcp.start(host, self.port)
        except OSError:
            self._udp.close()
            raise
        return self.port

    def attach(self, ua: UserAgent) -> None:
        self.ua = ua
        self.pump()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._tcp.aclose()
        if self._udp is not None:
            self._udp.close()

    # ---- into the user agent

    def decide(self, action: Callable[[UserAgent], T]) -> T | None:
        """Run one call into the user agent, then dispatch and send what it produced; never raises."""
        ua = self.ua
        if ua is None:
            return None
        result: T | None = None
        try:
            result = action(ua)
        except (UnknownCall, IllegalCallTransition) as exc:
            log.debug("sip: %s", exc)  # a decision about a call that just ended: nothing to do
        except Exception:
            log.exception("sip: user agent failed")
        self.pump()
        return result

    def _on_datagram(self, data: bytes, source: Address) -> None:
        self.decide(lambda ua: ua.receive_datagram(data, source, self.now_ms()))

    def _on_tcp_message(self, message: Any, source: Address) -> None:
        self.decide(lambda ua: ua.receive_message(message, source, Transport.TCP, self.now_ms()))

    def _on_tcp_parse_error(self, error: Any, source: Address) -> None:
        self.decide(lambda ua: ua.receive_parse_error(error, source, Transport.TCP))

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at_ms = None
        self.decide(lambda ua: ua.on_timer(self.now_ms()))

    # ---- out of the user agent

    def pump(self) -> None:
        if self._pumping or self.ua is None:
            return  # the outer pump picks up whatever this nested call produced
        self._pumping = True
        try:
            while events := self.ua.events():
                for event in events:
                    try:
                        self._on_event(event)
                    except Exception:
                        log.exception("sip: handling %s failed", type(event).__name__)
            for outbound in self.ua.data_to_send():
                self._send(outbound)
        finally:
            self._pumping = False
        self._arm_timer(self.ua.next_timer_ms())

    def _arm_timer(self, deadline_ms: float | None) -> None:
        if deadline_ms == self._timer_at_ms:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at_ms = deadline_ms
        if deadline_ms is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline_ms / 1000.0, self._on_timer)

    def _send(self, outbound: Outbound) -> None:
        destination = outbound.destination
        if not sendable(destination.host, destination.port) and destination.port > 0:
            self._spawn(self._resolve_and_send(outbound), f"sip resolve {destination.host}")
        elif outbound.transport is Transport.UDP:
            if self._udp is not None and not self._udp.is_closing():
                self._udp.sendto(outbound.data, (destination.host, destination.port))
        else:
            self._tcp.send(outbound.data, destination)

    async def _resolve_and_send(self, outbound: Outbound) -> None:
        """A destination given by name (a registrar, a transfer target's proxy): resolve it off the loop."""
        host, port = outbound.destination
        loop = asyncio.get_running_loop()
        kind = socket.SOCK_DGRAM if outbound.transport is Transport.UDP else socket.SOCK_STREAM
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, family=socket.AF_INET, type=kind), RESOLVE_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            log.warning("sip: cannot resolve %s: %s; message dropped", host, exc)
            return
        if infos:
            address = Address(str(infos[0][4][0]), port)
            self._send(Outbound(outbound.data, address, outbound.transport))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
