"""The agent's voice reaches each transport converted once, from the voice's own rate to the transport's.

Guards against the old chain espeak-ng 22050 Hz -> 16 kHz -> 48 kHz, which left WebRTC callers with
16 kHz-band audio (nothing above 8 kHz) on a 48 kHz track.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.call.outbound import OutboundAudio
from voicerouter.clock import RealClock
from voicerouter.providers.speech.espeak_tts import EspeakTTS

needs_espeak = pytest.mark.skipif(
    not EspeakTTS.available(),
    reason="espeak-ng binary not on PATH (install it with `apt-get install espeak-ng`)",
)


class _Sink:
    def __init__(self) -> None:
        self.audio = bytearray()

    async def send_audio(self, pcm16: bytes) -> None:
        self.audio += pcm16

    async def send_mark(self, name: str) -> None:
        pass

    async def clear(self) -> None:
        pass


class _FixedRateTone:
    """A voice with one rate only: the outbound side must resample it itself."""

    name = "tone"
    sample_rate_hz = 16_000

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        t = np.arange(self.sample_rate_hz // 5) / self.sample_rate_hz
        yield (np.sin(2 * np.pi * 440.0 * t) * 8000).astype("<i2").tobytes()


async def _speak(tts: object, rate_hz: int, text: str) -> tuple[OutboundAudio, bytes]:
    sink = _Sink()
    played = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: object, name: str) -> object:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        tasks.append(task)
        return task

    outbound = OutboundAudio(
        tts,  # type: ignore[arg-type]
        sink,
        RealClock(),
        rate_hz=rate_hz,
        marks=False,
        spawn=spawn,
        on_turn_started=lambda turn_id: None,
        on_turn_played=lambda turn_id: played.set(),
        on_frame_sent=lambda pcm, sent_ms, late_ms: None,
    )
    runners = [asyncio.create_task(outbound.run_synthesis()), asyncio.create_task(outbound.run_sender())]
    try:
        outbound.speak(0, text)
        outbound.text_final(0, text)
        await asyncio.wait_for(played.wait(), 30)
    finally:
        outbound.close()
        for task in [*runners, *tasks]:
            task.cancel()
        await asyncio.gather(*runners, *tasks, return_exceptions=True)
    return outbound, bytes(sink.audio)


def _band_share(samples: np.ndarray, rate_hz: int, low_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate_hz)
    return float(spectrum[freqs > low_hz].sum() / spectrum.sum())


@needs_espeak
async def test_webrtc_rate_voice_keeps_energy_above_8_khz_and_is_resampled_once() -> None:
    shared = EspeakTTS(sample_rate_hz=16_000)  # the server's one voice, at its default rate
    outbound, audio = await _speak(shared, 48_000, "Sister Susan sells sea shells. Yes, six.")
    # One stage: the voice itself delivers at 48 kHz (espeak-ng 22050 Hz -> 48 kHz), the call adds none.
    assert outbound.tts.sample_rate_hz == 48_000 and not outbound.resamples
    assert shared.sample_rate_hz == 16_000  # other calls still get the shared voice's own rate
    samples = pcm16_to_int16(audio)
    assert len(samples) > 48_000 // 2
    # Sibilants put energy between 8 and 11 kHz; a 16 kHz stage in the chain would leave none above 8 kHz.
    assert _band_share(samples, 48_000, 8_000.0) > 1e-3
    assert _band_share(samples, 48_000, 11_500.0) < 1e-4  # and nothing espeak-ng's 22050 Hz cannot hold


@needs_espeak
async def test_phone_rate_voice_is_synthesised_straight_at_8_khz() -> None:
    outbound, audio = await _speak(EspeakTTS(sample_rate_hz=16_000), 8_000, "We open at nine.")
    assert outbound.tts.sample_rate_hz == 8_000 and not outbound.resamples
    assert len(audio) % 320 == 0 and len(audio) > 0  # whole 20 ms frames at 8 kHz


async def test_a_fixed_rate_voice_is_resampled_by_the_call_to_the_transport_rate() -> None:
    outbound, audio = await _speak(_FixedRateTone(), 48_000, "tone")
    assert outbound.resamples
    samples = pcm16_to_int16(audio)
    assert abs(len(samples) - 48_000 // 5) <= 960  # 200 ms at 48 kHz, padded to whole frames
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples.astype(np.float64)))) * 48_000 / len(samples)
    assert abs(peak_hz - 440.0) < 10.0
