"""Per-frame CPU cost of the audio layer, and how many live calls one core can carry on the inbound path.

A plain script, run from the repository root (`PYTHONPATH=. python benchmarks/bench_audio.py`), prints JSON;
`main()` returns the same numbers. It never touches the network or the disk.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from voicerouter.audio import g711
from voicerouter.audio.bargein import BargeInDetector
from voicerouter.audio.endpoint import Endpointer
from voicerouter.audio.resample import BlockResampler, Resampler
from voicerouter.audio.vad import VoiceActivityDetector

FRAME_MS = 20
FRAMES_PER_RUN = 1000
RUNS = 5
T = TypeVar("T")
Int16Array = npt.NDArray[np.int16]


def _speech_like(rate_hz: int, seconds: float, seed: int = 0) -> Int16Array:
    """Harmonics of a wandering 120 Hz pitch under a syllable envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    pitch_hz = 120.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25) if k * 140 < rate_hz / 2)
    envelope = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    x = voiced * envelope + 0.05 * rng.standard_normal(len(t))
    return np.rint(x / np.abs(x).max() * 0.3 * 32767).astype(np.int16)


def _frames(samples: Int16Array, rate_hz: int) -> list[Int16Array]:
    step = rate_hz * FRAME_MS // 1000
    return [samples[i : i + step] for i in range(0, len(samples) - step + 1, step)]


def _us_per_frame(work: Callable[[int], object]) -> float:
    """Median over runs of the mean cost of `work(i)` for FRAMES_PER_RUN frames, in microseconds."""
    results = []
    for _ in range(RUNS):
        start_ns = time.perf_counter_ns()
        for i in range(FRAMES_PER_RUN):
            work(i)
        results.append((time.perf_counter_ns() - start_ns) / FRAMES_PER_RUN / 1000.0)
    return round(statistics.median(results), 2)


def _cycle(items: list[T]) -> Callable[[int], T]:
    return lambda i: items[i % len(items)]


def main() -> dict[str, float | int | str]:
    seconds = FRAMES_PER_RUN * FRAME_MS / 1000
    pcm8 = _frames(_speech_like(8000, seconds), 8000)
    pcm16 = _frames(_speech_like(16000, seconds), 16000)
    pcm48 = _frames(_speech_like(48000, seconds), 48000)
    ulaw8 = [g711.encode_ulaw(f) for f in pcm8]
    bytes16 = [f.tobytes() for f in pcm16]
    bytes8 = [f.tobytes() for f in pcm8]

    frame8, frame48, frame_ulaw = _cycle(pcm8), _cycle(pcm48), _cycle(ulaw8)
    frame_b16, frame_b8 = _cycle(bytes16), _cycle(bytes8)
    vad16 = VoiceActivityDetector(16000)
    vad8 = VoiceActivityDetector(8000)
    down48 = Resampler(48000, 16000)
    up8 = Resampler(8000, 16000)

    results: dict[str, float | int | str] = {
        "frame_ms": FRAME_MS,
        "vad_16k_us": _us_per_frame(lambda i: vad16.push(frame_b16(i))),
        "vad_8k_us": _us_per_frame(lambda i: vad8.push(frame_b8(i))),
        "ulaw_encode_us": _us_per_frame(lambda i: g711.encode_ulaw(frame8(i))),
        "ulaw_decode_us": _us_per_frame(lambda i: g711.decode_ulaw(frame_ulaw(i))),
        "alaw_encode_us": _us_per_frame(lambda i: g711.encode_alaw(frame8(i))),
        "alaw_decode_us": _us_per_frame(lambda i: g711.decode_alaw(frame_ulaw(i))),
        "resample_48k_to_16k_us": _us_per_frame(lambda i: down48.process(frame48(i))),
        "resample_8k_to_16k_us": _us_per_frame(lambda i: up8.process(frame8(i))),
    }

    # The agent's voice: espeak-ng's 22050 Hz to a WebRTC track once on soxr, against the old two-stage chain.
    pcm22 = _frames(_speech_like(22050, seconds), 22050)
    frame22 = _cycle(pcm22)
    once = BlockResampler(22050, 48000)
    to16, to48 = Resampler(22050, 16000), Resampler(16000, 48000)
    results["tts_22k_to_48k_once_us"] = _us_per_frame(lambda i: once.process(frame22(i)))
    results["tts_22k_to_48k_via_16k_us"] = _us_per_frame(lambda i: to48.process(to16.process(frame22(i))))

    # Inbound path of a phone call: µ-law 8 kHz in, 16 kHz PCM for speech-to-text, VAD, turn and barge-in.
    inbound_up = Resampler(8000, 16000)
    inbound_vad = VoiceActivityDetector(16000)
    endpointer = Endpointer()
    barge_in = BargeInDetector()
    barge_in.agent_started(0.0)

    def phone_inbound(i: int) -> None:
        pcm = inbound_up.process(g711.decode_ulaw(frame_ulaw(i)))
        for item in inbound_vad.push(pcm.tobytes()):
            endpointer.feed(item)
            barge_in.feed(item)
        endpointer.poll(i * FRAME_MS)

    # Inbound path of a browser call: 48 kHz PCM (decoded Opus) down to 16 kHz, then the same.
    browser_down = Resampler(48000, 16000)
    browser_vad = VoiceActivityDetector(16000)

    def browser_inbound(i: int) -> None:
        for item in browser_vad.push(browser_down.process(frame48(i)).tobytes()):
            endpointer.feed(item)

    phone_us = _us_per_frame(phone_inbound)
    browser_us = _us_per_frame(browser_inbound)
    results["inbound_phone_us"] = phone_us
    results["inbound_browser_us"] = browser_us
    # One core, inbound audio only: each call needs its per-frame cost once every 20 ms.
    results["phone_calls_per_core"] = int(FRAME_MS * 1000 / phone_us)
    results["browser_calls_per_core"] = int(FRAME_MS * 1000 / browser_us)
    results["numpy"] = np.__version__
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
