"""Bad peers: malformed or oversized messages close that call with a clear code and reason, and only that
call; call endpoints need the token when one is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.serve_kit import ServerHandle, needs_espeak, running_server
from voicerouter.caller.client import CallerClient

pytestmark = [needs_espeak, pytest.mark.asyncio(loop_scope="module")]

START = {"type": "start", "agent": "clinic", "encoding": "pcm16", "sample_rate_hz": 16000, "caller": "test"}


def twilio_start(**media_format: Any) -> dict[str, Any]:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **media_format}
    return {"event": "start", "sequenceNumber": "1", "streamSid": "MZ9",
            "start": {"streamSid": "MZ9", "callSid": "CA9", "customParameters": {},
                      "mediaFormat": fmt}}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerHandle]:
    async with running_server(tmp_path_factory.mktemp("serve_protocol")) as handle:
        yield handle


async def closed_with(
    server: ServerHandle, path: str, *messages: str | bytes | dict[str, Any]
) -> tuple[int, str]:
    """Send `messages` on a fresh connection and return the close code and reason the server chose."""
    url = server.url.replace("http", "ws", 1) + path
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for message in messages:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            elif isinstance(message, dict):
                await ws.send_json(message)
            else:
                await ws.send_str(message)
        while True:
            msg = await ws.receive(timeout=10.0)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return int(ws.close_code or 0), str(msg.extra or "")


async def test_a_start_that_is_not_json_closes_with_1007(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", "hello")
    assert code == 1007 and reason.startswith("not JSON")


async def test_an_unsupported_sample_rate_closes_with_1007_naming_the_field(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", {**START, "sample_rate_hz": 11025})
    assert code == 1007 and "sample_rate_hz" in reason


async def test_an_unknown_agent_closes_with_1007(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", {**START, "agent": "nobody"})
    assert (code, reason) == (1007, "unknown agent 'nobody'")


async def test_audio_before_start_closes_with_1003(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", b"\x00\x00" * 160)
    assert code == 1003 and "start" in reason


async def test_an_oversized_frame_closes_with_1009_and_the_limit(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", START, b"\x00" * (70 * 1024))
    assert code == 1009 and "64 KiB" in reason


async def test_an_odd_length_pcm_frame_closes_with_1007(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/ws", START, b"\x00" * 321)
    assert code == 1007 and "321 bytes" in reason


async def test_twilio_media_before_start_closes_with_1007(server: ServerHandle) -> None:
    media = {"event": "media", "streamSid": "MZ9", "media": {"payload": "//8="}}
    code, reason = await closed_with(server, "/twilio", media)
    assert code == 1007 and "start" in reason


async def test_twilio_payload_that_is_not_base64_closes_with_1007(server: ServerHandle) -> None:
    media = {"event": "media", "streamSid": "MZ9", "media": {"track": "inbound", "payload": "***"}}
    code, reason = await closed_with(server, "/twilio", twilio_start(), media)
    assert code == 1007 and "base64" in reason


async def test_twilio_other_media_format_closes_with_1003(server: ServerHandle) -> None:
    code, reason = await closed_with(server, "/twilio", twilio_start(encoding="audio/x-alaw"))
    assert code == 1003 and "audio/x-alaw" in reason


async def test_bad_messages_close_only_their_own_call(server: ServerHandle) -> None:
    async with CallerClient(server.url) as good:
        assert await good.wait_for_agent_audio(timeout_s=20.0)
        results = await asyncio.gather(
            closed_with(server, "/ws", START, b"\x00" * (70 * 1024)),
            closed_with(server, "/ws", START, '{"type": "dance"}'),
            closed_with(server, "/twilio", twilio_start(), "not json"),
        )
        assert [code for code, _ in results] == [1009, 1003, 1007]
        received = good.agent_audio_ms
        await asyncio.sleep(0.5)
        assert good.agent_audio_ms > received  # the good call's audio kept flowing
        assert not good.closed.is_set()
        assert len(server.context.calls) == 1
    await server.wait_idle()


async def test_call_endpoints_need_the_token_when_one_is_set(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async with (
        running_server(tmp_path_factory.mktemp("serve_token"), token="s3cret") as guarded,
        aiohttp.ClientSession() as session,
    ):
        base = guarded.url
        for path, headers in (("/calls", {}), ("/calls", {"Authorization": "Bearer nope"}), ("/ws", {})):
            async with session.get(base + path, headers=headers) as response:
                assert response.status == 401, path
        async with session.get(base + "/calls", headers={"Authorization": "Bearer s3cret"}) as response:
            assert response.status == 200
        async with session.get(base + "/healthz") as response:
            assert response.status == 200  # health and metrics stay open for probes and scrapers
        async with CallerClient(base, token="s3cret") as call:
            assert await call.wait_for_agent_audio(timeout_s=20.0)
        code, reason = await closed_with(guarded, "/twilio", twilio_start())
        assert code == 1008 and "token" in reason
        with_token = twilio_start()
        with_token["start"]["customParameters"] = {"token": "s3cret"}
        async with session.ws_connect(base.replace("http", "ws", 1) + "/twilio") as ws:
            await ws.send_json(with_token)
            msg = await ws.receive(timeout=10.0)
            assert msg.type is aiohttp.WSMsgType.TEXT and '"event":"media"' in msg.data
        await guarded.wait_idle()
