"""`voicerouter serve` with SIP on free loopback ports, and SIPp scenarios for the SIP serve tests.

The server is the real app (offline speech, offline agent model) with a `[sip]` table written to a config
file; SIPp is the independent peer. Scenarios are built from small pieces so each test reads as its call flow.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from voicerouter.audio.g711 import lin2ulaw
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.media.sip_io.endpoint import SipEndpoint
from voicerouter.server import SIP_KEY, ServeSettings, create_app

SDP = """
      v=0
      o=user1 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio {media_port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
"""

_HEADERS = """
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15551230000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70"""


def request(method: str, cseq: int, *, body: str = "", content_type: str = "application/sdp",
            in_dialog: bool = True, branch: str = "[branch]", extra: str = "") -> str:  # fmt: skip
    head = f"\n      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0" + _HEADERS.format(
        to_tag="[peer_tag_param]" if in_dialog else "", cseq=cseq, method=method
    ).replace("[branch]", branch)
    if extra:
        head += "\n      " + extra
    if body:
        head += f"\n      Content-Type: {content_type}"
    return head + "\n      Content-Length: [len]\n" + body


def invite(media_port: str = "[auto_media_port]", direction: str | None = None) -> str:
    body = SDP.format(media_port=media_port) + (f"      a={direction}\n" if direction else "")
    return request("INVITE", 1, body=body, in_dialog=False)


def send(message: str, retrans: bool = False) -> str:
    attributes = ' retrans="500"' if retrans else ""
    return f"<send{attributes}><![CDATA[{message}]]></send>"


def answer(status: str = "200 OK", extra: str = "") -> str:
    """A response to the request SIPp just received (BYE, REFER)."""
    lines = [f"SIP/2.0 {status}", "[last_Via:]", "[last_From:]", "[last_To:]", "[last_Call-ID:]"]
    lines.append("[last_CSeq:]")
    if extra:
        lines.append(extra)
    lines += ["Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>", "Content-Length: 0"]
    return send("\n      " + "\n      ".join(lines) + "\n")


def scenario(*steps: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="voicerouter sip serve">\n'
        + "\n".join(steps)
        + "\n</scenario>\n"
    )


def pause(ms: int) -> str:
    return f'<pause milliseconds="{ms}"/>'


def call_answered(media_port: str = "[auto_media_port]") -> list[str]:
    return [
        send(invite(media_port), retrans=True),
        '<recv response="100" optional="true"/>',
        '<recv response="180" optional="true"/>',
        '<recv response="200" rtd="true"/>',
        send(request("ACK", 1)),
    ]


def caller_hangs_up(cseq: int) -> list[str]:
    return [send(request("BYE", cseq), retrans=True), '<recv response="200"/>']


def stream_audio(path: Path) -> str:
    """SIPp 3.6 streams a file's bytes as they are: raw 8 kHz µ-law, 160 bytes per 20 ms packet (PT 0)."""
    return f'<nop><action><exec rtp_stream="{path},1,0"/></action></nop>'


def play_pcap(path: str) -> str:
    return f'<nop><action><exec play_pcap_audio="{path}"/></action></nop>'


def expect_header(header: str, pattern: str, name: str) -> str:
    return (
        f'<action><ereg regexp="{pattern}" search_in="hdr" header="{header}" check_it="true"'
        f' assign_to="{name}"/></action>'
    )


def expect_body(pattern: str, name: str) -> str:
    return f'<action><ereg regexp="{pattern}" search_in="body" check_it="true" assign_to="{name}"/></action>'


def raw_ulaw(pcm16_8k: bytes, directory: Path, name: str) -> Path:
    path = directory / f"{name}.ulaw"
    path.write_bytes(lin2ulaw(pcm16_8k))
    return path


# ---------------------------------------------------------------- the server


def free_sip_port() -> int:
    """A port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        port = random.randint(21000, 29999)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for SIP")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


@dataclass
class SipServer:
    url: str
    app: web.Application
    recordings: Path

    @property
    def context(self) -> ServeContext:
        return self.app[CONTEXT_KEY]

    @property
    def sip(self) -> SipEndpoint:
        return self.app[SIP_KEY]

    @property
    def port(self) -> int:
        return self.sip.port

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Until every call has ended, its pipeline closed and its ports freed."""
        for _ in range(int(timeout_s / 0.02)):
            if not self.context.calls and not self.sip.legs:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"calls still open after {timeout_s} s: {list(self.sip.legs)}")


@asynccontextmanager
async def sip_server(
    directory: Path, env: dict[str, str] | None = None, *, token: str | None = None, audio: object = None,
    **sip: object
) -> AsyncIterator[SipServer]:
    rtp_base = random.randrange(30000, 59000, 100)
    table = {"rtp_port_min": rtp_base, "rtp_port_max": rtp_base + 99, **sip}
    config = directory / "voicerouter.toml"
    text = "[sip]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items())
    if isinstance(audio, dict):  # the [audio] table (typed loosely: callers pass **sip settings too)
        text += "[audio]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in audio.items())
    config.write_text(text)
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / "recordings",
                             speech="offline", sip_port=free_sip_port(), config_path=str(config),
                             token=token)  # fmt: skip
    app = create_app(settings, env=env or {})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield SipServer(url=f"http://{host}:{port}", app=app, recordings=settings.recordings_dir)
    finally:
        await runner.cleanup()
