"""Back-pressure on SIP/RTP: a real UDP socket sending G.711 RTP ten times faster than real time into a live
call has the excess dropped and counted, and the call is ended with our BYE (`media_flood`)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
from pathlib import Path

import pytest

from tests.sip_serve_kit import SipServer, answer, call_answered, caller_hangs_up, pause, scenario, sip_server
from tests.test_sip_serve import _when_connected, assert_nothing_left, call, metric, only_call
from voicerouter.media.sip_io.call import rtp_audio_ms

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="needs SIPp (apt install sip-tester)")

FLOOD_X = 10.0
FRAME_MS = 20.0


def rtp_packet(sequence: int, ssrc: int = 0x5EED) -> bytes:
    """One 20 ms PCMU packet (version 2, payload type 0) of µ-law silence."""
    header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, (sequence * 160) & 0xFFFFFFFF, ssrc)
    return header + b"\xff" * 160


def test_a_g711_packet_carries_its_payload_in_ms() -> None:
    assert rtp_audio_ms(rtp_packet(1)) == FRAME_MS
    with_csrc = bytes([0x81]) + rtp_packet(1)[1:12] + b"\0" * 4 + b"\xff" * 80
    assert rtp_audio_ms(with_csrc) == 10.0
    assert rtp_audio_ms(b"") == 0.0


async def _flood_rtp(server: SipServer) -> int:
    """Once the call runs, send RTP at FLOOD_X real time to its port until the call ends; packets sent."""
    await _when_connected(server)
    (leg,) = server.sip.legs.values()
    assert leg.sockets is not None
    destination = ("127.0.0.1", leg.sockets.rtp_port)
    loop = asyncio.get_running_loop()
    sent, start = 0, loop.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.setblocking(False)
        while not leg.ending and loop.time() - start < 20.0:
            due = int((loop.time() - start) * 1000.0 / FRAME_MS * FLOOD_X)
            while sent < due:
                sent += 1
                peer.sendto(rtp_packet(sent), destination)
            await asyncio.sleep(0.004)
    return sent


async def test_an_rtp_source_flooding_at_10x_is_dropped_counted_and_sent_a_bye(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        flood = asyncio.create_task(_flood_rtp(server))
        xml = scenario(*call_answered(), '<recv request="BYE" timeout="20000"/>', answer())
        await call(server, xml)
        sent = await flood
        _, events = await only_call(server)
        assert_nothing_left(server)
        dropped_ms = metric(server, 'voicerouter_inbound_media_dropped_ms_total{transport="sip"}')
        assert metric(server, 'voicerouter_inbound_floods_closed_total{transport="sip"}') == 1
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "media_flood"
    assert 5000.0 <= dropped_ms <= sent * FRAME_MS


async def _send_rtp(destination: tuple[str, int], speed: float, ssrc: int, seconds: float) -> int:
    """RTP from a socket of its own (its own source port) at `speed` times real time; packets sent."""
    loop = asyncio.get_running_loop()
    sent, start = 0, loop.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.setblocking(False)
        while loop.time() - start < seconds:
            due = int((loop.time() - start) * 1000.0 / FRAME_MS * speed)
            while sent < due:
                sent += 1
                peer.sendto(rtp_packet(sent, ssrc), destination)
            await asyncio.sleep(0.004)
    return sent


async def test_a_stranger_flooding_the_calls_rtp_port_is_dropped_by_the_sender_check_not_the_flood_limit(
    tmp_path: Path,
) -> None:
    """The caller sends RTP in real time; another address sprays the same port at 10x. The stranger's packets
    are rejected by the latch (they are not the call's media), so they neither count toward the call's flood
    limit nor end the call: it goes on until the caller hangs up."""
    async with sip_server(tmp_path) as server:

        async def caller_and_stranger() -> tuple[int, int, int]:
            await _when_connected(server)
            (leg,) = server.sip.legs.values()
            assert leg.sockets is not None and leg.session is not None
            destination = ("127.0.0.1", leg.sockets.rtp_port)
            caller = asyncio.create_task(_send_rtp(destination, 1.0, 0xCA11, 4.0))
            await asyncio.sleep(0.3)  # the caller's first packets latch the call to its address
            stranger = await _send_rtp(destination, FLOOD_X, 0xBAD, 3.0)
            rejected = leg.session._latch.rejected
            return await caller, stranger, rejected

        both = asyncio.create_task(caller_and_stranger())
        await call(server, scenario(*call_answered(), pause(5500), *caller_hangs_up(2)))
        _, stranger_sent, rejected = await both
        _, events = await only_call(server)
        assert_nothing_left(server)
        dropped_ms = metric(server, 'voicerouter_inbound_media_dropped_ms_total{transport="sip"}')
        floods = metric(server, 'voicerouter_inbound_floods_closed_total{transport="sip"}')
    assert stranger_sent > 1000 and rejected >= stranger_sent * 0.95
    assert dropped_ms == 0.0 and floods == 0.0
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] != "media_flood"
