"""Two voicerouter nodes behind the shipped deploy/nginx config: calls over /ws and /twilio through a real
nginx reach both nodes and are answered; a WebRTC offer through it is answered; a stopped node is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.serve_kit import QUESTION, ServerHandle, needs_espeak, running_server, spoken
from voicerouter.caller.run import run_call

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "nginx" / "nginx.conf"

pytestmark = [
    needs_espeak,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx (Debian nginx) is not installed"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config_for(nodes: list[ServerHandle], port: int, prefix: Path) -> Path:
    """The shipped config with this test's addresses, and every file nginx writes kept under `prefix`."""
    text = CONFIG.read_text()
    upstream = "".join(f"        server {node.url.removeprefix('http://')} max_fails=1 fail_timeout=10s;\n"
                       for node in nodes)  # fmt: skip
    shipped = [line for line in text.splitlines(keepends=True) if line.strip().startswith("server 10.0.0.")]
    assert len(shipped) == 2, "the shipped config lists two example nodes"
    text = text.replace("".join(shipped), upstream).replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("worker_processes auto;", f"worker_processes 1;\npid {prefix}/nginx.pid;\n"
                        f"error_log {prefix}/error.log warn;")  # fmt: skip
    text = text.replace("http {", "http {\n" + "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    ), 1)  # fmt: skip
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def nginx(nodes: list[ServerHandle], prefix: Path) -> AsyncIterator[str]:
    port = _free_port()
    config = _config_for(nodes, port, prefix)
    process = await asyncio.create_subprocess_exec(
        "nginx", "-p", str(prefix), "-c", str(config), "-g", "daemon off;",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                if process.returncode is not None:
                    errors = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                    raise AssertionError(f"nginx exited: {errors}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def _count(node: ServerHandle) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/calls") as response:
        return len((await response.json())["calls"])


async def test_calls_through_nginx_reach_both_nodes_and_are_answered(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "nginx").mkdir()
    question = spoken(QUESTION, tmp_path, 16000)
    phone_question = spoken(QUESTION, tmp_path, 8000)
    async with running_server(tmp_path / "a") as first, running_server(tmp_path / "b") as second:
        async with nginx([first, second], tmp_path / "nginx") as url:
            results = await asyncio.gather(*(run_call(url, question, answer_s=0.5) for _ in range(4)))
            for result in results:
                texts = [e["text"] for e in result.events if e.get("type") == "agent.text" and e.get("final")]
                assert len(texts) >= 2 and "saturday" in texts[-1].lower(), texts
            twilio = await run_call(url, phone_question, twilio=True, answer_s=0.5)
            assert len(twilio.agent_audio) > 8000  # the greeting and the answer came back through the proxy

            offer = RTCPeerConnection()
            offer.addTrack(AudioStreamTrack())
            await offer.setLocalDescription(await offer.createOffer())
            async with aiohttp.ClientSession() as http, http.post(url + "/offer", json={
                "sdp": offer.localDescription.sdp, "type": "offer", "agent": "clinic",
            }) as response:  # fmt: skip
                assert response.status == 200, await response.text()
                answer = await response.json()
            await offer.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
            await offer.close()

            await first.wait_idle()
            await second.wait_idle()
            counts = (await _count(first), await _count(second))
            assert sum(counts) >= 5 and min(counts) >= 2, counts
    # a node that is gone is skipped: only the survivor answers
    (tmp_path / "c").mkdir()
    (tmp_path / "nginx2").mkdir()
    async with running_server(tmp_path / "c") as survivor:
        gone = ServerHandle(url=f"http://127.0.0.1:{_free_port()}", app=survivor.app, recordings=tmp_path)
        async with nginx([gone, survivor], tmp_path / "nginx2") as url:
            results = await asyncio.gather(*(run_call(url, question, answer_s=0.5) for _ in range(2)))
            assert all(r.agent_audio for r in results)
            await survivor.wait_idle()
            assert await _count(survivor) == 2
