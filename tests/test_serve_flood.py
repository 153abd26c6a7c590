"""Back-pressure per stream: caller media faster than 1.5x real time is dropped past a small burst and
counted; a stream that keeps flooding is closed, and the server keeps answering everyone else.

The guard is tested alone on given times, then a real Twilio stream floods a real server at 50x while
/healthz is polled and another caller asks a question and hears the answer (latency figures: benchmarks)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path

import aiohttp

from tests.edge_kit import edge_server, metric_value
from tests.serve_kit import QUESTION, spoken
from tests.test_serve_protocol import twilio_start
from voicerouter.caller.client import CallerClient
from voicerouter.media.backpressure import FLOOD_CLOSE_MS, MEDIA_BURST_MS, InboundMediaGuard

FRAME_MS = 20.0


def test_a_real_time_stream_is_never_dropped_even_with_jitter() -> None:
    guard = InboundMediaGuard(0.0)
    now = 0.0
    for i in range(3000):  # a minute of frames, arriving in pairs 40 ms apart (a jittery network)
        now = (i // 2) * 0.040
        assert guard.admit(FRAME_MS, now)
    assert guard.dropped_ms == 0 and not guard.flooding


def test_a_burst_after_a_stall_passes_up_to_the_burst_and_is_not_a_flood() -> None:
    guard = InboundMediaGuard(0.0)
    admitted = sum(guard.admit(FRAME_MS, 5.0) for _ in range(150))  # 3 s of audio at once, after 5 s quiet
    assert admitted == MEDIA_BURST_MS / FRAME_MS
    assert guard.dropped_ms == 3000 - MEDIA_BURST_MS and not guard.flooding


def test_a_stream_at_50x_is_held_to_1_5x_and_flagged_as_a_flood() -> None:
    guard = InboundMediaGuard(0.0)
    now, admitted_ms = 0.0, 0.0
    while not guard.flooding:
        now += FRAME_MS / 1000.0 / 50.0
        admitted_ms += FRAME_MS if guard.admit(FRAME_MS, now) else 0.0
    assert admitted_ms <= MEDIA_BURST_MS + now * 1000.0 * 1.5 + FRAME_MS
    assert guard.dropped_ms >= FLOOD_CLOSE_MS
    assert now < 0.2  # 5 s of excess audio at 50x arrives in about a tenth of a second


async def _flood(url: str, rate_x: float, seconds: float) -> tuple[int | None, str, int]:
    """A Twilio stream sending 20 ms media `rate_x` times faster than real time for up to `seconds`:
    (the server's close code or None if it kept the stream open, its reason, messages sent)."""
    frame = base64.b64encode(b"\xff" * 160).decode("ascii")
    sent = 0
    closed: list[tuple[int, str]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:

        async def read() -> None:
            async for _ in ws:
                pass  # the agent's media; the loop ends when the server closes
            closed.append((int(ws.close_code or 0), str(ws.exception() or "")))

        reader = asyncio.create_task(read())
        await ws.send_json(twilio_start())
        loop = asyncio.get_running_loop()
        start = loop.time()
        with contextlib.suppress(ConnectionError):
            while not closed and loop.time() - start < seconds:
                due = int((loop.time() - start) * 1000.0 / FRAME_MS * rate_x)
                while sent < due and not closed:
                    sent += 1
                    media = {"track": "inbound", "chunk": str(sent), "payload": frame}
                    await ws.send_str(json.dumps({"event": "media", "streamSid": "MZ9", "media": media}))
                await asyncio.sleep(0.002)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 0.5)
        by_server = list(closed)
        if not closed:
            await ws.close()
        await asyncio.gather(reader, return_exceptions=True)
    code, reason = by_server[0] if by_server else (None, "")
    return code, reason, sent


async def _poll_health(url: str, stop: asyncio.Event) -> list[int]:
    statuses: list[int] = []
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            async with http.get(url + "/healthz") as response:
                statuses.append(response.status)
            await asyncio.sleep(0.05)
    return statuses


async def test_a_twilio_stream_flooding_at_50x_is_dropped_then_closed_and_others_are_answered(
    tmp_path: Path,
) -> None:
    question = spoken(QUESTION, tmp_path, 16000)
    async with edge_server(tmp_path) as server:
        async with CallerClient(server.url) as good:
            assert await good.wait_for_agent_silence(0.7, timeout_s=30.0)  # the greeting has played
            stop = asyncio.Event()
            health = asyncio.create_task(_poll_health(server.url, stop))
            flood = asyncio.create_task(_flood(server.url.replace("http", "ws", 1) + "/twilio", 50.0, 10.0))
            await good.say(question)
            answered = await good.wait_for_agent_audio(timeout_s=20.0)
            code, _, sent = await flood
            stop.set()
            statuses = await health
        assert answered, "the other caller got no answer while one stream flooded"
        assert any("saturday" in t for t in good.result.transcripts), good.result.transcripts
        assert code == 1008
        assert sent > 250  # it really sent much faster than real time before it was cut off
        assert statuses and set(statuses) == {200}
        dropped = metric_value(server, 'voicerouter_inbound_media_dropped_ms_total{transport="twilio"}')
        assert dropped >= FLOOD_CLOSE_MS
        assert metric_value(server, 'voicerouter_inbound_floods_closed_total{transport="twilio"}') == 1
        await server.wait_idle()


async def test_a_twilio_stream_in_real_time_is_never_dropped(tmp_path: Path) -> None:
    async with edge_server(tmp_path) as server:
        code, _, sent = await _flood(server.url.replace("http", "ws", 1) + "/twilio", 1.0, 2.0)
        assert sent >= 90
        assert code is None  # the server never cut it off; the client hung up
        assert metric_value(server, 'voicerouter_inbound_media_dropped_ms_total{transport="twilio"}') == 0
        await server.wait_idle()
