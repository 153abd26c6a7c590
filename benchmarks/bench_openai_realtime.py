"""Client-side cost of the OpenAI Realtime provider: per-frame send and receive work, loopback round trips.

A plain script, run from the repository root (`PYTHONPATH=. python benchmarks/bench_openai_realtime.py`),
prints JSON; `main()` returns the same numbers. It talks only to the local test server on 127.0.0.1, so the
round trips measure this code and the SDK, never a model.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from collections.abc import Callable
from contextlib import aclosing

from tests.servers.realtime_server import RealtimeServer
from tests.servers.realtime_state import tone_bytes
from voicerouter.providers.realtime.client import AudioDelta, OpenAIRealtimeProvider, ResponseDone
from voicerouter.providers.realtime.protocol import RealtimeProtocol
from voicerouter.providers.realtime.requests import input_audio_append

FRAME_MS = 20
FRAMES = 2000
ROUND_TRIPS = 20


def _per_op_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def encode_frame_us() -> float:
    """Building and serialising one 20 ms PCM16 append event (base64 + JSON), as the session does."""
    frame = tone_bytes("audio/pcm", 0.0, FRAME_MS, 440.0)
    protocol = RealtimeProtocol()
    return _per_op_us(lambda: json.dumps(protocol.stamp(input_audio_append(frame))), FRAMES)


def decode_delta_us() -> float:
    """Folding one 100 ms server audio delta into an AudioDelta output."""
    protocol = RealtimeProtocol()
    delta = base64.b64encode(tone_bytes("audio/pcm", 0.0, 100.0, 440.0)).decode()
    event = {"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": delta}
    return _per_op_us(lambda: protocol.receive(event), FRAMES)


async def round_trips() -> dict[str, float]:
    async with RealtimeServer() as server:
        provider = OpenAIRealtimeProvider(api_key="test-key", websocket_base_url=server.ws_base_url)
        open_ms: list[float] = []
        first_audio_ms: list[float] = []
        append_us: list[float] = []
        frame = tone_bytes("audio/pcm", 0.0, FRAME_MS, 440.0)
        for _ in range(ROUND_TRIPS):
            server.reply_audio("Your appointment is at nine.", audio_ms=1000)
            session = provider.open_session()
            t0 = time.perf_counter()
            await session.open(instructions="Be brief.")
            open_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            for _ in range(50):
                await session.append_audio(frame)
            append_us.append((time.perf_counter() - t0) / 50 * 1e6)
            await session.clear_input()
            t0 = time.perf_counter()
            await session.create_response()
            async with aclosing(session.events()) as outputs:
                first = True
                async for output in outputs:
                    if first and isinstance(output, AudioDelta):
                        first_audio_ms.append((time.perf_counter() - t0) * 1000)
                        first = False
                    if isinstance(output, ResponseDone):
                        break
            await session.close()
        await provider.aclose()
    return {
        "open_session_ms_median": round(statistics.median(open_ms), 2),
        "response_create_to_first_audio_ms_median": round(statistics.median(first_audio_ms), 2),
        "append_audio_20ms_frame_us_median": round(statistics.median(append_us), 1),
    }


def main() -> dict[str, float]:
    results = {
        "encode_append_event_20ms_us": round(encode_frame_us(), 2),
        "decode_audio_delta_100ms_us": round(decode_delta_us(), 2),
    }
    results.update(asyncio.run(round_trips()))
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
