"""What one 20 ms Twilio `media` frame costs on the inbound path, as the server paid it before and now.

Both paths take the same JSON text (base64 µ-law, 8 kHz) and end in the caller listener (VAD, endpointing,
barge-in, utterance keeping). `model_16k` is the former path: a pydantic model per frame, µ-law decode,
8 → 16 kHz streaming resampling, the listener at 16 kHz. `fast_8k` is today's: the hand-checked
`media_frame` parse, µ-law decode, the listener at 8 kHz. Noise-like audio keeps VAD busy on every frame.
Prints µs per frame for each (best of several rounds) and their ratio, the figure to read on a shared machine.

Run from the repository root: `PYTHONPATH=. python benchmarks/bench_inbound_frame.py [--frames 500]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Callable

import numpy as np

from voicerouter.audio.g711 import lin2ulaw, ulaw2lin
from voicerouter.audio.listener import CallerListener
from voicerouter.audio.resample import Resampler
from voicerouter.media.ws.twilio_messages import Media, media_frame, parse_inbound

RATE_HZ = 8000
FRAME_BYTES = RATE_HZ // 50 * 2  # 20 ms of PCM16


def twilio_frames(count: int) -> list[str]:
    pcm = np.random.default_rng(0).normal(0, 3000, RATE_HZ // 50 * count).astype("<i2").tobytes()
    return [
        json.dumps({"event": "media", "streamSid": "MZ1", "media": {
            "track": "inbound", "chunk": str(i), "timestamp": str(i * 20),
            "payload": base64.b64encode(lin2ulaw(pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES])).decode()}})
        for i in range(count)
    ]  # fmt: skip


def model_16k(frames: list[str]) -> None:
    listener, resampler = CallerListener(rate_hz=16000), Resampler(RATE_HZ, 16000)
    for text in frames:
        message = parse_inbound(json.loads(text))
        assert isinstance(message, Media)
        listener.push(resampler.process_pcm16(ulaw2lin(message.media.audio())))


def fast_8k(frames: list[str]) -> None:
    listener = CallerListener(rate_hz=RATE_HZ)
    for text in frames:
        ulaw = media_frame(json.loads(text))
        assert ulaw is not None
        listener.push(ulaw2lin(ulaw))


def best_us_per_frame(path: Callable[[list[str]], None], frames: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        path(frames)
        best = min(best, time.perf_counter() - started)
    return best / len(frames) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frames = twilio_frames(args.frames)
    for path in (model_16k, fast_8k):
        path(frames)  # warm up
    before = best_us_per_frame(model_16k, frames, args.rounds)
    after = best_us_per_frame(fast_8k, frames, args.rounds)
    print(json.dumps({"model_16k_us_per_frame": round(before, 1), "fast_8k_us_per_frame": round(after, 1),
                      "ratio": round(before / after, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
