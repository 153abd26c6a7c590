"""Back-pressure on WebRTC: a real aiortc peer whose microphone sends audio ten times faster than real time
has the excess dropped and counted, and is then closed with `media_flood`; the server is left with no call."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from tests.edge_kit import metric_value
from tests.serve_kit import ServerHandle, needs_espeak, running_server
from tests.test_webrtc_aiortc import wait_no_peers
from tests.webrtc_kit import RtcCaller
from voicerouter.media.webrtc.track import FRAME_MS, FRAME_SAMPLES, RATE_HZ

pytestmark = [needs_espeak, pytest.mark.asyncio(loop_scope="module")]

FLOOD_X = 10.0


class FloodingMicrophone(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames, paced `speed_x` times faster than real time (a broken client)."""

    kind = "audio"

    def __init__(self, speed_x: float) -> None:
        super().__init__()
        self.speed_x = speed_x
        self.frames = 0
        self._start_s: float | None = None
        tone = bytearray()
        for n in range(FRAME_SAMPLES):
            tone += int(8000 * math.sin(2 * math.pi * 440 * n / RATE_HZ)).to_bytes(2, "little", signed=True)
        self._tone = bytes(tone)

    async def recv(self) -> AudioFrame:
        if self._start_s is None:
            self._start_s = time.monotonic()
        due_s = self._start_s + self.frames * FRAME_MS / 1000.0 / self.speed_x
        await asyncio.sleep(max(0.0, due_s - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._tone)
        frame.sample_rate = RATE_HZ
        frame.pts = self.frames * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, RATE_HZ)
        self.frames += 1
        return frame


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerHandle]:
    async with running_server(tmp_path_factory.mktemp("webrtc-flood")) as handle:
        yield handle


async def test_a_peer_flooding_at_10x_is_dropped_counted_and_closed_with_media_flood(
    server: ServerHandle, tmp_path: Path
) -> None:
    microphone = FloodingMicrophone(FLOOD_X)
    caller = RtcCaller(microphone=microphone)  # type: ignore[arg-type]
    try:
        await caller.call(server.url, agent="clinic")
        await caller.wait_until(lambda: any(m["type"] == "stop" for m in caller.messages), "the stop message")
        ended = await caller.wait_for_event(lambda e: e["type"] == "call.ended", "call.ended")
        assert ended["reason"] == "media_flood"
    finally:
        await caller.hang_up()
    assert metric_value(server, 'voicerouter_inbound_floods_closed_total{transport="webrtc"}') == 1
    dropped_ms = metric_value(server, 'voicerouter_inbound_media_dropped_ms_total{transport="webrtc"}')
    assert dropped_ms >= 5000.0
    sent_ms = microphone.frames * FRAME_MS
    assert dropped_ms <= sent_ms  # only what the peer sent can have been dropped
    await wait_no_peers(server)
