"""A gap in the caller's media is silence: a caller whose frames stop right after the last word (a muted mic,
DTX, a player at the end of its file) is answered over /ws, /twilio and WebRTC, and a call without any
media ends with `media_timeout`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from aiortc.contrib.media import MediaPlayer

from tests.serve_kit import QUESTION, needs_espeak, running_server, spoken
from tests.webrtc_kit import RtcCaller
from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.caller.client import CallerClient, save_wav
from voicerouter.media.webrtc.track import RATE_HZ
from voicerouter.server import ServeSettings, create_app

pytestmark = needs_espeak

ANSWER_WITHIN_S = 1.5


def without_trailing_silence(pcm16: bytes) -> bytes:
    """Cut the speech right after its last audible sample: the caller's frames stop with the last word."""
    samples = pcm16_to_int16(pcm16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return samples[: int(loud[-1]) + 1].astype("<i2").tobytes()


@pytest.mark.parametrize("twilio", [False, True], ids=["ws", "twilio"])
async def test_a_caller_whose_frames_stop_after_the_last_word_is_answered(
    tmp_path: Path, twilio: bool
) -> None:
    question = without_trailing_silence(spoken(QUESTION, tmp_path, 8000 if twilio else 16000))
    async with running_server(tmp_path) as server:
        async with CallerClient(server.url, twilio=twilio, silence_frames=False) as call:
            assert await call.wait_for_agent_silence(0.7, timeout_s=20.0)
            await call.say(question)  # then not one more frame
            last_word = call.result.speech_sent[-1][1]
            answered = await call.wait_for_agent_audio(timeout_s=20.0)
            answer_at = next((at for at, _ in call.result.audio_arrivals if at > last_word), None)
        await server.wait_idle()
    assert answered and answer_at is not None, "no answer after the caller's frames stopped"
    assert answer_at - last_word < ANSWER_WITHIN_S, (
        f"answered {answer_at - last_word:.2f} s after the last word"
    )


async def test_a_call_without_inbound_media_ends_with_media_timeout(tmp_path: Path) -> None:
    config = tmp_path / "voicerouter.toml"
    config.write_text("[audio]\nmedia_timeout_s = 1.0\n")
    recordings = tmp_path / "recordings"
    settings = ServeSettings(port=0, recordings_dir=recordings, speech="offline", config_path=str(config))
    runner = web.AppRunner(create_app(settings, env={}), shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with CallerClient(f"http://{host}:{port}", silence_frames=False) as call:
            started = time.monotonic()
            await asyncio.wait_for(call.closed.wait(), 10.0)  # the server hangs up
            lasted_s = time.monotonic() - started
        assert call.result.stop_reason == "media_timeout"
        assert lasted_s >= 1.0
        (recording,) = recordings.glob("*.jsonl")
        last = json.loads(recording.read_text().splitlines()[-1])
        assert last["type"] == "call.ended" and last["reason"] == "media_timeout"
    finally:
        await runner.cleanup()


async def test_a_webrtc_caller_playing_a_wav_to_its_end_is_answered(tmp_path: Path) -> None:
    """aiortc's MediaPlayer on a WAV with no trailing silence: its RTP stops with the last word."""
    lead_s = 7.0  # quiet while the greeting plays, then the question, then the file ends
    question = without_trailing_silence(spoken(QUESTION, tmp_path, RATE_HZ))
    wav = tmp_path / "question-to-the-end.wav"
    save_wav(wav, bytes(round(lead_s * RATE_HZ) * 2) + question, RATE_HZ)
    player = MediaPlayer(str(wav))
    assert player.audio is not None
    file_s = lead_s + len(question) / 2 / RATE_HZ
    async with running_server(tmp_path) as server:
        caller = RtcCaller(microphone=player.audio)  # type: ignore[arg-type]
        try:
            await caller.call(server.url)
            last_word = time.monotonic() + file_s  # the player starts as the connection comes up
            await caller.wait_until(
                lambda: time.monotonic() > last_word and _loud_after(caller, last_word) is not None,
                "an answer", timeout_s=file_s + 20.0,
            )  # fmt: skip
            answer_at = _loud_after(caller, last_word)
            assert answer_at is not None
            transcripts = [e["text"] for e in caller.of_type("user.transcript") if e.get("final")]
            events = caller.events
        finally:
            await caller.hang_up()
        await server.wait_idle()
    assert transcripts, f"the question was never transcribed: {[e['type'] for e in events]}"
    assert answer_at - last_word < ANSWER_WITHIN_S, (
        f"answered {answer_at - last_word:.2f} s after the last word"
    )


def _loud_after(caller: RtcCaller, after: float) -> float | None:
    """When the first audible agent frame arrived after `after` (the WebRTC track sends silence between)."""
    audio = caller.agent_audio
    offset = 0
    for at, size in caller.audio_arrivals:
        if at > after and float(np.abs(pcm16_to_int16(bytes(audio[offset : offset + size]))).max()) > 1000:
            return float(at)
        offset += size
    return None
