"""Streaming recognition, measured: pocketsphinx fed 20 ms frames as they arrive vs a decode at the VAD stop.

For espeak-ng sentences (16 kHz, light dither, 300 ms of trailing silence standing in for the VAD hangover) it
reports the batch decode, the per-frame cost while the caller speaks, and the tail left at the VAD stop
(`end_utt`), with the stock two-pass search and with one pass (`fwdflat`/`bestpath` off). Run from the
repository root under the shared lock: `PYTHONPATH=. python benchmarks/bench_stt_stream.py`; prints JSON.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import time
import wave
from typing import Any

import numpy as np
import pocketsphinx
import soxr

SENTENCES = (
    "I'd like to book an appointment for next Tuesday morning please",
    "can you move my appointment to Friday afternoon",
    "my laptop will not connect to the VPN since this morning",
)
RATE_HZ = 16_000
FRAME_BYTES = RATE_HZ * 2 * 20 // 1000
HANGOVER_MS = 300


def _speech(text: str, rng: np.random.Generator) -> bytes:
    wav = subprocess.run(["espeak-ng", "--stdout", text], capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), np.int16).astype(np.float64)
    signal = soxr.resample(samples, rate, RATE_HZ)
    pad = rng.normal(0, 64, RATE_HZ * HANGOVER_MS // 1000)
    signal = np.concatenate([pad, signal + rng.normal(0, 64, signal.size), pad])  # digital zeros wreck CMN
    return bytes(np.clip(signal, -32768, 32767).astype(np.int16).tobytes())


def _batch_ms(decoder: pocketsphinx.Decoder, audio: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    decoder.start_utt()
    decoder.process_raw(audio, no_search=False, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return (time.perf_counter() - started) * 1000, hypothesis.hypstr if hypothesis else ""


def _stream_ms(decoder: pocketsphinx.Decoder, audio: bytes) -> tuple[float, float, str]:
    decoder.start_utt()
    frame_ms: list[float] = []
    for offset in range(0, len(audio), FRAME_BYTES):
        started = time.perf_counter()
        decoder.process_raw(audio[offset : offset + FRAME_BYTES], no_search=False, full_utt=False)
        frame_ms.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    decoder.end_utt()
    tail_ms = (time.perf_counter() - started) * 1000
    hypothesis = decoder.hyp()
    return tail_ms, statistics.mean(frame_ms), hypothesis.hypstr if hypothesis else ""


def run() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    clips = [(text, _speech(text, rng)) for text in SENTENCES]
    results: dict[str, Any] = {}
    for name, options in (("two_pass", {}), ("one_pass", {"fwdflat": False, "bestpath": False})):
        decoder = pocketsphinx.Decoder(loglevel="FATAL", **options)
        rows: list[dict[str, Any]] = []
        tails: list[float] = []
        batches: list[float] = []
        for text, audio in clips:
            audio_ms = len(audio) / (RATE_HZ * 2) * 1000
            batch_ms, batch_text = _batch_ms(decoder, audio)
            tail_ms, mean_frame_ms, stream_text = _stream_ms(decoder, audio)
            tails.append(tail_ms)
            batches.append(batch_ms)
            rows.append({"text": text, "audio_ms": round(audio_ms), "batch_ms": round(batch_ms),
                         "stream_tail_ms": round(tail_ms, 1), "stream_rtf": round(mean_frame_ms / 20, 3),
                         "batch_text": batch_text, "stream_text": stream_text})  # fmt: skip
        results[name] = {
            "rows": rows,
            "tail_over_batch": round(statistics.mean(tails) / statistics.mean(batches), 3),
        }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
