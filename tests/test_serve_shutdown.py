"""`voicerouter serve` in its own process stops gracefully: on SIGTERM it refuses new calls, gives live ones
`--drain-seconds`, ends the rest with their recordings finalised, stops its speech workers and exits 0; and a
SIGKILLed server leaves no speech worker behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.serve_kit import needs_espeak
from tests.test_call_hangups import assert_finalised_wav
from voicerouter.caller.client import CallerClient

pytestmark = needs_espeak

DRAIN_S = 2.0
LIVE_CALLS = 5


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    url: str
    recordings: Path

    def workers(self) -> list[int]:
        """Pids of the server's child processes (the speech workers and multiprocessing's helpers)."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    children.append(int(entry))
        return children


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@asynccontextmanager
async def serve_process(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "VOICEROUTER_TOKEN"}
    recordings = tmp_path / "recordings"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from voicerouter.cli import main; main()", "serve", "--port", "0",
        "--recordings", str(recordings), "--speech", "offline", "--drain-seconds", str(DRAIN_S),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        url = None
        async with asyncio.timeout(180):  # start-up loads every agent's recogniser: slow on a busy machine
            while url is None:
                line = (await process.stdout.readline()).decode()
                assert line, "serve exited before it listened"
                found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
                url = found.group(1) if found else None
        drain = asyncio.get_running_loop().create_task(_drain(process.stdout))
        yield ServeProcess(process, url, recordings)
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def _live_call(url: str) -> CallerClient:
    call = CallerClient(url)
    await call.__aenter__()
    async with asyncio.timeout(30):
        while not call.result.audio_arrivals:  # noqa: ASYNC110 - the greeting has started: the call is live
            await asyncio.sleep(0.01)
    return call


async def test_sigterm_lets_live_calls_drain_then_ends_them_finalised_and_exits_0(tmp_path: Path) -> None:
    async with serve_process(tmp_path) as server:
        calls = await asyncio.gather(*(_live_call(server.url) for _ in range(LIVE_CALLS)))
        workers = server.workers()
        assert workers, "the speech worker was started at start-up"
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.3)
        async with CallerClient(server.url) as late:  # draining: a new call is refused
            await asyncio.wait_for(late.closed.wait(), 10)
        assert late.result.close_code == 1013, late.result.close_code
        code = await asyncio.wait_for(server.process.wait(), 60)
        took_s = time.monotonic() - signalled
        for call in calls:
            await call.hang_up(goodbye=False)
        assert code == 0
        assert took_s <= DRAIN_S + 2.0, f"exited {took_s:.1f} s after SIGTERM"
        assert [call.result.stop_reason for call in calls] == ["server shutting down"] * LIVE_CALLS
        recordings = sorted(server.recordings.glob("*.jsonl"))
        assert len(recordings) == LIVE_CALLS
        for recording in recordings:
            assert json.loads(recording.read_text().splitlines()[-1])["type"] == "call.ended"
            for side in ("caller", "agent"):
                wav = recording.with_suffix(f".{side}.wav")
                if wav.exists():
                    assert_finalised_wav(wav)
        with sqlite3.connect(server.recordings / "calls.sqlite3") as index:
            rows = index.execute("SELECT call_id, ended FROM calls").fetchall()
        assert len(rows) == LIVE_CALLS and all(ended for _, ended in rows), rows
        await asyncio.sleep(0.5)
        assert [pid for pid in workers if alive(pid)] == []


async def test_a_sigkilled_server_leaves_no_speech_worker_behind(tmp_path: Path) -> None:
    async with serve_process(tmp_path) as server:
        workers = server.workers()
        assert workers
        server.process.kill()
        async with asyncio.timeout(
            15
        ):  # a surviving worker also keeps the server's stdout open: wait() hangs
            await server.process.wait()
            while [pid for pid in workers if alive(pid)]:  # noqa: ASYNC110 - other processes, polled
                await asyncio.sleep(0.1)
