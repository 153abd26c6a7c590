"""Streaming recognition, measured: pocketsphinx fed 20 ms frames as they arrive vs a decode at the VAD stop.

For espeak-ng sentences (16 kHz, light dither, 300 ms of trailing silence standing in for the VAD hangover) it
reports the batch decode, the per-frame cost while the caller speaks, and the tail left at the VAD stop
(`end_utt`), with the stock two-pass search and with one pass (`fwdflat`/`bestpath` off). Run from the
repository root under the shared lock: `PYTHONPATH=. python benchmarks/bench_stt_stream.py [--live N]`;
prints JSON.
With `--live N`, N held-out clinic sentences also go through the live recogniser, whole and streamed (word
accuracy, and the wait after the last audio).
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




async def _live_accuracy(sentences: int, fallback_below: float | None = None) -> dict[str, Any]:
    """Word accuracy and the wait after the last audio, through the live recogniser: each sentence decoded
    whole (`transcribe`) and streamed in 20 ms frames (`open_stream`, each stream started from the previous
    one's `carry`, as one caller's utterances are), with the agent's domain model, at 8 and 16 kHz.
    `fallback_below` overrides when the stock model is asked for a second opinion (0: never)."""
    import asyncio
    import tempfile
    from pathlib import Path

    from bench_speech import _sentences, _speak, word_errors

    from voicerouter.providers.speech.domain import domain_phrases
    from voicerouter.providers.speech.espeak_tts import EspeakTTS
    from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT
    from voicerouter.providers.speech.sphinx_stream_pool import SphinxStreamPool

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        streams = SphinxStreamPool(workers=1)
        phrases = domain_phrases("clinic", splits={"train"})
        stt = PocketsphinxSTT.for_domain(phrases, Path(cache), streams=streams)
        if fallback_below is not None:
            stt.fallback_below = fallback_below
        try:
            await stt.warm_up()
            texts = _sentences("clinic", "test", sentences)
            for rate_hz in (8000, 16000):
                tts = EspeakTTS(sample_rate_hz=rate_hz)
                frame = rate_hz * 2 * 20 // 1000
                errors = {"whole": 0, "streamed": 0}
                stock = {"whole": 0, "streamed": 0}
                waits: dict[str, list[float]] = {"whole": [], "streamed": []}
                words = 0
                carry = None
                for text in texts:
                    pcm = await _speak(tts, text)
                    reference = text.split()
                    words += len(reference)
                    started = time.perf_counter()
                    whole = await stt.transcribe(pcm, rate_hz)
                    waits["whole"].append((time.perf_counter() - started) * 1000)
                    errors["whole"] += word_errors(reference, whole.text.split())
                    stock["whole"] += whole.engine.endswith("/stock")
                    stream = stt.open_stream(rate_hz, carry=carry)
                    assert stream is not None
                    for offset in range(0, len(pcm), frame):  # as the caller speaks, in real time
                        stream.feed(pcm[offset : offset + frame])
                        await asyncio.sleep(0.02)
                    started = time.perf_counter()
                    streamed = await stream.finish()
                    waits["streamed"].append((time.perf_counter() - started) * 1000)
                    errors["streamed"] += word_errors(reference, streamed.text.split())
                    stock["streamed"] += streamed.engine.endswith("/stock")
                    carry = stream.carry
                results[f"{rate_hz // 1000}khz"] = {
                    "sentences": len(texts),
                    **{f"{k}_word_accuracy": round(1 - v / words, 3) for k, v in errors.items()},
                    **{f"{k}_wait_ms_p50": round(statistics.median(v), 1) for k, v in waits.items()},
                    **{f"{k}_wait_ms_max": round(max(v), 1) for k, v in waits.items()},
                    **{f"{k}_stock_answers": v for k, v in stock.items()},
                }
        finally:
            await streams.aclose()
            await stt.aclose()
    return results


if __name__ == "__main__":
    import argparse
    import asyncio
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--live", type=int, default=0, metavar="N",
                        help="also measure N held-out sentences through the live recogniser")
    parser.add_argument("--fallback-below", type=float, default=None,
                        help="the stock model's second opinion below this confidence (0: never)")  # fmt: skip
    args = parser.parse_args()
    report = run()
    if args.live:
        report["live"] = asyncio.run(_live_accuracy(args.live, args.fallback_below))
    print(json.dumps(report, indent=1))
