"""A gap in the caller's media is silence: a caller whose frames stop right after the last word (a muted mic,
DTX, a player at the end of its file) is answered, and a call without any media ends with `media_timeout`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from tests.serve_kit import QUESTION, needs_espeak, running_server, spoken
from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.caller.client import CallerClient
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
