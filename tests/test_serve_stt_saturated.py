"""A pause's early decode is skipped while every recogniser worker is busy, so only the turn's end is
decoded and superseded decodes never queue ahead of turns that need an answer (a real server, a real
WebSocket call)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.serve_kit import QUESTION, needs_espeak, serving, spoken
from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.caller.run import run_call
from voicerouter.providers.speech.base import Transcription
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.registry import SpeechEngines
from voicerouter.server import ServeSettings, create_app

pytestmark = needs_espeak

RATE_HZ = 16000
PAUSE_MS = 300  # past the VAD hangover (a VAD stop), short of the silence that ends a turn without words


class CountingSTT:
    """Hears silence until the whole question is in; says whether its (imaginary) workers are all busy."""

    name = "counting"

    def __init__(self, saturated: bool, whole_ms: float) -> None:
        self.saturated = saturated
        self.whole_ms = whole_ms
        self.decoded_ms: list[float] = []

    async def transcribe(
        self, pcm16: bytes, sample_rate_hz: int, *, hints: Sequence[str] = ()
    ) -> Transcription:
        audio_ms = len(pcm16) / 2 / sample_rate_hz * 1000
        self.decoded_ms.append(audio_ms)
        text = QUESTION if audio_ms >= self.whole_ms else ""
        return Transcription(text=text, confidence=0.9, audio_ms=audio_ms, engine="counting")


def _trimmed(pcm16: bytes) -> bytes:
    """espeak-ng pads its speech with quiet: cut it, so the pause is exactly as long as asked."""
    samples = pcm16_to_int16(pcm16)
    loud = np.flatnonzero(np.abs(samples) > 500)
    return pcm16[2 * loud[0] : 2 * (loud[-1] + 1)]


@pytest.mark.parametrize("saturated", [False, True], ids=["workers-free", "workers-busy"])
async def test_a_pause_is_decoded_early_only_while_a_recogniser_worker_is_free(
    tmp_path: Path, saturated: bool
) -> None:
    half = _trimmed(spoken(QUESTION, tmp_path, RATE_HZ))
    speech = half + bytes(2 * RATE_HZ * PAUSE_MS // 1000) + half
    stt = CountingSTT(saturated, whole_ms=len(speech) / 2 / RATE_HZ * 1000)

    async def build_stt(agent: str) -> CountingSTT:
        return stt

    recordings = tmp_path / "recordings"
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=recordings, speech="offline")
    app = create_app(settings, speech=SpeechEngines(EspeakTTS(sample_rate_hz=RATE_HZ), build_stt), env={})
    async with serving(app, recordings) as server:
        result = await run_call(server.url, speech)
    finals = [e["text"] for e in result.events if e.get("type") == "user.transcript" and e.get("final")]
    assert QUESTION in finals, result.events  # the whole question was heard either way
    questions = [ms for ms in stt.decoded_ms if ms >= stt.whole_ms]
    early = [ms for ms in stt.decoded_ms if ms < stt.whole_ms]
    assert len(questions) == 1
    if saturated:
        assert early == []  # the pause was not decoded: one decode, at the end of the turn
    else:
        assert early  # the pause's words were asked for as soon as the VAD stopped
