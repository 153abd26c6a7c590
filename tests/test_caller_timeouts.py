"""`voicerouter call` never hangs: it has connect and silence timeouts, and says why the server closed or
refused the call (`--twilio` pointed at `/ws` fails at once, naming the mix-up).

Real servers on loopback: the voicerouter app, a TCP listener that never answers, a WebSocket server that
never speaks; the CLI runs as a real subprocess."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.edge_kit import edge_server
from tests.serve_kit import QUESTION, needs_espeak, spoken
from voicerouter.caller.client import CallerClient, CallFailed
from voicerouter.caller.run import run_call

pytestmark = [needs_espeak]
REPO = Path(__file__).resolve().parent.parent


async def _cli(*args: str, timeout_s: float = 120.0) -> tuple[int, str, float]:
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicerouter.cli", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    return int(process.returncode or 0), out.decode(), time.monotonic() - began


async def test_call_with_twilio_pointed_at_ws_fails_at_once_naming_the_mix_up(tmp_path: Path) -> None:
    spoken(QUESTION, tmp_path, 8000)
    (wav,) = await asyncio.to_thread(lambda: list(tmp_path.glob("*.wav")))
    async with edge_server(tmp_path) as server:
        code, out, seconds = await _cli("call", server.url + "/ws", "--twilio", "--wav", str(wav))
        await server.wait_idle()
    assert code == 2, out
    assert "closed the call (1007)" in out and "on /twilio, not /ws" in out, out
    assert seconds < 60  # it used to sit for ten minutes; the exact figure is no business of a unit test


async def test_a_server_that_needs_a_token_is_named_as_the_reason(tmp_path: Path) -> None:
    async with edge_server(tmp_path, token="t0ken") as server:
        with pytest.raises(CallFailed, match="HTTP 401: the server needs its token"):
            async with CallerClient(server.url):
                pass


@asynccontextmanager
async def _mute_tcp() -> AsyncIterator[int]:
    """A listener that accepts connections and never answers a byte."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_connect_timeout_names_the_url_and_the_wait() -> None:
    async with _mute_tcp() as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(CallFailed, match=r"no WebSocket connection within 0\.5 s"):
            async with CallerClient(url, connect_timeout_s=0.5):
                pass


async def test_a_closed_port_is_a_clear_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CallFailed, match="cannot connect"):
        async with CallerClient(f"http://127.0.0.1:{port}"):
            pass


@asynccontextmanager
async def _silent_websocket() -> AsyncIterator[str]:
    """A WebSocket server that accepts the upgrade, reads everything and never sends anything."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_a_server_that_goes_silent_ends_the_call_with_the_reason() -> None:
    async with _silent_websocket() as url:
        began = time.monotonic()
        with pytest.raises(CallFailed, match=r"sent nothing for 1 s"):
            await run_call(url, bytes(3200), silence_timeout_s=1.0)
        assert time.monotonic() - began < 30  # not the 20 s + 120 s the waits would otherwise allow
