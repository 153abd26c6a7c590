"""Interop with SIPp, an independent SIP implementation, over real UDP sockets on 127.0.0.1.

Each test runs one SIPp scenario against the sans-I/O user agent driven by a minimal asyncio loop, then
fast-forwards the user agent's clock to prove nothing (call, dialog, transaction) was left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator

import pytest

from tests.sipp_peer import SipLoop, run_sipp
from tests.test_sip_message import MALFORMED
from voicerouter.media.sip.ua_events import (
    CallEnded,
    CallEstablished,
    EndReason,
    IncomingCall,
    MediaUpdated,
    UaEvent,
)
from voicerouter.media.sip.useragent import UaCounts

pytestmark = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed"
)

INVITE = """
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
"""


def _in_dialog(method: str, cseq: int, body: str = "") -> str:
    content = "Content-Type: application/sdp\n      " if body else ""
    return f"""
      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      {content}Content-Length: [len]
{body}"""


def _offer(direction: str) -> str:
    return INVITE.split("Content-Length: [len]\n", 1)[1] + f"      a={direction}\n"


def _scenario(*steps: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="voicerouter">\n'
        + "\n".join(steps)
        + "\n</scenario>\n"
    )


def _send(message: str, retrans: bool = False) -> str:
    attributes = ' retrans="500"' if retrans else ""
    return f"<send{attributes}><![CDATA[{message}]]></send>"


ANSWERED = [
    _send(INVITE, retrans=True),
    '<recv response="100" optional="true"/>',
    '<recv response="180" optional="true"/>',
    '<recv response="200" rtd="true"/>',
    _send(_in_dialog("ACK", 1)),
]
OK_TO_BYE = _send("""
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
""")


def _answer_every_call(loop: SipLoop, event: UaEvent) -> None:
    assert loop.ua is not None
    if isinstance(event, IncomingCall):
        if event.user == "nobody":
            loop.ua.reject(event.call_id, 404, loop.now_ms())
        elif event.user == "slow":
            loop.ua.ring(event.call_id, loop.now_ms())
        else:
            loop.ua.ring(event.call_id, loop.now_ms())
            loop.ua.accept(event.call_id, loop.local_media(), loop.now_ms())


def _hang_up_when_established(loop: SipLoop, event: UaEvent) -> None:
    _answer_every_call(loop, event)
    if isinstance(event, CallEstablished):
        call_id = event.call_id

        def hang_up() -> None:
            assert loop.ua is not None
            loop.ua.hangup(call_id, loop.now_ms())
            loop.pump()

        asyncio.get_running_loop().call_later(0.2, hang_up)


@pytest.fixture
async def sip_loop() -> AsyncIterator[SipLoop]:
    loop = SipLoop(_answer_every_call)
    await loop.start()
    yield loop
    loop.stop()


def _assert_nothing_left(loop: SipLoop) -> None:
    assert loop.ua is not None
    loop.ua.on_timer(loop.now_ms() + 40_000)  # let every transaction timer (64*T1 at most) run out
    assert loop.ua.counts() == UaCounts(0, 0, 0, 0)


def _ended(loop: SipLoop) -> list[EndReason]:
    return [e.reason for e in loop.events if isinstance(e, CallEnded)]


async def test_sipp_uac_call_is_answered_and_its_bye_ends_it(sip_loop: SipLoop) -> None:
    result = await run_sipp(None, sip_loop.port, builtin="uac")
    assert result.returncode == 0, result.stdout + result.errors
    (incoming,) = [e for e in sip_loop.events if isinstance(e, IncomingCall)]
    assert incoming.user == "clinic" and incoming.offer is not None
    assert [type(e) for e in sip_loop.events if isinstance(e, CallEstablished)] == [CallEstablished]
    assert _ended(sip_loop) == [EndReason.REMOTE_BYE]
    _assert_nothing_left(sip_loop)


async def test_the_agent_hangs_up_and_sipp_answers_our_bye(sip_loop: SipLoop) -> None:
    sip_loop.decide = _hang_up_when_established
    scenario = _scenario(*ANSWERED, '<recv request="BYE"/>', OK_TO_BYE)
    result = await run_sipp(scenario, sip_loop.port)
    assert result.returncode == 0, result.stdout + result.errors
    await asyncio.sleep(0.1)  # the 200 to our BYE is in flight when SIPp exits
    assert _ended(sip_loop) == [EndReason.LOCAL_BYE]
    _assert_nothing_left(sip_loop)


async def test_sipp_cancels_before_the_answer_and_gets_487(sip_loop: SipLoop) -> None:
    cancel = _send("""
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0
""")
    ack = _send(_in_dialog("ACK", 1).replace("branch=[branch]", "branch=[branch-6]"))
    scenario = _scenario(
        _send(INVITE, retrans=True),
        '<recv response="100" optional="true"/>',
        '<recv response="180"/>',
        cancel,
        '<recv response="200"/>',
        '<recv response="487"/>',
        ack,
    )
    result = await run_sipp(scenario, sip_loop.port, user="slow")
    assert result.returncode == 0, result.stdout + result.errors
    assert _ended(sip_loop) == [EndReason.CANCELLED]
    _assert_nothing_left(sip_loop)


async def test_an_unknown_user_gets_404_and_sipp_acks_it(sip_loop: SipLoop) -> None:
    ack = _send(_in_dialog("ACK", 1).replace("branch=[branch]", "branch=[branch-3]"))
    scenario = _scenario(
        _send(INVITE, retrans=True), '<recv response="100" optional="true"/>', '<recv response="404"/>', ack
    )
    result = await run_sipp(scenario, sip_loop.port, user="nobody")
    assert result.returncode == 0, result.stdout + result.errors
    assert _ended(sip_loop) == [EndReason.REJECTED]
    _assert_nothing_left(sip_loop)


def _expect_in_body(pattern: str, name: str) -> str:
    return f'<action><ereg regexp="{pattern}" search_in="body" check_it="true" assign_to="{name}"/></action>'


async def test_reinvite_hold_and_unhold_are_answered_with_mirrored_directions(sip_loop: SipLoop) -> None:
    scenario = _scenario(
        *ANSWERED,
        _send(_in_dialog("INVITE", 2, _offer("sendonly")), retrans=True),
        f'<recv response="200">{_expect_in_body("a=recvonly", "held")}</recv>',
        _send(_in_dialog("ACK", 2)),
        _send(_in_dialog("INVITE", 3, _offer("sendrecv")), retrans=True),
        f'<recv response="200">{_expect_in_body("a=sendrecv", "resumed")}</recv>',
        _send(_in_dialog("ACK", 3)),
        _send(_in_dialog("BYE", 4), retrans=True),
        '<recv response="200"/>',
        '<Reference variables="held,resumed"/>',
    )
    result = await run_sipp(scenario, sip_loop.port)
    assert result.returncode == 0, result.stdout + result.errors
    updates = [e.media for e in sip_loop.events if isinstance(e, MediaUpdated)]
    assert [(m.on_hold, m.direction.value) for m in updates] == [(True, "recvonly"), (False, "sendrecv")]
    _assert_nothing_left(sip_loop)


async def test_options_ping_is_answered_with_our_capabilities(sip_loop: SipLoop) -> None:
    options = _in_dialog("OPTIONS", 1).replace("[peer_tag_param]", "")
    check = (
        '<action><ereg regexp="INVITE, ACK, BYE" search_in="hdr" header="Allow:"'
        ' check_it="true" assign_to="a"/></action>'
    )
    scenario = _scenario(
        _send(options, retrans=True), f'<recv response="200">{check}</recv>', '<Reference variables="a"/>'
    )
    result = await run_sipp(scenario, sip_loop.port)
    assert result.returncode == 0, result.stdout + result.errors


async def test_malformed_messages_get_their_answers_and_the_next_call_still_works(sip_loop: SipLoop) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        for name, data, answer in MALFORMED:
            if len(data) > 65_000:
                continue  # larger than one UDP datagram can carry
            await loop.sock_sendto(peer, data, ("127.0.0.1", sip_loop.port))
            if answer is None:
                continue
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(peer, 65_535), 2.0)
            assert reply.startswith(f"SIP/2.0 {answer} ".encode()), (
                name,
                reply[:60],
            )  # the status line suffices:
            # some answers echo the peer's own broken headers back, so our strict parser would refuse them
    finally:
        peer.close()
    await asyncio.sleep(0.1)
    result = await run_sipp(None, sip_loop.port, builtin="uac")
    assert result.returncode == 0, result.stdout + result.errors
    assert _ended(sip_loop) == [EndReason.REMOTE_BYE]
    _assert_nothing_left(sip_loop)


@pytest.mark.skipif(os.geteuid() != 0, reason="SIPp plays pcap audio through a raw socket (needs root)")
async def test_rfc4733_dtmf_from_sipp_becomes_one_digit(sip_loop: SipLoop) -> None:
    play = '<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/></action></nop>'
    scenario = _scenario(
        *ANSWERED,
        play,
        '<pause milliseconds="1000"/>',
        _send(_in_dialog("BYE", 2), retrans=True),
        '<recv response="200"/>',
    )
    result = await run_sipp(scenario, sip_loop.port)
    assert result.returncode == 0, result.stdout + result.errors
    assert [(d.digit, d.complete) for d in sip_loop.digits] == [("1", True)]
