"""Phone calls into `voicerouter serve` over SIP/RTP, with SIPp as the independent caller on 127.0.0.1.

Each test runs the real app (offline speech, offline agent model) with SIP on a free port and one SIPp
scenario against it, then reads what the server did: its recording and `/calls`, its metrics, and its
SIP endpoint's live-object counts (nothing may be left once a call is over).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.serve_kit import QUESTION, loudness_dbfs, needs_espeak, spoken
from tests.sip_serve_kit import (
    SipServer,
    answer,
    call_answered,
    caller_hangs_up,
    expect_body,
    expect_header,
    invite,
    pause,
    play_pcap,
    raw_ulaw,
    request,
    scenario,
    send,
    sip_server,
    stream_audio,
)
from tests.sipp_peer import SippResult, run_sipp
from tests.test_sip_message import MALFORMED
from voicerouter.caller.client import load_wav
from voicerouter.media.sip_io.endpoint import EndpointCounts

pytestmark = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed"
)

SILENT_PACKET = b"\xff" * 160  # 20 ms of µ-law silence
NOTHING_LEFT = EndpointCounts(calls=0, dialogs=0, transactions=0, legs=0, rtp_ports=0, tcp_connections=0,
                              tasks=0)  # fmt: skip


async def call(server: SipServer, xml: str | None, *, user: str = "clinic", timeout_s: int = 30,
               builtin: str | None = None, extra: tuple[str, ...] = ()) -> SippResult:  # fmt: skip
    result = await run_sipp(xml, server.port, builtin=builtin, user=user, timeout_s=timeout_s,
                            extra=("-mi", "127.0.0.1", *extra))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.errors
    return result


async def calls_index(server: SipServer) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/calls") as response:
        body: dict[str, list[dict[str, Any]]] = await response.json()
    return body["calls"]


async def recorded(server: SipServer, call_id: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/calls/{call_id}") as response:
        assert response.status == 200
        body: dict[str, list[dict[str, Any]]] = await response.json()
    return body["events"]


async def only_call(server: SipServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    await server.wait_idle()
    (row,) = await calls_index(server)
    return row, await recorded(server, row["call_id"])


def assert_nothing_left(server: SipServer) -> None:
    endpoint = server.sip
    endpoint.run_timers(endpoint.now_ms() + 40_000)  # every transaction timer (64*T1 at most) runs out
    assert endpoint.counts() == NOTHING_LEFT
    assert not server.context.calls


def metric(server: SipServer, name: str) -> float:
    for line in server.context.services.metrics.render().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _tap_rtp(server: SipServer, wire: list[bytes | None]) -> None:
    """Log every RTP payload the call sends, and None where the pipeline clears the agent's audio."""
    await _when_connected(server)
    (leg,) = server.sip.legs.values()
    sockets, transport = leg.sockets, leg.transport
    assert sockets is not None
    send_rtp, clear = sockets.send_rtp, transport.clear

    def logged_send(data: bytes, destination: Any) -> None:
        wire.append(data[12:])
        send_rtp(data, destination)

    async def logged_clear() -> None:
        wire.append(None)
        await clear()

    sockets.send_rtp = logged_send  # type: ignore[method-assign]
    transport.clear = logged_clear  # type: ignore[method-assign]


@needs_espeak
async def test_a_phone_caller_asks_about_saturday_and_hears_the_triage_answer_paced_over_rtp(
    tmp_path: Path,
) -> None:
    question = raw_ulaw(spoken(QUESTION, tmp_path, 8000), tmp_path, "question")
    wire: list[bytes | None] = []
    async with sip_server(tmp_path) as server:
        tap = asyncio.create_task(_tap_rtp(server, wire))
        xml = scenario(*call_answered(), stream_audio(question), pause(9000), *caller_hangs_up(2))
        await call(server, xml)
        await tap
        row, events = await only_call(server)
        sent = metric(server, "voicerouter_sip_rtp_packets_sent_total")
        late = metric(server, "voicerouter_sip_rtp_packets_late_total")
        received = metric(server, "voicerouter_sip_rtp_packets_received_total")
        assert_nothing_left(server)

    assert row["transport"] == "sip" and row["agent"] == "clinic"
    transcripts = [e["text"] for e in events if e["type"] == "user.transcript" and e["final"]]
    assert any("saturday" in text for text in transcripts), transcripts
    routes = [e for e in events if e["type"] == "route.decided"]
    assert [r["tier"] for r in routes] == ["triage"]
    answer_text = " ".join(e["text"] for e in events if e["type"] == "agent.text" and e["turn_id"] == 1)
    assert "Saturday" in answer_text
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "caller hung up"
    # The caller's stream arrived whole, and the agent's went out continuously on its RTP timeline: about
    # 9 s of call is about 450 packets of 20 ms, voice or silence, none later than one packet time.
    assert received >= len(question.read_bytes()) // 160 - 1
    assert 350 <= sent <= 520, sent
    assert late <= sent * 0.01, (late, sent)
    started = next(e["t_ms"] for e in events if e["type"] == "agent.audio_started" and e["turn_id"] == 1)
    agent = load_wav(tmp_path / "recordings" / f"{row['call_id']}.agent.wav", 8000)
    answer_audio = agent[started * 16 : (started + 2000) * 16]
    assert loudness_dbfs(answer_audio) > -35.0, "the answer sent over RTP is silent"
    # The caller talked over the greeting: the packet after the barge-in's clear is already silence.
    assert None in wire, "the greeting was not barged in"
    cleared = wire.index(None)
    assert any(p != SILENT_PACKET for p in wire[:cleared] if p is not None), "no greeting was sent"
    assert wire[cleared + 1] == SILENT_PACKET


async def test_a_digest_challenged_caller_gets_in_with_the_right_md5_password(tmp_path: Path) -> None:
    authorized = request("INVITE", 2, body=invite().split("Content-Length: [len]\n", 1)[1], in_dialog=False,
                         extra="[authentication username=trunk password=s3cret]")  # fmt: skip
    env = {"TRUNK_PASSWORD": "s3cret"}
    auth = {"auth_users_env": {"trunk": "TRUNK_PASSWORD"}, "auth_algorithms": ["MD5"]}  # SIPp 3.6: MD5 only
    async with sip_server(tmp_path, env, **auth) as server:
        xml = scenario(
            send(invite(), retrans=True),
            '<recv response="100" optional="true"/>',
            '<recv response="401" auth="true"/>',
            send(request("ACK", 1)),
            send(authorized, retrans=True),
            '<recv response="100" optional="true"/>',
            '<recv response="180" optional="true"/>',
            '<recv response="200"/>',
            send(request("ACK", 2)),
            pause(300),
            *caller_hangs_up(3),
        )
        await call(server, xml)
        row, _ = await only_call(server)
        assert_nothing_left(server)
    assert row["transport"] == "sip"


async def _when_connected(server: SipServer, timeout_s: float = 10.0) -> Any:
    """The first call's pipeline, once its SIP leg is answered and its audio runs."""
    for _ in range(int(timeout_s / 0.02)):
        if server.context.calls:
            return next(iter(server.context.calls.values()))
        await asyncio.sleep(0.02)
    raise AssertionError("no call connected")


@needs_espeak
async def test_a_caller_whose_rtp_stops_right_after_the_last_word_is_answered(tmp_path: Path) -> None:
    """SIPp streams the question (no trailing silence), then sends no RTP at all: the answer still comes."""
    from tests.test_media_gaps import without_trailing_silence

    question = raw_ulaw(without_trailing_silence(spoken(QUESTION, tmp_path, 8000)), tmp_path, "question")
    async with sip_server(tmp_path) as server:
        xml = scenario(
            *call_answered(), pause(6000), stream_audio(question), pause(6000), *caller_hangs_up(2)
        )
        await call(server, xml)
        row, events = await only_call(server)
        caller = load_wav(server.recordings / f"{row['call_id']}.caller.wav", 8000)
        assert_nothing_left(server)
    samples = np.frombuffer(caller, dtype="<i2").astype(np.int32)
    last_word_ms = float(np.flatnonzero(np.abs(samples) > 1000)[-1]) / 8.0  # on the call's timeline
    answers = [e["t_ms"] for e in events if e["type"] == "agent.audio_started" and e["turn_id"] == 1]
    assert answers, [e["type"] for e in events]
    assert answers[0] - last_word_ms < 1500, (
        f"answered {answers[0] - last_word_ms:.0f} ms after the last word"
    )


async def test_a_caller_whose_rtp_stops_gets_our_bye_after_the_media_timeout(tmp_path: Path) -> None:
    async with sip_server(tmp_path, audio={"media_timeout_s": 1.0}) as server:
        xml = scenario(
            *call_answered(), '<recv request="BYE" timeout="15000"/>', answer()
        )  # SIPp sends no RTP
        await call(server, xml)
        _, events = await only_call(server)
        assert_nothing_left(server)
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "media_timeout"


async def test_the_agent_hangs_up_and_sipp_answers_our_bye(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:

        async def agent_hangs_up() -> None:
            pipeline = await _when_connected(server)
            await asyncio.sleep(0.5)
            pipeline.close_soon("agent ended the call")

        hang_up = asyncio.create_task(agent_hangs_up())
        xml = scenario(*call_answered(), '<recv request="BYE"/>', answer())
        await call(server, xml)
        await hang_up
        _, events = await only_call(server)
        await asyncio.sleep(0.1)  # SIPp's 200 to our BYE may still be in flight when it exits
        assert_nothing_left(server)
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "agent ended the call"


async def test_cancel_before_the_answer_gets_487_and_opens_no_call(tmp_path: Path) -> None:
    cancel = request("CANCEL", 1, in_dialog=False, branch="[branch-3]")
    ack = request("ACK", 1, in_dialog=True, branch="[branch-6]")
    async with sip_server(tmp_path, ring_ms=5000) as server:
        xml = scenario(
            send(invite(), retrans=True),
            '<recv response="100" optional="true"/>',
            '<recv response="180"/>',
            send(cancel),
            '<recv response="200"/>',
            '<recv response="487"/>',
            send(ack),
        )
        await call(server, xml)
        await server.wait_idle()
        assert await calls_index(server) == []
        assert metric(server, 'voicerouter_sip_calls_total{outcome="answered"}') == 0
        assert metric(server, 'voicerouter_sip_calls_total{outcome="cancelled"}') == 1
        assert_nothing_left(server)


async def test_an_unknown_user_gets_404_and_a_configured_number_reaches_its_agent(tmp_path: Path) -> None:
    ack = request("ACK", 1, branch="[branch-3]")
    async with sip_server(tmp_path, numbers={"+1 (555) 010-0200": "helpdesk"}) as server:
        refused = scenario(send(invite(), retrans=True), '<recv response="100" optional="true"/>',
                           '<recv response="404"/>', send(ack))  # fmt: skip
        await call(server, refused, user="nobody")
        await call(server, scenario(*call_answered(), pause(300), *caller_hangs_up(2)), user="+15550100200")
        row, _ = await only_call(server)
        assert_nothing_left(server)
    assert row["agent"] == "helpdesk" and row["transport"] == "sip"


async def test_invites_from_outside_the_allowed_networks_get_403(tmp_path: Path) -> None:
    ack = request("ACK", 1, branch="[branch-3]")
    async with sip_server(tmp_path, allowed_sources=["192.0.2.0/24"]) as server:
        xml = scenario(send(invite(), retrans=True), '<recv response="100" optional="true"/>',
                       '<recv response="403"/>', send(ack))  # fmt: skip
        await call(server, xml)
        assert_nothing_left(server)


async def test_a_source_over_its_rate_limit_gets_503_with_retry_after(tmp_path: Path) -> None:
    ack = request("ACK", 1, branch="[branch-3]")
    retry = expect_header("Retry-After:", "[0-9]+", "retry")
    async with sip_server(tmp_path, burst_per_source=1, calls_per_minute_per_source=1) as server:
        await call(server, scenario(*call_answered(), pause(200), *caller_hangs_up(2)))
        xml = scenario(send(invite(), retrans=True), '<recv response="100" optional="true"/>',
                       f'<recv response="503">{retry}</recv>', send(ack),
                       '<Reference variables="retry"/>')  # fmt: skip
        await call(server, xml)
        await server.wait_idle()
        assert len(await calls_index(server)) == 1
        assert_nothing_left(server)


async def test_hold_stops_our_rtp_and_unhold_resumes_it(tmp_path: Path) -> None:
    samples: list[tuple[str, int]] = []

    async def watch(server: SipServer) -> None:
        await _when_connected(server)
        while server.sip.legs:
            for leg in list(server.sip.legs.values()):
                if leg.session is not None:
                    samples.append((leg.session.media.direction.value, leg.session.sender.packets_sent))
            await asyncio.sleep(0.05)

    async with sip_server(tmp_path) as server:
        watcher = asyncio.create_task(watch(server))
        sdp = invite().split("Content-Length: [len]\n", 1)[1]
        hold = request("INVITE", 2, body=sdp + "      a=sendonly\n")
        resume = request("INVITE", 3, body=sdp)
        xml = scenario(
            *call_answered(),
            pause(1000),
            send(hold, retrans=True),
            f'<recv response="200">{expect_body("a=recvonly", "held")}</recv>',
            send(request("ACK", 2)),
            pause(1500),
            send(resume, retrans=True),
            f'<recv response="200">{expect_body("a=sendrecv", "resumed")}</recv>',
            send(request("ACK", 3)),
            pause(1000),
            *caller_hangs_up(4),
            '<Reference variables="held,resumed"/>',
        )
        await call(server, xml)
        await server.wait_idle()
        await watcher
        assert_nothing_left(server)
    held = [sent for direction, sent in samples if direction == "recvonly"]
    resumed_at = max(i for i, (direction, _) in enumerate(samples) if direction == "recvonly") + 1
    after = [sent for direction, sent in samples[resumed_at:] if direction == "sendrecv"]
    assert len(held) >= 10 and min(held) == max(held), "RTP kept flowing while the caller held the call"
    assert after and after[-1] > held[-1] + 20, "RTP did not resume after unhold"


@pytest.mark.skipif(os.geteuid() != 0, reason="SIPp plays pcap audio through a raw socket (needs root)")
async def test_pressing_0_records_the_key_and_transfers_the_caller_with_refer(tmp_path: Path) -> None:
    refer_to = expect_header("Refer-To:", "sip:\\+15550001111@127\\.0\\.0\\.1", "target")
    notify = request(
        "NOTIFY", 2, body="\n      SIP/2.0 200 OK\n", content_type="message/sipfrag",
        extra="Event: refer\n      Subscription-State: terminated;reason=noresource",
    )  # fmt: skip
    async with sip_server(tmp_path, transfer_target="+15550001111") as server:
        xml = scenario(
            *call_answered(),
            play_pcap("/usr/share/sip-tester/dtmf_2833_0.pcap"),
            f'<recv request="REFER">{refer_to}</recv>',
            answer("202 Accepted"),
            send(notify, retrans=True),
            '<recv response="200"/>',
            '<recv request="BYE"/>',
            answer(),
            '<Reference variables="target"/>',
        )
        await call(server, xml)
        _, events = await only_call(server)
        await asyncio.sleep(0.1)
        assert_nothing_left(server)
    assert [e["digit"] for e in events if e["type"] == "user.dtmf"] == ["0"]
    assert [e["target"] for e in events if e["type"] == "call.transferred"] == ["sip:+15550001111@127.0.0.1"]
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "transferred"


async def test_the_malformed_corpus_is_answered_and_the_next_call_is_served(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        corpus = [*MALFORMED, ("unknown method", _unknown_method(), 501), ("bad SDP", _bad_sdp_invite(), 400)]
        try:
            for name, data, status in corpus:
                if len(data) > 65_000:
                    continue  # more than one UDP datagram carries
                await loop.sock_sendto(peer, data, ("127.0.0.1", server.port))
                if status is None:
                    continue
                reply, _ = await asyncio.wait_for(loop.sock_recvfrom(peer, 65_535), 2.0)
                assert reply.startswith(f"SIP/2.0 {status} ".encode()), (name, reply[:60])
        finally:
            peer.close()
        drops = metric(server, 'voicerouter_sip_messages_rejected_total{status="drop"}')
        await call(server, scenario(*call_answered(), pause(300), *caller_hangs_up(2)))
        row, _ = await only_call(server)
        assert_nothing_left(server)
    assert row["transport"] == "sip"
    assert drops == sum(1 for _, _, status in corpus if status is None), "every dropped message is logged"


def _unknown_method() -> bytes:
    from tests.sip_corpus import OUR_HOST, invite_headers, message

    return message(f"FROBNICATE sip:clinic@{OUR_HOST} SIP/2.0", invite_headers(method="FROBNICATE"))


def _bad_sdp_invite() -> bytes:
    from tests.sip_corpus import trunk_invite

    return trunk_invite("v=0\r\nthis is not sdp\r\n", call_id="bad-sdp@192.0.2.10")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_twenty_back_to_back_calls_leave_no_dialog_transaction_socket_or_task(tmp_path: Path) -> None:
    xml = scenario(*call_answered(), pause(200), *caller_hangs_up(2))
    async with sip_server(tmp_path) as server:
        await call(server, xml)  # warm-up: the recogniser, the call store and the agent's tools load once
        await server.wait_idle()
        fds, tasks = _open_fds(), len(asyncio.all_tasks())
        await call(server, xml, extra=("-m", "20", "-l", "1"), timeout_s=60)
        await server.wait_idle()
        assert len(await calls_index(server)) == 21
        assert_nothing_left(server)
        await asyncio.sleep(0.1)
        assert len(asyncio.all_tasks()) <= tasks
        assert _open_fds() <= fds


async def test_a_call_over_tcp_is_answered_and_hung_up_on_the_same_connection(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        await call(server, scenario(*call_answered(), pause(500), *caller_hangs_up(2)), extra=("-t", "t1"))
        row, _ = await only_call(server)
        await asyncio.sleep(0.1)  # SIPp closes its connection as it exits
        assert_nothing_left(server)
    assert row["transport"] == "sip"
