"""`voicerouter serve --workers 2` as a user runs it: one port, calls spread over both workers, one metrics
view and one call index, a dead worker restarted, SIGTERM drains every worker and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.serve_kit import QUESTION, needs_espeak, spoken
from voicerouter.caller.run import run_call

pytestmark = needs_espeak
OFFLINE_ENV = {k: v for k, v in os.environ.items()
               if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PROMETHEUS_MULTIPROC_DIR")}  # fmt: skip


async def _json(http: aiohttp.ClientSession, url: str) -> dict[str, object]:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body


async def _short_call(url: str) -> str:
    """Open a /ws call, read its id from the `started` frame, hang up."""
    async with aiohttp.ClientSession() as http, http.ws_connect(url.replace("http", "ws") + "/ws") as ws:
        await ws.send_json({"type": "start", "agent": "clinic", "encoding": "pcm16", "sample_rate_hz": 16000})
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data).get("type") == "started":
                return str(json.loads(message.data)["call_id"])
    raise AssertionError("the call never started")


async def _until(check, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.25)):
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met in time")


async def test_two_workers_share_port_metrics_and_index_and_drain_on_sigterm(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicerouter.cli", "serve", "--workers", "2", "--port", "0",
        "--recordings", str(tmp_path / "recordings"), "--speech", "offline",
        stdout=asyncio.subprocess.PIPE, stderr=(tmp_path / "serve.log").open("wb"), env=OFFLINE_ENV,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        port = int(re.search(r"port (\d+)", banner).group(1))  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:

            async def both_up() -> bool:
                try:
                    health = await _json(http, url + "/healthz")
                except aiohttp.ClientError:
                    return False
                workers = health.get("workers", [])
                return len(workers) == 2 and all(w["ok"] for w in workers)  # type: ignore[index, union-attr]

            await _until(both_up, 120)
            answered = await run_call(url, spoken(QUESTION, tmp_path, 16000), answer_s=0.5)
            assert any(e.get("type") == "agent.text" and "saturday" in str(e.get("text")).lower()
                       for e in answered.events)  # fmt: skip
            ids = await asyncio.gather(*(_short_call(url) for _ in range(16)))
            assert {call_id[:3] for call_id in ids} == {"w0-", "w1-"}  # the kernel spread the calls

            async def all_indexed() -> bool:
                rows = (await _json(http, url + "/calls?limit=100"))["calls"]
                return len(rows) == 17 and all(r["ended"] for r in rows)  # type: ignore[arg-type, index]

            await _until(all_indexed)  # either worker's /calls lists both workers' calls
            async with http.get(url + "/metrics") as response:
                families = {f.name: f for f in text_string_to_metric_families(await response.text())}
            assert sum(s.value for s in families["voicerouter_calls"].samples) == 17

            health = await _json(http, url + "/healthz")
            victim = health["workers"][1]  # type: ignore[index]
            os.kill(int(victim["pid"]), signal.SIGKILL)

            async def restarted() -> bool:
                try:
                    workers = (await _json(http, url + "/healthz"))["workers"]
                except aiohttp.ClientError:
                    return False
                again = workers[1]  # type: ignore[index]
                return bool(again["ok"] and again["pid"] != victim["pid"])

            await _until(restarted, 120)
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), 10 + 2)  # --drain-seconds + 2 s
        except TimeoutError:
            ps = await asyncio.create_subprocess_exec("ps", "-eo", "pid,ppid,stat,etime,args",
                                                      stdout=asyncio.subprocess.PIPE)  # fmt: skip
            tree = (await ps.communicate())[0].decode()
            left = [line for line in tree.splitlines() if "voicerouter" in line or "multiprocessing" in line]
            raise AssertionError("serve still running:\n" + "\n".join(left)) from None
        assert code == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
