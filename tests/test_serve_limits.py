"""HTTP limits at the edge: slow-loris connections get 408 after the header timeout, one address past its
connection limit gets 429, each endpoint's WebSocket message limit closes with 1009; each logged once.

Real server on loopback behind its guarded listener; raw TCP sockets and aiohttp WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import aiohttp
import pytest

from tests.edge_kit import edge_server, metric_value
from tests.serve_kit import needs_espeak
from tests.test_serve_protocol import START, closed_with, twilio_start
from voicerouter.media.limits import RequestFraming

pytestmark = [needs_espeak]

PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def _slow_loris(port: int, stop: asyncio.Event) -> tuple[bytes, float]:
    """Open a connection and dribble header lines forever; what the server sent before closing, and when."""
    opened = time.monotonic()  # before connecting: the server's clock starts when it accepts
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PARTIAL_HEAD)
    received = b""

    async def dribble() -> None:
        n = 0
        while not stop.is_set() and not writer.is_closing():
            n += 1
            writer.write(f"X-Slow-{n}: a\r\n".encode())
            await asyncio.sleep(0.1)

    task = asyncio.create_task(dribble())
    try:
        while chunk := await asyncio.wait_for(reader.read(4096), 30.0):
            received += chunk
    except ConnectionError:
        pass
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
    return received, time.monotonic() - opened


async def test_slow_loris_connections_are_closed_with_408_after_the_header_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicerouter.media.limits")
    limits = {"header_timeout_s": 0.5, "max_connections_per_address": 200}
    async with edge_server(tmp_path, limits=limits) as server, aiohttp.ClientSession() as http:
        port = int(server.url.rsplit(":", 1)[1])
        stop = asyncio.Event()
        lorises = [asyncio.create_task(_slow_loris(port, stop)) for _ in range(40)]
        await asyncio.sleep(0.2)
        async with http.get(server.url + "/healthz") as response:
            assert response.status == 200  # a real client is served while the slow ones hold their sockets
        results = await asyncio.gather(*lorises)
        stop.set()
        for received, seconds in results:
            assert received.startswith(b"HTTP/1.1 408 Request Timeout"), received[:80]
            assert seconds >= 0.5  # never before the timeout, though the peer kept sending bytes
        assert metric_value(server, 'voicerouter_http_refused_total{reason="header_timeout"}') == 40
    logged = [r for r in caplog.records if "header_timeout" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]


async def test_a_keep_alive_connection_idle_past_the_header_timeout_still_serves(tmp_path: Path) -> None:
    async with edge_server(tmp_path, limits={"header_timeout_s": 0.3}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            await asyncio.sleep(0.6)  # idle between requests is keep-alive's business, not a slow header
        writer.close()


async def test_a_slow_second_request_on_a_keep_alive_connection_also_gets_408(tmp_path: Path) -> None:
    async with edge_server(tmp_path, limits={"header_timeout_s": 0.5}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(PARTIAL_HEAD)

        async def dribble() -> None:
            with contextlib.suppress(ConnectionError):
                for n in range(100):
                    writer.write(f"X-Slow-{n}: a\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.1)

        task = asyncio.create_task(dribble())
        rest = await asyncio.wait_for(reader.read(), 10.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
        assert rest.startswith(b"HTTP/1.1 408"), rest[:80]


def test_request_framing_times_heads_only_and_stops_at_an_upgrade() -> None:
    framing = RequestFraming()
    assert framing.feed(b"POST /x HTTP/1.1\r\nContent-Length: 7\r\n\r\nab") == ["head_started", "head_done"]
    assert framing.phase == "body"
    assert framing.feed(b"c\r\n\r\n") == [] and framing.phase == "head"  # body bytes, not a head end
    assert framing.feed(b"GET /y HTTP/1.1\r\n") == ["head_started"]
    framing = RequestFraming()
    assert framing.feed(b"GET / HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHo") == [
        "head_started", "head_done", "head_started"]  # fmt: skip
    assert framing.feed(b"st: x\r\nUpgrade: websocket\r\n\r\n\x81\x05hello") == ["head_done"]
    assert framing.phase == "done" and framing.feed(b"\r\n\r\n") == []


async def test_one_address_past_its_connection_limit_gets_429_until_it_closes_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicerouter.media.limits")
    async with edge_server(tmp_path, limits={"max_connections_per_address": 4}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            refused = await asyncio.wait_for(reader.read(), 10.0)
            assert refused.startswith(b"HTTP/1.1 429 Too Many Requests"), refused[:80]
            writer.close()
        held[0][1].close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
            assert response.status == 200
        for _, writer in held[1:]:
            writer.close()
        assert metric_value(server, 'voicerouter_http_refused_total{reason="too_many_connections"}') == 3
    logged = [r for r in caplog.records if "too_many_connections" in r.getMessage()]
    assert len(logged) == 1


async def test_each_endpoint_has_its_own_websocket_message_limit(tmp_path: Path) -> None:
    limits = {"ws_message_bytes": {"/ws": 64 * 1024, "/twilio": 4 * 1024}}
    async with edge_server(tmp_path, limits=limits) as server:
        big_json = '{"event":"mark","streamSid":"MZ9","mark":{"name":"' + "x" * 5000 + '"}}'
        code, reason = await closed_with(server, "/twilio", twilio_start(), big_json)
        assert code == 1009 and "4 KiB" in reason
        url = server.url.replace("http", "ws", 1) + "/ws"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_json(START)
            await ws.send_bytes(b"\x00" * 5000)  # 5 KB is fine on /ws (its limit is 64 KiB)
            await ws.send_str('{"type":"stop"}')
            while (await ws.receive(timeout=10.0)).type is not aiohttp.WSMsgType.CLOSE:
                pass
            assert ws.close_code == 1000
        code, reason = await closed_with(server, "/ws", START, b"\x00" * (70 * 1024))
        assert code == 1009 and "64 KiB" in reason
        await server.wait_idle()
        assert metric_value(server, 'voicerouter_http_refused_total{reason="ws_message_too_big"}') == 2
