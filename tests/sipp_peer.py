"""Interop plumbing for the SIPp tests: a minimal asyncio UDP loop around the user agent, and SIPp runs.

The loop is test scaffolding (one SIP socket, one RTP socket, decisions scripted by the test), kept just
large enough to let SIPp, an independent implementation, talk to our objects over real sockets.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from voicerouter.media.sip.dtmf import DtmfDigit
from voicerouter.media.sip.offer_answer import LocalMedia
from voicerouter.media.sip.rtp_session import RtpSession
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip.ua_events import CallEstablished, MediaUpdated, UaEvent
from voicerouter.media.sip.ua_support import UserAgentConfig
from voicerouter.media.sip.useragent import UserAgent

Decide = Callable[["SipLoop", UaEvent], None]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SipLoop:
    decide: Decide
    ua: UserAgent | None = None
    events: list[UaEvent] = field(default_factory=list)
    sessions: dict[str, RtpSession] = field(default_factory=dict)
    digits: list[DtmfDigit] = field(default_factory=list)
    rtp_port: int = 0
    _sip: asyncio.DatagramTransport | None = None
    _rtp: asyncio.DatagramTransport | None = None
    _timer: asyncio.TimerHandle | None = None

    @property
    def port(self) -> int:
        assert self._sip is not None
        return int(self._sip.get_extra_info("sockname")[1])

    def now_ms(self) -> float:
        return asyncio.get_running_loop().time() * 1000.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._on_sip), local_addr=("127.0.0.1", 0)
        )
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._on_rtp), local_addr=("127.0.0.1", 0)
        )
        self.rtp_port = int(self._rtp.get_extra_info("sockname")[1])
        config = UserAgentConfig(advertised_host="127.0.0.1", port=self.port)
        self.ua = UserAgent(config)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()

    def local_media(self) -> LocalMedia:
        return LocalMedia("127.0.0.1", self.rtp_port)

    def pump(self) -> None:
        """Deliver what the user agent wants sent, hand its events to the test, re-arm its timer."""
        assert self.ua is not None and self._sip is not None
        for event in self.ua.events():
            self.events.append(event)
            if isinstance(event, CallEstablished):
                self.sessions[event.call_id] = RtpSession(event.media, ssrc=0x5EED, cname="test@127.0.0.1")
            elif isinstance(event, MediaUpdated) and event.call_id in self.sessions:
                self.sessions[event.call_id].update_media(event.media)
            self.decide(self, event)
        for outbound in self.ua.data_to_send():
            self._sip.sendto(outbound.data, (outbound.destination.host, outbound.destination.port))
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.ua.next_timer_ms()
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline / 1000.0, self._on_timer)

    def _on_timer(self) -> None:
        assert self.ua is not None
        self.ua.on_timer(self.now_ms())
        self.pump()

    def _on_sip(self, data: bytes, source: tuple[str, int]) -> None:
        assert self.ua is not None
        self.ua.receive_datagram(data, Address(source[0], source[1]), self.now_ms())
        self.pump()

    def _on_rtp(self, data: bytes, source: tuple[str, int]) -> None:
        for session in self.sessions.values():
            self.digits += session.receive_rtp(data, Address(source[0], source[1]), self.now_ms())


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)


@dataclass(frozen=True)
class SippResult:
    returncode: int
    stdout: str
    errors: str


async def run_sipp(
    scenario_xml: str | None,
    port: int,
    *,
    builtin: str | None = None,
    user: str = "clinic",
    timeout_s: int = 15,
    extra: tuple[str, ...] = (),
) -> SippResult:
    """Run one SIPp call against 127.0.0.1:`port`; the scenario is written to a temporary directory."""
    with tempfile.TemporaryDirectory() as workdir:
        args = [
            "sipp",
            f"127.0.0.1:{port}",
            "-m",
            "1",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-s",
            user,
            "-mp",
            str(free_udp_port()),
            "-timeout",
            f"{timeout_s}",
            "-timeout_error",
            "-trace_err",
            *extra,
        ]
        if builtin:
            args += ["-sn", builtin]
        else:
            assert scenario_xml is not None
            path = Path(workdir) / "scenario.xml"
            await asyncio.to_thread(path.write_text, scenario_xml)
            args += ["-sf", str(path)]
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout_s + 10)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        logs = [Path(workdir) / name for name in os.listdir(workdir) if name.endswith("_errors.log")]
        errors = "".join([await asyncio.to_thread(log.read_text) for log in logs])
        return SippResult(process.returncode or 0, stdout.decode(errors="replace")[-3000:], errors[-3000:])
