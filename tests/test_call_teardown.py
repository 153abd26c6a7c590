"""Closing a call is bounded: a step or task that will not stop is named in the log and left behind, and the
call still ends (here with a speech engine whose streams ignore cancellation, behind the real server)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.serve_kit import needs_espeak
from voicerouter.call.supervisor import stop_tasks, within
from voicerouter.caller.client import CallerClient
from voicerouter.media.context import CONTEXT_KEY
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.registry import TTS_RATE_HZ, SpeechEngines, offline_engines
from voicerouter.server import ServeSettings, create_app


async def _stubborn(release: asyncio.Event, started: asyncio.Event | None = None) -> None:
    """Swallows every cancellation until `release` is set: what a broken provider's clean-up looks like."""
    if started is not None:
        started.set()
    while not release.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()


async def test_a_step_past_its_deadline_is_logged_by_name_and_abandoned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    with caplog.at_level(logging.ERROR):
        finished = await within(0.05, _stubborn(release), what="call c1: closing the session")
    assert finished is False
    assert "call c1: closing the session overran its 0.1 s deadline" in caplog.text
    release.set()
    assert await within(1.0, asyncio.sleep(0), what="a quick step") is True


async def test_a_failing_step_is_logged_and_does_not_stop_the_teardown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise OSError("disk gone")

    with caplog.at_level(logging.ERROR):
        assert await within(1.0, broken(), what="call c2: closing the recording") is True
    assert "call c2: closing the recording failed" in caplog.text and "disk gone" in caplog.text


async def test_tasks_that_ignore_cancel_are_named_and_the_others_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    stuck = asyncio.create_task(_stubborn(release), name="call c3: speech synthesis")
    polite = asyncio.create_task(asyncio.sleep(3600), name="call c3: audio sender")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await stop_tasks([stuck, polite], what="call c3", deadline_s=0.05)
    assert polite.cancelled()
    assert "call c3: 1 task(s) still running" in caplog.text and "speech synthesis" in caplog.text
    release.set()
    await stuck


class StuckClosingTTS:
    """espeak-ng's voice, but a stream that is cut short never finishes closing (until released)."""

    def __init__(self, release: asyncio.Event) -> None:
        self.inner = EspeakTTS(sample_rate_hz=TTS_RATE_HZ)
        self.name = "stuck-closing espeak-ng"
        self.sample_rate_hz = self.inner.sample_rate_hz
        self.release = release
        self.stuck = asyncio.Event()

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(self.inner.synthesize(text)) as chunks:
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                await _stubborn(self.release, self.stuck)


@needs_espeak
async def test_a_speech_engine_that_hangs_on_close_cannot_keep_a_hung_up_call_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    offline = offline_engines()
    tts = StuckClosingTTS(release)
    speech = SpeechEngines(tts, offline.stt_for, closers=(offline.aclose,))
    settings = ServeSettings(port=0, recordings_dir=tmp_path / "recordings", speech="offline")
    app = create_app(settings, speech=speech, env={})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    try:
        with caplog.at_level(logging.ERROR):
            async with CallerClient(url) as call:
                while not call.result.audio_arrivals:  # noqa: ASYNC110 - the greeting's first frame
                    await asyncio.sleep(0.005)
                hung_up = time.monotonic()
            async with aiohttp.ClientSession() as session:
                while True:
                    async with session.get(f"{url}/healthz") as response:
                        if (await response.json())["active_calls"] == 0:
                            break
                    assert time.monotonic() - hung_up < 10.0, "the call never ended"
                    await asyncio.sleep(0.02)
        assert tts.stuck.is_set()  # the engine really was stuck in its clean-up
        assert app[CONTEXT_KEY].calls == {}
        assert "still running" in caplog.text and "speech synthesis" in caplog.text
    finally:
        release.set()
        await runner.cleanup()
