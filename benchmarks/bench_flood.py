"""/healthz latency while one Twilio stream floods the server at 50x real time, against an idle server.

A plain script, run from the repository root (`PYTHONPATH=. python benchmarks/bench_flood.py`), prints JSON;
`main()` returns the same numbers. It serves the real app on loopback (offline speech) behind the guarded
listener, floods /twilio with 20 ms µ-law frames for a few seconds and polls /healthz every 20 ms throughout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from voicerouter.media.context import CONTEXT_KEY
from voicerouter.media.limits import GuardedSite
from voicerouter.server import ServeSettings, create_app

FLOOD_X = 50.0
FLOOD_S = 4.0
POLL_S = 0.02


def _start(sid: str) -> dict[str, Any]:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    info = {"streamSid": sid, "callSid": "CA" + sid, "customParameters": {}, "mediaFormat": fmt}
    return {"event": "start", "streamSid": sid, "start": info}


async def _flood(url: str, stop: asyncio.Event) -> dict[str, Any]:
    """Flood one stream; when the server closes it, open the next, until `stop` (a flooder that retries)."""
    frame = base64.b64encode(b"\xff" * 160).decode("ascii")
    media = {"track": "inbound", "payload": frame}
    message = json.dumps({"event": "media", "streamSid": "MZ", "media": media})
    sent = streams = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            streams += 1
            async with http.ws_connect(url) as ws:
                closed = asyncio.Event()

                async def read(
                    ws: aiohttp.ClientWebSocketResponse = ws, closed: asyncio.Event = closed
                ) -> None:
                    async for _ in ws:
                        pass
                    closed.set()

                reader = asyncio.create_task(read())
                await ws.send_json(_start(f"MZ{streams}"))
                start, mine = time.monotonic(), 0
                with contextlib.suppress(ConnectionError):
                    while not stop.is_set() and not closed.is_set():
                        due = int((time.monotonic() - start) * 50.0 * FLOOD_X)
                        for _ in range(max(0, due - mine)):
                            mine += 1
                            await ws.send_str(message)
                        await asyncio.sleep(0.002)
                sent += mine
                await ws.close()
                await asyncio.gather(reader, return_exceptions=True)
    return {"messages_sent": sent, "streams_opened": streams}


async def _poll(url: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            async with http.get(url + "/healthz") as response:
                await response.read()
            latencies.append((time.perf_counter() - began) * 1000.0)
            await asyncio.sleep(POLL_S)
    return latencies


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max_ms": round(ordered[-1], 2), "samples": len(ordered)}  # fmt: skip


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        settings = ServeSettings(port=0, recordings_dir=Path(directory) / "recordings", speech="offline")
        app = create_app(settings, env={})
        runner = web.AppRunner(app, shutdown_timeout=2.0)
        await runner.setup()
        site = GuardedSite(runner, "127.0.0.1", 0, limits=settings.limits,
                           metrics=app[CONTEXT_KEY].services.metrics.registry)  # fmt: skip
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        try:
            idle = await _poll(url, 2.0)
            stop = asyncio.Event()
            flood = asyncio.create_task(_flood(url.replace("http", "ws", 1) + "/twilio", stop))
            flooded = await _poll(url, FLOOD_S)
            stop.set()
            counts = await flood
            metrics = app[CONTEXT_KEY].services.metrics.render()
        finally:
            await runner.cleanup()
    closed = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("voicerouter_inbound_floods_closed_total{"))  # fmt: skip
    idle_s, flood_s = _summary(idle), _summary(flooded)
    ratio = round(flood_s["p99_ms"] / max(idle_s["p99_ms"], 0.01), 2)
    return {"flood_x": FLOOD_X, "idle": idle_s, "flooding": flood_s, **counts, "floods_closed": closed,
            "p99_ratio_flooding_to_idle": ratio}  # fmt: skip


def main() -> dict[str, Any]:
    figures = asyncio.run(_run())
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
