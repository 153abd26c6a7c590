"""voicerouter nodes behind Kamailio: the shipped deploy/kamailio config, a real Kamailio, SIPp callers.

Kamailio's dispatcher spreads INVITEs over two nodes (each a real `serve` app with SIP on its own ports),
record-routes so BYE reaches the node that answered, and when a node stops, new calls reach the survivor.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.sip_serve_kit import SipServer, free_sip_port, sip_server
from tests.sipp_peer import run_sipp

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "kamailio" / "kamailio.cfg"

pytestmark = pytest.mark.skipif(
    shutil.which("kamailio") is None or shutil.which("sipp") is None,
    reason="Kamailio and SIPp (Debian kamailio, sip-tester) are not installed",
)

_FROM = "From: sipp <sip:+15551230000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
_DIALOG = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{from_}
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70"""

# A caller that goes through a proxy: in-dialog requests follow the recorded route to the answering node.
CALL_THROUGH_PROXY = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call through kamailio">
<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_DIALOG.format(from_=_FROM, to_tag="", cseq="1 INVITE")}
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rtd="true" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
{_DIALOG.format(from_=_FROM, to_tag="[peer_tag_param]", cseq="1 ACK")}
[routes]
Content-Length: 0
]]></send>
<!-- A proxy that absorbed a retransmitted INVITE may relay its last 1xx after the 2xx (a race between
     Kamailio's workers when an INVITE waits out a dead node); a UAC discards it, and so does this caller. -->
<recv response="180" timeout="1200" ontimeout="1"/>
<label id="1"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
{_DIALOG.format(from_=_FROM, to_tag="[peer_tag_param]", cseq="2 BYE")}
[routes]
Content-Length: 0
]]></send>
<recv response="200" crlf="true"/>
</scenario>
"""


async def _options_ok(port: int) -> bool:
    """Whether Kamailio answers an OPTIONS on `port` (it is up and routing)."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.setblocking(False)
        local = probe.getsockname()[1]
        probe.sendto(
            (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-up\r\n"
             f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: up-{local}\r\n"
             "CSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n").encode(),
            ("127.0.0.1", port),
        )  # fmt: skip
        try:
            reply = await asyncio.wait_for(loop.sock_recv(probe, 4096), 0.5)
        except TimeoutError:
            return False
    return reply.startswith(b"SIP/2.0 200")


@contextlib.asynccontextmanager
async def kamailio(tmp_path: Path, nodes: list[SipServer]):  # type: ignore[no-untyped-def]
    port = free_sip_port()
    targets = tmp_path / "dispatcher.list"
    targets.write_text("".join(f"1 sip:127.0.0.1:{node.port} 0 0\n" for node in nodes))
    process = await asyncio.create_subprocess_exec(
        "kamailio", "-DD", "-E", "-f", str(CONFIG), "-m", "32", "-M", "8", "-w", str(tmp_path),
        "-A", f"LISTEN=udp:127.0.0.1:{port}", "-A", f'DISPATCHER_LIST="{targets}"', "-A", "PROBE_INTERVAL=1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    log: list[str] = []

    async def read_log() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            log.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read_log())
    try:
        for _ in range(100):
            if process.returncode is not None:
                raise AssertionError("kamailio did not start:\n" + "".join(log[-30:]))
            if await _options_ok(port):
                break
        else:
            raise AssertionError("kamailio never answered OPTIONS:\n" + "".join(log[-30:]))
        yield port, log
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _calls(port: int, count: int) -> None:
    result = await run_sipp(CALL_THROUGH_PROXY, port, user="clinic", timeout_s=60,
                            extra=("-mi", "127.0.0.1", "-m", str(count), "-r", "5", "-l", "10"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.errors


async def _answered(node: SipServer) -> int:
    """Calls this node answered, from its own call index (GET /calls)."""
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/calls") as response:
        body = await response.json()
    return len(body["calls"])


async def test_kamailio_spreads_calls_over_two_nodes_and_fails_over_to_the_survivor(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(sip_server(tmp_path / "a"))
        second_stack = contextlib.AsyncExitStack()
        second = await second_stack.enter_async_context(sip_server(tmp_path / "b"))
        stack.push_async_callback(second_stack.aclose)
        port, log = await stack.enter_async_context(kamailio(tmp_path, [first, second]))

        await _calls(port, 20)
        await first.wait_idle()
        await second.wait_idle()
        by_node = (await _answered(first), await _answered(second))
        assert sum(by_node) == 20 and min(by_node) >= 5, by_node

        await second_stack.aclose()  # one node goes away; Kamailio's probes and failover route around it
        await _calls(port, 6)
        await first.wait_idle()
        assert await _answered(first) == by_node[0] + 6
        assert any("retried on" in line or "-> sip:127.0.0.1:" in line for line in log)
