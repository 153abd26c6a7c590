"""One conversation across three tiers, live: `/ws` and `/twilio` calls whose speech chain starts with a
Realtime model served by the local Realtime server, the offline model behind it.

A speech turn is answered by the Realtime voice from the audio already streamed (commit + response.create, no
TTS: the caller hears the server's tone); a triage turn drops that audio, is answered offline with TTS and is
written back; a barge-in cancels and truncates the voice at the played position; a Realtime error falls back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web

from tests.serve_kit import BARGE_IN, QUESTION, ServerHandle, loudness_dbfs, needs_espeak, spoken
from tests.servers.realtime_server import RealtimeConnection, RealtimeServer
from voicerouter.agent import load_agent
from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.caller.client import CallerClient, CallResult, load_wav
from voicerouter.server import ServeSettings, create_app
from voicerouter.store import read_recording

pytestmark = [needs_espeak, pytest.mark.asyncio(loop_scope="module")]

KEY_ENV = "VOICEROUTER_TEST_REALTIME_KEY"
THANKS = "thank you very much"
PHONE_THANKS = "okay thank you"  # what the offline recogniser gets right from 8 kHz speech
WELCOME = "You're welcome! Is there anything else I can help you with today?"
TONE_HZ = 440.0
RATE_HZ = 16000

CONFIG = """
[models.gpt-realtime]
provider = "openai_realtime"
model = "gpt-realtime"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "{key_env}"

[routing]
triage = ["offline"]
reasoning = ["offline"]
speech = ["gpt-realtime", "offline"]
"""


@asynccontextmanager
async def realtime_call_server(directory: Path, realtime: RealtimeServer) -> AsyncIterator[ServerHandle]:
    """The real app, offline speech engines, with a speech chain that starts at the local Realtime server."""
    config = directory / "voicerouter.toml"
    config.write_text(CONFIG.format(port=realtime.port, key_env=KEY_ENV))
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / "recordings",
                             config_path=str(config), speech="offline")  # fmt: skip
    app = create_app(settings, env={KEY_ENV: "test-key"})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield ServerHandle(url=f"http://{host}:{port}", app=app, recordings=settings.recordings_dir)
    finally:
        await runner.cleanup()


def tone_fraction(pcm16: bytes, rate_hz: int, tone_hz: float = TONE_HZ) -> float:
    """The share of the signal's energy within 15 Hz of `tone_hz`: near 1 for the tone, small for speech."""
    samples = pcm16_to_int16(pcm16).astype(np.float64)
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    band = np.abs(np.fft.rfftfreq(len(samples), 1.0 / rate_hz) - tone_hz) <= 15.0
    return float(power[band].sum() / power.sum())


def voiced(pcm16: bytes, rate_hz: int = RATE_HZ, floor_dbfs: float = -50.0) -> bytes:
    """The 20 ms frames of a signal louder than `floor_dbfs`, joined: what was heard, without the gaps."""
    frame = 2 * rate_hz // 50
    frames = [pcm16[i : i + frame] for i in range(0, len(pcm16) - frame + 1, frame)]
    return b"".join(f for f in frames if loudness_dbfs(f) > floor_dbfs)


def turn_audio(recordings: Path, result: CallResult, turn_id: int, rate_hz: int = RATE_HZ) -> bytes:
    """What the server sent as the agent's voice in one turn, from the call's recorded agent track."""
    started = of_turn(result, "agent.audio_started", turn_id)[0]["t_ms"]
    stopped = of_turn(result, "agent.audio_stopped", turn_id)[0]["t_ms"]
    pcm = load_wav(recordings / f"{result.call_id}.agent.wav", rate_hz)
    return pcm[2 * round(started * rate_hz / 1000) : 2 * round(stopped * rate_hz / 1000)]


def of_turn(result: CallResult, kind: str, turn_id: int) -> list[dict[str, Any]]:
    return [e for e in result.of_type(kind) if e.get("turn_id") == turn_id]


def client_events(conn: RealtimeConnection, *kinds: str) -> list[dict[str, Any]]:
    return [e for e in conn.events if e["type"] in kinds]


def answer_text(result: CallResult, turn_id: int) -> str:
    return str(next(e["text"] for e in of_turn(result, "agent.text", turn_id) if e["final"]))


async def agent_finished(call: CallerClient, turn_id: int, timeout_s: float) -> bool:
    """Until the server says turn `turn_id`'s voice stopped and the caller has heard it out: a caller who
    waited only for a gap in the audio would talk over an answer that a busy machine relays with a stall."""
    stopped = await call.wait_for_event(
        lambda e: e["type"] == "agent.audio_stopped" and e.get("turn_id") == turn_id, timeout_s
    )
    return stopped is not None and await call.wait_for_agent_silence(0.7, timeout_s)


@dataclass
class TwoTierCall:
    result: CallResult
    conn: RealtimeConnection
    recordings: Path
    leaked_tasks: list[str]
    thanks_spoken: tuple[float, float]
    question_spoken: tuple[float, float]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_tier_call(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TwoTierCall]:
    """Greeting, then a speech turn ("thank you very much"), then a triage turn (the clinic question)."""
    directory = tmp_path_factory.mktemp("realtime_voice")
    thanks, question = spoken(THANKS, directory, RATE_HZ), spoken(QUESTION, directory, RATE_HZ)
    async with RealtimeServer(tone_hz=TONE_HZ) as realtime:
        realtime.reply_audio(WELCOME, audio_ms=2500)
        async with realtime_call_server(directory, realtime) as server:
            before = asyncio.all_tasks()
            async with CallerClient(server.url, rate_hz=RATE_HZ) as call:
                assert await agent_finished(call, 0, timeout_s=20.0), "the greeting never finished"
                await call.say(thanks)
                assert await call.wait_for_agent_audio(timeout_s=10.0), "no answer to the thanks"
                assert await agent_finished(call, 1, timeout_s=20.0), "the voice never finished"
                await call.say(question)
                assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer to the question"
                assert await call.wait_for_agent_silence(0.7, timeout_s=30.0), "the answer never finished"
            await server.wait_idle()
            await realtime.wait_until(lambda: all(c.closed for c in realtime.connections), timeout_s=5.0)
            await asyncio.sleep(0.1)  # let the server's connection handler return
            leaked = [t.get_name() for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
        assert len(realtime.connections) == 1
        result = call.result
        yield TwoTierCall(result, realtime.connections[0], server.recordings, leaked, *result.speech_sent[:2])


async def test_session_opens_at_call_start_with_the_agent_prompt_tools_and_the_call_audio_format(
    two_tier_call: TwoTierCall,
) -> None:
    conn = two_tier_call.conn
    update = client_events(conn, "session.update")[0]["session"]
    agent = load_agent("clinic")
    assert update["instructions"] == agent.prompt
    assert {tool["name"] for tool in update["tools"]} == {spec.name for spec in agent.create_tools().specs()}
    assert update["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert update["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert update["audio"]["input"]["turn_detection"] is None  # our endpointer decides turns
    greeting = client_events(conn, "conversation.item.create")[0]["item"]
    assert greeting["role"] == "assistant" and greeting["content"][0]["text"] == agent.greeting


async def test_speech_turn_commits_the_streamed_audio_and_the_caller_hears_the_realtime_voice(
    two_tier_call: TwoTierCall,
) -> None:
    result, conn = two_tier_call.result, two_tier_call.conn
    route = of_turn(result, "route.decided", 1)[0]
    assert (route["tier"], route["model"]) == ("speech", "gpt-realtime")
    kinds = [e["type"] for e in conn.events]
    first_commit = kinds.index("input_audio_buffer.commit")
    assert "input_audio_buffer.append" in kinds[:first_commit]  # the audio was there before the turn ended
    assert kinds[first_commit + 1] == "response.create"  # nothing re-uploaded in between
    spoken_ms = (two_tier_call.thanks_spoken[1] - two_tier_call.thanks_spoken[0]) * 1000
    assert conn.commits[0].audio_ms >= spoken_ms  # the whole utterance, with pre-roll and trailing silence
    assert conn.commits[0].audio_ms < spoken_ms + 2500  # not the greeting's silence before it
    # the caller hears the server's tone, not synthesised speech: no TTS for this turn
    voice = turn_audio(two_tier_call.recordings, result, 1)
    # the scripted 2.5 s of tone, give or take the playout estimate; the window may end in silence (the
    # playout estimate runs on when a busy machine sends late), so loudness is read where there is sound
    heard = voiced(voice)
    assert len(heard) >= RATE_HZ * 2 * 2.0
    assert loudness_dbfs(heard) > -15.0
    assert tone_fraction(voice, RATE_HZ) > 0.9
    assert answer_text(result, 1) == WELCOME
    completed = of_turn(result, "turn.completed", 1)[0]
    assert completed["model"] == "gpt-realtime" and completed["tokens_out"] > 0
    assert of_turn(result, "agent.audio_started", 1) and of_turn(result, "agent.audio_stopped", 1)


async def test_triage_turn_drops_the_buffered_audio_answers_with_tts_and_is_written_back(
    two_tier_call: TwoTierCall,
) -> None:
    result, conn = two_tier_call.result, two_tier_call.conn
    route = of_turn(result, "route.decided", 2)[0]
    assert (route["tier"], route["model"]) == ("triage", "offline")
    kinds = [e["type"] for e in conn.events]
    clear = kinds.index("input_audio_buffer.clear")
    assert "input_audio_buffer.append" in kinds[kinds.index("response.create") : clear]
    assert kinds.count("response.create") == 1 and kinds.count("input_audio_buffer.commit") == 1
    written = [e["item"] for e in client_events(conn, "conversation.item.create")[1:]]
    transcript = str(of_turn(result, "turn.started", 2)[0]["text"])
    assert [(item["role"], item["content"][0]["text"]) for item in written] == [
        ("user", transcript),
        ("assistant", answer_text(result, 2)),
    ]
    assert of_turn(result, "turn.completed", 2)[0]["model"] == "offline"
    spoken_answer = turn_audio(two_tier_call.recordings, result, 2)
    assert loudness_dbfs(spoken_answer) > -35.0
    assert tone_fraction(spoken_answer, RATE_HZ) < 0.2  # speech, not the Realtime tone


async def test_call_end_closes_the_realtime_session_and_leaves_no_task(two_tier_call: TwoTierCall) -> None:
    assert two_tier_call.conn.closed
    assert two_tier_call.leaked_tasks == []


async def test_barge_in_cancels_the_realtime_answer_and_truncates_it_at_the_played_position(
    tmp_path: Path,
) -> None:
    thanks, interruption = spoken(THANKS, tmp_path, RATE_HZ), spoken(BARGE_IN, tmp_path, RATE_HZ)
    long_answer = "You're very welcome. " * 12
    async with RealtimeServer(pace_audio=True, tone_hz=TONE_HZ) as realtime:
        realtime.reply_audio(long_answer.strip(), audio_ms=8000)
        async with realtime_call_server(tmp_path, realtime) as server:
            async with CallerClient(server.url, rate_hz=RATE_HZ) as call:
                assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
                await call.say(thanks)
                assert await call.wait_for_agent_audio(timeout_s=10.0)
                await asyncio.sleep(1.0)
                await call.say(interruption)
                assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer after the interruption"
            await server.wait_idle()
        conn = realtime.connections[0]
    result = call.result
    kinds = [e["type"] for e in conn.events]
    assert kinds.index("response.cancel") < kinds.index("conversation.item.truncate")
    assert len(conn.truncations) == 1  # the server accepted it: audio_end_ms <= the audio it had sent
    cut_ms = conn.truncations[0]["audio_end_ms"]
    assert 1000 <= cut_ms < 8000 - 2000
    interrupted = of_turn(result, "turn.interrupted", 1)
    assert interrupted, [e["type"] for e in result.events]
    heard = str(interrupted[0]["heard_text"])
    assert long_answer.startswith(heard) and len(heard) < len(long_answer) / 2
    assert of_turn(result, "route.decided", 2)  # the interruption is the next turn


async def test_realtime_error_falls_back_to_the_next_model_which_answers_with_tts(tmp_path: Path) -> None:
    thanks = spoken(THANKS, tmp_path, RATE_HZ)
    async with RealtimeServer(tone_hz=TONE_HZ) as realtime:
        realtime.rate_limit(retry_after_s=2.0)
        async with realtime_call_server(tmp_path, realtime) as server:
            async with CallerClient(server.url, rate_hz=RATE_HZ) as call:
                assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
                await call.say(thanks)
                assert await call.wait_for_agent_audio(timeout_s=10.0)
                assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
            await server.wait_idle()
        conn = realtime.connections[0]
    result = call.result
    failed = of_turn(result, "provider.failed", 1)
    assert [(f["model"], f["fallback_to"]) for f in failed] == [("gpt-realtime", "offline")]
    assert "rate_limited" in failed[0]["error"]
    assert of_turn(result, "turn.completed", 1)[0]["model"] == "offline"
    answer = turn_audio(tmp_path / "recordings", result, 1)
    assert loudness_dbfs(answer) > -35.0 and tone_fraction(answer, RATE_HZ) < 0.2
    # the session heard the caller's audio; the fallback's answer is written after it
    written = client_events(conn, "conversation.item.create")[-1]["item"]
    assert (written["role"], written["content"][0]["text"]) == ("assistant", answer_text(result, 1))


async def test_twilio_call_talks_mulaw_to_the_session_and_a_realtime_tool_round_returns_its_output(
    tmp_path: Path,
) -> None:
    thanks = spoken(PHONE_THANKS, tmp_path, 8000)
    async with RealtimeServer(tone_hz=TONE_HZ) as realtime:
        realtime.function_call("clinic_info", {"topic": "hours"}, call_id="call_hours")
        realtime.reply_audio("We are open until noon on Saturdays.", audio_ms=2000)
        async with realtime_call_server(tmp_path, realtime) as server:
            async with CallerClient(server.url, twilio=True) as call:
                assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
                await call.say(thanks)
                assert await call.wait_for_agent_audio(timeout_s=10.0)
                assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
            await server.wait_idle()
        conn = realtime.connections[0]
    result = call.result
    result.events = [e.model_dump(mode="json") for e in read_recording(
        tmp_path / "recordings" / f"{result.call_id}.jsonl").events]  # fmt: skip
    update = client_events(conn, "session.update")[0]["session"]
    assert update["audio"]["input"]["format"] == update["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert conn.commits[0].audio_bytes / conn.commits[0].audio_ms == 8  # µ-law at 8 kHz, no resampling
    tool = of_turn(result, "tool.result", 1)
    assert [(t["name"], t["ok"]) for t in tool] == [("clinic_info", True)]
    items = [(i, e["item"]) for i, e in enumerate(conn.events) if e["type"] == "conversation.item.create"]
    output_at = next(i for i, item in items if item["type"] == "function_call_output")
    output = conn.events[output_at]["item"]
    assert output["call_id"] == "call_hours" and "hours" in output["output"]
    creates = [i for i, e in enumerate(conn.events) if e["type"] == "response.create"]
    assert len(creates) == 2 and creates[0] < output_at < creates[1]  # the result, then the spoken answer
    assert answer_text(result, 1) == "We are open until noon on Saturdays."
    assert of_turn(result, "turn.completed", 1)[0]["model"] == "gpt-realtime"
    voice = turn_audio(tmp_path / "recordings", result, 1, rate_hz=8000)
    assert loudness_dbfs(voice) > -15.0 and tone_fraction(voice, 8000) > 0.9
