"""End to end over WebRTC with a plain aiortc peer: `POST /offer`, speech in, the agent's voice and events
out; bad offers get a 400; calls leave nothing behind, whether they hang up, never connect or outlive the
server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.serve_kit import QUESTION, ServerHandle, needs_espeak, running_server
from tests.webrtc_kit import RtcCaller, loudness_dbfs, padded_speech, speech_seconds
from voicerouter.media.webrtc import call as webrtc_call
from voicerouter.media.webrtc.call import PeerRegistry
from voicerouter.media.webrtc.signalling import PEERS_KEY

pytestmark = [needs_espeak, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class AnsweredCall:
    server: ServerHandle
    caller: RtcCaller
    question_sent_s: float


def peers(server: ServerHandle) -> PeerRegistry:
    return server.app[PEERS_KEY]


async def wait_no_peers(server: ServerHandle, timeout_s: float = 15.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if not len(peers(server)) and not server.context.calls:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still live after {timeout_s} s: peers {list(peers(server).calls)}, "
                         f"calls {list(server.context.calls)}")  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerHandle]:
    async with running_server(tmp_path_factory.mktemp("webrtc")) as handle:
        yield handle


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def answered(
    server: ServerHandle, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AnsweredCall]:
    """One whole call: the greeting, the spoken question, the answer, then a hang-up as the page does it."""
    question = padded_speech(QUESTION, tmp_path_factory.mktemp("speech"))
    caller = RtcCaller()
    try:
        await caller.call(server.url, agent="clinic")
        await caller.wait_for_event(lambda e: e["type"] == "agent.audio_stopped" and e["turn_id"] == 0,
                                    "end of the greeting")  # fmt: skip
        sent_s = caller.say(question)
        await caller.wait_for_event(lambda e: e["type"] == "agent.text" and e["turn_id"] == 1 and e["final"],
                                    "the answer's text")  # fmt: skip
        await caller.wait_until(lambda: speech_seconds(caller.audio_after(sent_s)) >= 2.0,
                                "two seconds of the spoken answer")  # fmt: skip
        await caller.hang_up_politely()
    finally:
        await caller.hang_up()
    await wait_no_peers(server)
    yield AnsweredCall(server, caller, sent_s)


async def test_spoken_question_is_transcribed_routed_to_triage_and_answered(answered: AnsweredCall) -> None:
    caller = answered.caller
    transcripts = [e["text"] for e in caller.of_type("user.transcript") if e["final"]]
    assert any("saturday" in text for text in transcripts), transcripts
    routes = caller.of_type("route.decided")
    assert [r["tier"] for r in routes] == ["triage"], routes
    assert routes[0]["model"] and routes[0]["reason"]
    answer = [e["text"] for e in caller.of_type("agent.text") if e["turn_id"] == 1 and e["final"]]
    assert answer and "Saturday" in answer[0], answer


async def test_agent_answer_arrives_as_audible_speech(answered: AnsweredCall) -> None:
    audio = answered.caller.audio_after(answered.question_sent_s)
    assert speech_seconds(audio) >= 2.0  # the track sends silence between turns; this counts speech only
    assert loudness_dbfs(audio[-48000 * 2 :]) > -35.0  # the last second heard is the answer, mid-sentence


async def test_events_channel_carries_the_whole_call_then_the_hang_up(answered: AnsweredCall) -> None:
    caller = answered.caller
    kinds = [e["type"] for e in caller.events]
    assert kinds[0] == "call.started" and kinds[-1] == "call.ended"
    assert caller.events[0]["transport"] == "webrtc"
    started = [m for m in caller.messages if m["type"] == "started"]
    assert started and started[0]["call_id"] == caller.events[0]["call_id"]
    assert caller.messages[-1] == {"type": "stop", "reason": "caller hung up"}
    assert caller.of_type("call.ended")[0]["reason"] == "caller hung up"
    assert any(m["type"] == "latency" and m["turn_id"] == 1 for m in caller.messages)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "object"),
        (b'{"type": "offer"}', "sdp"),
        (b'{"sdp": "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n", "type": "answer"}', "type"),
        (b'{"sdp": "hello", "type": "offer"}', "v=0"),
        (
            b'{"sdp": "v=0\\r\\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\\r\\n", "type": "offer"}',
            "m=audio",
        ),
        (b'{"sdp": "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n", "type": "offer"}', "offer SDP rejected"),
        (b'{"sdp": "v=0\\r\\nm=audio 9 x\\r\\n", "type": "offer", "agent": "../etc"}', "agent"),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-sdp",
        "not-offer",
        "not-sdp",
        "no-audio",
        "unparsable-sdp",
        "bad-agent",
    ],
)
async def test_malformed_offer_gets_400_with_a_message(
    server: ServerHandle, body: bytes, message: str
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/offer", data=body,
                                headers={"Content-Type": "application/json"}) as response:  # fmt: skip
            text = await response.text()
        assert response.status == 400, text
        assert message in text, text
        async with session.get(f"{server.url}/healthz") as health:
            assert health.status == 200
    assert not len(peers(server))


async def test_offer_for_an_unknown_agent_gets_400_naming_the_known_ones(server: ServerHandle) -> None:
    caller = RtcCaller()
    try:
        with pytest.raises(AssertionError, match=r"400.*unknown agent 'dentist'.*clinic"):
            await caller.call(server.url, agent="dentist")
    finally:
        await caller.hang_up()
    assert not len(peers(server))


async def test_agents_endpoint_lists_the_shipped_agents(server: ServerHandle) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/agents") as response:
        data = await response.json()
    names = {agent["name"] for agent in data["agents"]}
    assert {"clinic", "helpdesk"} <= names
    assert data["default"] in names
    assert all(agent["display_name"] for agent in data["agents"])


async def test_twenty_calls_in_a_row_leave_no_peer_task_or_thread(server: ServerHandle) -> None:
    async def one_call(polite: bool) -> None:
        """A polite caller asks the server to hang up (the server closes the connection); the other drops."""
        caller = RtcCaller()
        try:
            await caller.call(server.url)
            await caller.wait_until(lambda: len(caller.agent_audio) > 0, "agent audio")
            if polite:
                await caller.hang_up_politely()
                await caller.wait_until(lambda: caller.pc.connectionState == "closed", "server-side close")
        finally:
            await caller.hang_up()
        await wait_no_peers(server)

    await one_call(polite=True)  # warm-up: the loop's worker threads for the codecs start on the first call
    await asyncio.sleep(0.2)
    tasks_before = {t.get_name() for t in asyncio.all_tasks()}
    threads_before = threading.active_count()
    for n in range(20):
        await one_call(polite=n % 2 == 0)
    await asyncio.sleep(0.2)  # let aiortc's own transports finish their last callbacks
    leaked_tasks = [t.get_name() for t in asyncio.all_tasks() if t.get_name() not in tasks_before]
    assert leaked_tasks == []
    assert threading.active_count() <= threads_before + _idle_worker_slots()
    assert not len(peers(server)) and not server.context.calls


def _idle_worker_slots() -> int:
    """Threads the loop's default executor may still start (it grows up to its bound under concurrency)."""
    loop = asyncio.get_running_loop()
    executor = getattr(loop, "_default_executor", None)
    if executor is None:
        return 0
    return int(executor._max_workers) - len(executor._threads)


async def test_peer_that_never_connects_is_freed_after_the_connect_timeout(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webrtc_call, "CONNECT_TIMEOUT_S", 0.5)
    caller = RtcCaller()
    caller.pc.addTrack(caller.microphone)
    await caller.pc.setLocalDescription(await caller.pc.createOffer())
    offer = {"sdp": caller.pc.localDescription.sdp, "type": "offer", "agent": "clinic"}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.url}/offer", json=offer) as response,
        ):
            assert response.status == 200  # answered, but the caller never applies the answer
        assert len(peers(server)) == 1
        await wait_no_peers(server, timeout_s=10.0)
    finally:
        await caller.hang_up()


async def test_server_shutdown_ends_live_webrtc_calls(tmp_path: Path) -> None:
    caller = RtcCaller()
    try:
        async with running_server(tmp_path) as other:
            await caller.call(other.url)
            await caller.wait_until(
                lambda: any(m["type"] == "started" for m in caller.messages), "call start"
            )
            registry = peers(other)
            assert len(registry) == 1
        assert not len(registry)
        await caller.wait_until(lambda: caller.pc.connectionState in ("closed", "failed"), "connection end",
                                timeout_s=15.0)  # fmt: skip
        assert any(m["type"] == "stop" and m["reason"] == "server shutting down" for m in caller.messages)
    finally:
        await caller.hang_up()


async def test_offer_needs_the_token_when_the_server_has_one(tmp_path: Path) -> None:
    async with running_server(tmp_path, token="s3cret") as guarded, aiohttp.ClientSession() as session:
        offer = {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}
        async with session.post(f"{guarded.url}/offer", json=offer) as response:
            assert response.status == 401
        async with session.post(f"{guarded.url}/offer?token=wrong", json=offer) as response:
            assert response.status == 401
        headers = {"Authorization": "Bearer s3cret"}
        async with session.post(f"{guarded.url}/offer", json=offer, headers=headers) as response:
            assert response.status == 400  # past the token check, and this SDP is no real offer
        async with session.post(f"{guarded.url}/offer?token=s3cret", json=offer) as response:
            assert response.status == 401  # a long-lived token in a URL is never accepted
        async with session.get(f"{guarded.url}/") as response:
            assert response.status == 200  # the page stays open; it asks for the token itself
        async with session.get(f"{guarded.url}/agents") as response:
            assert response.status == 401  # what the page lists needs the token too


async def test_offer_beyond_the_call_limit_gets_503(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers(server), "max_calls", 0)
    caller = RtcCaller()
    try:
        with pytest.raises(AssertionError, match="503"):
            await caller.call(server.url)
    finally:
        await caller.hang_up()
    assert not len(peers(server))
