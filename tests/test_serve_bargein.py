"""Barge-in end to end: the caller talks over the agent's answer, the agent's audio stops at once (a `clear`
goes out; Twilio's marks are respected), and the engine keeps only what the caller heard."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.serve_kit import (
    BARGE_IN,
    QUESTION,
    ServerHandle,
    loudness_dbfs,
    needs_espeak,
    running_server,
    spoken,
)
from voicerouter.audio.settings import BargeInConfig
from voicerouter.caller.client import CallerClient, CallResult
from voicerouter.caller.run import fetch_call

pytestmark = needs_espeak

MIN_SPEECH_S = BargeInConfig().min_speech_ms / 1000.0
STOP_WITHIN_S = 0.100


async def barge_in_call(server: ServerHandle, directory: Path, *, twilio: bool) -> CallResult:
    rate = 8000 if twilio else 16000
    question, interruption = spoken(QUESTION, directory, rate), spoken(BARGE_IN, directory, rate)
    async with CallerClient(server.url, twilio=twilio) as call:
        assert await call.wait_for_agent_silence(0.7, timeout_s=20.0), "the greeting never finished"
        await call.say(question)
        assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer to the question"
        await asyncio.sleep(1.0)
        await call.say(interruption)
        assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer after the interruption"
        await asyncio.sleep(0.3)
    await server.wait_idle()
    return call.result


def assert_audio_stopped_promptly(result: CallResult) -> None:
    assert len(result.clears) == 1, result.clears
    clear = result.clears[0]
    barge_first, barge_last = result.speech_sent[1]
    # confirmation needs min_speech_ms of voiced speech: the clear comes after it, and without delay
    assert clear - barge_first < MIN_SPEECH_S + 0.25
    # nothing of the interrupted answer arrives after the clear (the next answer follows the caller's turn)
    late = [
        round(at - clear, 3) for at, _ in result.audio_arrivals if clear + STOP_WITHIN_S < at < barge_last
    ]
    assert late == []
    assert any(
        at < clear for at, _ in result.audio_arrivals if at > barge_first
    )  # it was speaking until then


def assert_only_heard_text_kept(events: list[dict[str, object]]) -> None:
    interrupted = [e for e in events if e["type"] == "turn.interrupted"]
    answer = next(
        str(e["text"]) for e in events if e["type"] == "agent.text" and e["turn_id"] == 1 and e["final"]
    )
    assert interrupted and interrupted[0]["turn_id"] == 1
    heard = str(interrupted[0]["heard_text"])
    assert heard and answer.startswith(heard) and len(heard) < len(answer) / 2, heard
    kinds = [(e["type"], e.get("turn_id")) for e in events]
    assert kinds.index(("agent.audio_stopped", 1)) < kinds.index(("turn.interrupted", 1))
    assert any(
        e["type"] == "route.decided" and e["turn_id"] == 2 for e in events
    )  # the interruption is a turn


async def test_ws_barge_in_stops_the_agent_within_100_ms_and_records_the_interruption(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        result = await barge_in_call(server, tmp_path, twilio=False)
    assert_audio_stopped_promptly(result)
    assert_only_heard_text_kept(result.events)


async def test_twilio_barge_in_sends_clear_and_trusts_only_echoed_marks(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        result = await barge_in_call(server, tmp_path, twilio=True)
        assert result.call_id is not None
        recorded = await fetch_call(server.url, result.call_id)
    assert recorded is not None and recorded["call"]["transport"] == "twilio"
    assert_audio_stopped_promptly(result)
    assert_only_heard_text_kept(recorded["events"])


def voice_burst(pcm16: bytes, rate_hz: int, duration_ms: int) -> bytes:
    """The first `duration_ms` of voice in `pcm16` (leading silence skipped): a cough-length sound."""
    frame = rate_hz // 50 * 2
    start = next(i for i in range(0, len(pcm16), frame) if loudness_dbfs(pcm16[i : i + frame]) > -35.0)
    return pcm16[start : start + rate_hz * duration_ms // 1000 * 2]


@pytest.mark.parametrize("twilio", [False, True], ids=["ws", "twilio"])
async def test_a_cough_while_the_agent_speaks_does_not_interrupt_it(tmp_path: Path, twilio: bool) -> None:
    rate = 8000 if twilio else 16000
    cough = voice_burst(spoken(BARGE_IN, tmp_path, rate), rate, 120)  # under min_speech_ms of voice
    async with running_server(tmp_path) as server:
        async with CallerClient(server.url, twilio=twilio) as call:
            assert await call.wait_for_agent_audio(timeout_s=20.0)  # the greeting
            await asyncio.sleep(0.5)
            await call.say(cough)
            await asyncio.sleep(1.0)
            assert call.agent_speaking()
            assert call.result.clears == []
        await server.wait_idle()
        assert call.result.call_id is not None
        recorded = await fetch_call(call.url, call.result.call_id)
    assert recorded is not None
    kinds = [e["type"] for e in recorded["events"]]
    assert "user.speech_started" not in kinds  # the cough never counted as the caller speaking
    assert kinds.count("agent.audio_stopped") == 1 and kinds[-2:] == ["agent.audio_stopped", "call.ended"]
