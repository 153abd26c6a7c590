"""Secure by default: loopback only without a token; with one, every endpoint but /healthz and the page needs
it or a short-lived ticket; /ws checks Origin; /twilio checks Twilio's signature; SIP challenges with digest.

Real server on loopback, real clients (aiohttp, the `voicerouter call` client, the CLI, SIPp)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from tests.edge_kit import edge_server
from tests.serve_kit import needs_espeak
from tests.sip_serve_kit import caller_hangs_up, invite, request, scenario, send, sip_server
from tests.sipp_peer import run_sipp
from tests.test_serve_protocol import twilio_start
from voicerouter.caller.client import CallerClient, CallFailed
from voicerouter.cli import main
from voicerouter.config import ConfigError, SipConfig
from voicerouter.media.auth import TicketSigner, bind_refusal, twilio_signature
from voicerouter.media.sip_io.policy import TOKEN_DIGEST_USER, sip_access

pytestmark = [needs_espeak]
twilio_validator = pytest.importorskip("twilio.request_validator").RequestValidator

TOKEN = "s3cret-token"
OFFER = {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# ---- binding


def test_serve_without_a_token_refuses_a_public_host_in_one_line() -> None:
    args = ["serve", "--host", "0.0.0.0", "--port", "0"]
    result = CliRunner().invoke(main, args, env={"VOICEROUTER_TOKEN": ""})
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "refusing to serve on 0.0.0.0" in line and "--insecure-no-auth" in line


def test_loopback_a_token_or_the_explicit_flag_allow_binding() -> None:
    assert bind_refusal("127.0.0.1", token=None, insecure_no_auth=False) is None
    assert bind_refusal("::1", token=None, insecure_no_auth=False) is None
    assert bind_refusal("localhost", token=None, insecure_no_auth=False) is None
    assert bind_refusal("0.0.0.0", token="t", insecure_no_auth=False) is None
    assert bind_refusal("10.1.2.3", token=None, insecure_no_auth=True) is None
    assert bind_refusal("10.1.2.3", token=None, insecure_no_auth=False) is not None


# ---- tickets


def test_a_ticket_expires_and_cannot_be_forged_or_reused_under_another_token() -> None:
    signer = TicketSigner(TOKEN, ttl_s=60)
    ticket = signer.issue(1000.0)
    assert TOKEN not in ticket
    assert signer.valid(ticket, 1059.0)
    assert not signer.valid(ticket, 1061.0)
    assert not TicketSigner("another").valid(ticket, 1001.0)
    head, mac = ticket.rsplit(".", 1)
    later = head.split(".")
    later[1] = str(int(later[1]) + 3600)  # push the expiry out: the MAC no longer matches
    assert not signer.valid(".".join(later) + "." + mac, 1001.0)
    assert not signer.valid("vrt1.garbage", 1001.0)


# ---- HTTP endpoints with a token


async def test_with_a_token_only_health_and_the_page_stay_open(tmp_path: Path) -> None:
    async with edge_server(tmp_path, token=TOKEN) as server, aiohttp.ClientSession() as http:
        for path in ("/healthz", "/", "/web/app.js"):
            async with http.get(server.url + path) as response:
                assert response.status == 200, path
        for path in ("/metrics", "/agents", "/calls", "/calls/nope"):
            async with http.get(server.url + path) as response:
                assert response.status == 401, path
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            async with http.get(server.url + path, params={"token": TOKEN}) as response:
                assert response.status == 401, f"{path}: a token in the URL must never be accepted"
            async with http.get(server.url + path, headers=bearer(TOKEN)) as response:
                assert response.status in (200, 404), path
        async with http.post(server.url + "/offer", json=OFFER) as response:
            assert response.status == 401


async def test_the_page_trades_the_token_for_a_short_lived_ticket(tmp_path: Path) -> None:
    async with edge_server(tmp_path, token=TOKEN) as server, aiohttp.ClientSession() as http:
        async with http.post(server.url + "/session") as response:
            assert response.status == 401
        async with http.post(server.url + "/session", headers=bearer(TOKEN)) as response:
            assert response.status == 200
            session = await response.json()
        ticket = session["ticket"]
        assert session["expires_in_s"] == 60 and TOKEN not in ticket
        async with http.post(server.url + "/session", headers=bearer(ticket)) as response:
            assert response.status == 401  # a ticket cannot mint tickets: only the token can
        async with http.get(server.url + "/agents", headers=bearer(ticket)) as response:
            assert response.status == 200
        async with http.post(server.url + "/offer", json=OFFER, headers=bearer(ticket)) as response:
            assert response.status == 400  # past the access check; this SDP is no real offer
        async with http.get(server.url + "/calls", params={"ticket": ticket}) as response:
            assert response.status == 401  # outside a WebSocket upgrade not even a ticket rides in a URL
        async with CallerClient(server.url + "/ws?ticket=" + ticket) as call:
            assert await call.wait_for_agent_audio(timeout_s=20.0)


async def test_the_call_client_sends_its_token_in_a_header_never_the_url(tmp_path: Path) -> None:
    async with edge_server(tmp_path, token=TOKEN) as server:
        client = CallerClient(server.url, token=TOKEN)
        assert TOKEN not in client.url
        async with client as call:  # the server accepts no token in a URL: this call proves the header
            assert await call.wait_for_agent_audio(timeout_s=20.0)
        with pytest.raises(CallFailed, match="HTTP 401: the server needs its token"):
            async with CallerClient(server.url, token="wrong"):
                pass


# ---- /ws origins


async def test_ws_refuses_a_foreign_origin_and_accepts_its_own_and_listed_ones(tmp_path: Path) -> None:
    allowed = "https://app.example.com"
    async with edge_server(tmp_path, allowed_origins=(allowed,)) as server, aiohttp.ClientSession() as http:
        url = server.url.replace("http", "ws", 1) + "/ws"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        for origin in (server.url, allowed):
            ws = await http.ws_connect(url, headers={"Origin": origin})
            await ws.close()


# ---- /twilio signatures


def test_twilio_signature_matches_twilios_documented_example_and_its_sdk() -> None:
    # The worked example of Twilio's "Webhooks security" page: auth token 12345, this URL and these params.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}  # fmt: skip
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    stream = "wss://voice.example.com/twilio?agent=clinic"
    assert twilio_signature("12345", stream) == twilio_validator("12345").compute_signature(stream, {})


async def _twilio_answers(url: str, headers: dict[str, str]) -> int | str:
    """The HTTP status that refused the stream, or "media" once the agent speaks on it."""
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.send_json(twilio_start())
        msg = await ws.receive(timeout=20.0)
        await ws.close()
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return "media" if '"event":"media"' in msg.data else str(msg.data)[:80]


async def test_twilio_streams_need_a_valid_signature_when_the_auth_token_is_set(tmp_path: Path) -> None:
    async with edge_server(tmp_path, twilio_auth_token="twilio-auth", token=TOKEN) as server:
        url = server.url.replace("http", "ws", 1) + "/twilio?agent=clinic"
        good = twilio_validator("twilio-auth").compute_signature(url, {})
        wrong = twilio_validator("other").compute_signature(url, {})
        assert await _twilio_answers(url, {}) == 403
        assert await _twilio_answers(url, {"X-Twilio-Signature": wrong}) == 403
        assert await _twilio_answers(url, {"X-Twilio-Signature": good}) == "media"
        assert await _twilio_answers(server.url.replace("http", "ws", 1) + "/twilio?agent=it",
                                     {"X-Twilio-Signature": good}) == 403  # signed for another URL


async def test_twilio_behind_a_proxy_is_checked_against_the_public_url(tmp_path: Path) -> None:
    public = "wss://voice.example.com"
    async with edge_server(tmp_path, twilio_auth_token="twilio-auth", public_url=public) as server:
        url = server.url.replace("http", "ws", 1) + "/twilio"
        sign = twilio_validator("twilio-auth").compute_signature
        assert await _twilio_answers(url, {"X-Twilio-Signature": sign(public + "/twilio", {})}) == "media"
        assert await _twilio_answers(url, {"X-Twilio-Signature": sign(url, {})}) == 403


# ---- SIP


def test_sip_access_says_which_rule_is_in_force() -> None:
    config = SipConfig()
    assert sip_access(config, None, {}).mode == "allow_list"
    with_token = sip_access(config, TOKEN, {})
    assert with_token.mode == "digest" and with_token.users == {TOKEN_DIGEST_USER: TOKEN}
    assert sip_access(config, TOKEN, {"trunk": "pw"}).users == {"trunk": "pw"}
    listed = SipConfig(access="allow_list", allowed_sources=["192.0.2.0/24"])
    assert sip_access(listed, TOKEN, {}).mode == "allow_list"
    with pytest.raises(ConfigError, match="admits every"):
        sip_access(SipConfig(access="allow_list", allowed_sources=["0.0.0.0/0"]), TOKEN, {})


needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="needs SIPp (apt-get sip-tester)")


@needs_sipp
async def test_with_a_token_sip_callers_are_digest_challenged_and_the_token_lets_them_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authorized = request("INVITE", 2, body=invite().split("Content-Length: [len]\n", 1)[1], in_dialog=False,
                         extra=f"[authentication username={TOKEN_DIGEST_USER} password={TOKEN}]")  # fmt: skip
    caplog.set_level(logging.INFO, logger="voicerouter.media.sip_io.endpoint")
    async with sip_server(tmp_path, token=TOKEN, auth_algorithms=["MD5"]) as server:
        assert any("admitted by digest auth" in r.getMessage() for r in caplog.records)
        refused = scenario(send(invite(), retrans=True), '<recv response="100" optional="true"/>',
                           '<recv response="401"/>', send(request("ACK", 1)))  # fmt: skip
        result = await run_sipp(refused, server.port, user="clinic", timeout_s=20, extra=("-mi", "127.0.0.1"))
        assert result.returncode == 0, result.stdout + result.errors
        assert not server.context.calls
        admitted = scenario(
            send(invite(), retrans=True),
            '<recv response="100" optional="true"/>',
            '<recv response="401" auth="true"/>',
            send(request("ACK", 1)),
            send(authorized, retrans=True),
            '<recv response="100" optional="true"/>',
            '<recv response="180" optional="true"/>',
            '<recv response="200"/>',
            send(request("ACK", 2)),
            '<pause milliseconds="300"/>',
            *caller_hangs_up(3),
        )
        result = await run_sipp(admitted, server.port, user="clinic", timeout_s=30,
                                extra=("-mi", "127.0.0.1"))  # fmt: skip
        assert result.returncode == 0, result.stdout + result.errors
        await server.wait_idle()
