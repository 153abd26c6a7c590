"""Running `voicerouter serve`'s app on a free loopback port, and spoken test audio from espeak-ng.

The server is the real app (offline speech engines, offline agent model, no API keys); it is stopped, with
all its calls, when the context ends.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from voicerouter.audio.pcm import level_dbfs, pcm16_to_int16
from voicerouter.caller.client import load_wav
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.server import ServeSettings, create_app

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

QUESTION = "what time do you open on saturday"
BARGE_IN = "no wait, I would like to book an appointment instead"


@dataclass
class ServerHandle:
    url: str
    app: web.Application
    recordings: Path

    @property
    def context(self) -> ServeContext:
        return self.app[CONTEXT_KEY]

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Until every call has been closed and indexed."""
        for _ in range(int(timeout_s / 0.02)):
            if not self.context.calls:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"calls still open after {timeout_s} s: {list(self.context.calls)}")


@asynccontextmanager
async def running_server(directory: Path, *, token: str | None = None) -> AsyncIterator[ServerHandle]:
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / "recordings", token=token,
                             speech="offline")  # fmt: skip
    async with serving(create_app(settings, env={}), settings.recordings_dir) as server:
        yield server


@asynccontextmanager
async def serving(app: web.Application, recordings: Path) -> AsyncIterator[ServerHandle]:
    """`app` on a free loopback port until the block ends."""
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield ServerHandle(url=f"http://{host}:{port}", app=app, recordings=recordings)
    finally:
        await runner.cleanup()


def spoken(text: str, directory: Path, rate_hz: int) -> bytes:
    """`text` spoken by espeak-ng, as PCM16 at `rate_hz`."""
    path = directory / (text.replace(" ", "_").replace(",", "")[:40] + ".wav")
    if not path.exists():
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return load_wav(path, rate_hz)


def loudness_dbfs(pcm16: bytes) -> float:
    return level_dbfs(pcm16_to_int16(pcm16))
