"""Digest authentication (RFC 2617/7616 vectors), inbound INVITE challenges, and outbound REGISTER."""

from __future__ import annotations

import pytest

from tests.sip_corpus import trunk_invite
from tests.sip_harness import TRUNK, TRUNK_NETWORK, Harness
from voicerouter.media.sip.digest import (
    AuthResult,
    DigestAuthenticator,
    DigestChallenge,
    authorize,
    digest_response,
    parse_challenge,
    parse_credentials,
    pick_challenge,
)
from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.registration import RegistrationConfig, RegistrationState
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip.ua_events import IncomingCall, MessageRejected, RegistrationUpdated
from voicerouter.media.sip.ua_support import UserAgentConfig


def test_rfc2617_md5_qop_auth_example_vector() -> None:
    response = digest_response(
        algorithm="MD5",
        username="Mufasa",
        password="Circle Of Life",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_example_vectors(algorithm: str, expected: str) -> None:
    challenge = parse_challenge(
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm='
        + algorithm
        + ', nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",'
        + ' opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == algorithm
    credentials = authorize(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert (credentials.response, credentials.qop, credentials.nc) == (expected, "auth", "00000001")
    assert parse_credentials(str(credentials)) == credentials


def test_the_strongest_supported_challenge_is_chosen() -> None:
    headers = [
        'Digest realm="pbx", nonce="n1", algorithm=MD5, qop="auth"',
        'Digest realm="pbx", nonce="n2", algorithm=SHA-512-256, qop="auth"',
        'Digest realm="pbx", nonce="n3", algorithm=SHA-256, qop="auth"',
    ]
    assert pick_challenge(headers).nonce == "n3"


def test_a_challenge_without_qop_gets_the_rfc2069_response() -> None:
    challenge = DigestChallenge("asterisk", "4a8b9c")
    credentials = authorize(challenge, username="1001", password="pw", method="REGISTER", uri="sip:pbx")
    assert credentials.qop is None and credentials.nc is None and "qop" not in str(credentials)
    expected = digest_response(
        algorithm="MD5",
        username="1001",
        password="pw",
        realm="asterisk",
        nonce="4a8b9c",
        method="REGISTER",
        uri="sip:pbx",
    )
    assert credentials.response == expected


def _authenticator() -> DigestAuthenticator:
    return DigestAuthenticator("voicerouter", {"trunk": "s3cret"}, secret=b"k" * 32, nonce_ttl_ms=60_000)


def _answer(auth: DigestAuthenticator, now_ms: float, password: str = "s3cret", nc: int = 1) -> str:
    challenge = auth.challenges(now_ms)[0]
    return str(
        authorize(
            challenge,
            username="trunk",
            password=password,
            method="INVITE",
            uri="sip:clinic@x",
            nonce_count=nc,
            cnonce="abc",
        )
    )


def test_the_authenticator_accepts_good_credentials_and_names_every_failure() -> None:
    auth = _authenticator()
    assert auth.verify([], "INVITE", 0) is AuthResult.MISSING
    assert auth.verify([_answer(auth, 0)], "INVITE", 10) is AuthResult.OK
    assert auth.verify([_answer(auth, 0, password="wrong")], "INVITE", 10) is AuthResult.REJECTED
    assert auth.verify([_answer(auth, 0)], "BYE", 10) is AuthResult.REJECTED  # method is part of the hash
    assert auth.verify([_answer(auth, 0)], "INVITE", 61_000) is AuthResult.STALE
    forged = DigestAuthenticator("voicerouter", {"trunk": "s3cret"}, secret=b"x" * 32)
    assert auth.verify([_answer(forged, 0)], "INVITE", 10) is AuthResult.REJECTED


def test_the_authenticator_refuses_a_replayed_nonce_count() -> None:
    auth = _authenticator()
    first = _answer(auth, 0)
    assert auth.verify([first], "INVITE", 1) is AuthResult.OK
    assert auth.verify([first], "INVITE", 2) is AuthResult.REJECTED


def _auth_harness(status: int = 401) -> Harness:
    config = UserAgentConfig(
        allowed_sources=(TRUNK_NETWORK,), auth_users={"trunk": "s3cret"}, auth_status=status
    )
    return Harness(config)


@pytest.mark.parametrize(
    ("status", "challenge", "credentials"),
    [
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization"),
    ],
)
def test_inbound_invites_are_challenged_and_let_in_with_good_credentials(
    status: int, challenge: str, credentials: str
) -> None:
    h = _auth_harness(status)
    h.send(trunk_invite())
    (refusal,) = h.responses()
    assert refusal.status == status
    offered = [parse_challenge(v) for v in refusal.headers.get_all(challenge)]
    assert [c.algorithm for c in offered] == ["SHA-256", "MD5"] and h.events() == []
    answer = authorize(
        offered[1], username="trunk", password="s3cret", method="INVITE", uri="sip:clinic@127.0.0.1:5060"
    )
    h.send(trunk_invite(branch="z9hG4bKretry", extra=[f"{credentials}: {answer}"]))
    assert [type(e) for e in h.events()] == [IncomingCall]


def test_inbound_invites_with_a_wrong_password_are_refused_and_logged() -> None:
    h = _auth_harness()
    h.send(trunk_invite())
    challenge = parse_challenge(h.responses()[0].headers.get_all("WWW-Authenticate")[0])
    answer = authorize(
        challenge, username="trunk", password="guess", method="INVITE", uri="sip:clinic@127.0.0.1:5060"
    )
    h.send(trunk_invite(branch="z9hG4bKretry", extra=[f"Authorization: {answer}"]))
    assert [r.status for r in h.responses()] == [401]
    (logged,) = h.events()
    assert isinstance(logged, MessageRejected) and logged.source == TRUNK


REGISTRAR = Address("192.0.2.30", 5060)


class Registrar:
    """A registrar in miniature: challenges, checks digest credentials, grants a binding."""

    def __init__(self, password: str = "pbxpass", granted_s: int = 120, min_expires_s: int = 0) -> None:
        self.auth = DigestAuthenticator("pbx.example.com", {"1001": password}, secret=b"r" * 32)
        self.granted_s = granted_s
        self.min_expires_s = min_expires_s
        self.seen: list[SipRequest] = []

    def answer(self, request: SipRequest, now_ms: float) -> SipResponse:
        self.seen.append(request)
        expires = int(request.headers.get("Expires") or "0")
        if expires and expires < self.min_expires_s:
            response = make_response(request, 423, to_tag="reg")
            response.headers.add("Min-Expires", str(self.min_expires_s))
            return response
        if (
            self.auth.verify(request.headers.get_all("Authorization"), "REGISTER", now_ms)
            is not AuthResult.OK
        ):
            response = make_response(request, 401, to_tag="reg")
            for challenge in self.auth.challenges(now_ms):
                response.headers.add("WWW-Authenticate", str(challenge))
            return response
        response = make_response(request, 200, to_tag="reg")
        if expires:
            response.headers.add(
                "Contact", f"{request.headers.get('Contact')};expires={min(expires, self.granted_s)}"
            )
        return response


def _exchange(h: Harness, registrar: Registrar, advance_to_ms: float | None = None) -> list[SipRequest]:
    """Answer every REGISTER the user agent sends (after running its timers) until it stops sending."""
    sent: list[SipRequest] = []
    timed = h.advance(advance_to_ms) if advance_to_ms is not None else []
    requests = [m for _, m in timed if isinstance(m, SipRequest)] + h.requests()
    while requests := [r for r in requests if r.method == "REGISTER"]:
        for request in requests:
            sent.append(request)
            h.send(registrar.answer(request, h.now_ms).to_bytes(), source=REGISTRAR)
        requests = h.requests()
    return sent


def _config(**changes: object) -> RegistrationConfig:
    values: dict[str, object] = {
        "registrar": "sip:pbx.example.com",
        "aor": "sip:1001@pbx.example.com",
        "password": "pbxpass",
        "proxy": "sip:192.0.2.30:5060",
        "expires_s": 600,
    }
    values.update(changes)
    return RegistrationConfig.model_validate(values)


def test_register_answers_the_challenge_and_refreshes_before_expiry() -> None:
    h = Harness()
    registrar = Registrar()
    reg_id = h.ua.register(_config(), 0)
    sent = _exchange(h, registrar)
    assert len(sent) == 2 and "Authorization" not in sent[0].headers and "Authorization" in sent[1].headers
    assert sent[0].call_id == sent[1].call_id and sent[1].cseq.number == sent[0].cseq.number + 1
    assert sent[0].headers.get("Contact") == "<sip:1001@127.0.0.1:5060>"
    registration = h.ua.registration(reg_id)
    assert registration.state is RegistrationState.REGISTERED and registration.granted_expires_s == 120
    updates = [e for e in h.events() if isinstance(e, RegistrationUpdated)]
    assert updates[-1].state == "registered" and updates[-1].expires_s == 120
    assert registration.next_timer_ms() == 90_000  # 30 s before the 120 s binding runs out
    refresh = _exchange(h, registrar, advance_to_ms=90_000)
    assert len(refresh) == 1 and "Authorization" in refresh[0].headers  # the known nonce, next nonce count
    assert parse_credentials(refresh[0].headers.get("Authorization") or "").nc == "00000002"
    h.ua.unregister(reg_id, h.now_ms)
    (goodbye,) = _exchange(h, registrar)
    assert goodbye.headers.get("Expires") == "0"
    assert h.ua.counts().registrations == 0


def test_a_wrong_password_fails_the_registration_and_retries_later() -> None:
    h = Harness()
    registrar = Registrar(password="other")
    reg_id = h.ua.register(_config(retry_after_s=45), 0)
    assert len(_exchange(h, registrar)) == 2  # no endless loop on a refused nonce
    assert h.ua.registration(reg_id).state is RegistrationState.FAILED
    assert h.ua.registration(reg_id).next_timer_ms() == 45_000
    assert len(_exchange(h, registrar, advance_to_ms=45_000)) == 2


def test_a_registrar_that_keeps_challenging_with_new_nonces_does_not_cause_a_loop() -> None:
    h = Harness()
    registrar = Registrar(password="other")
    reg_id = h.ua.register(_config(), 0)
    sent: list[SipRequest] = []
    for step in range(10):
        requests = h.requests()
        if not requests:
            break
        sent += requests
        h.send(
            registrar.answer(requests[0], float(step)).to_bytes(), source=REGISTRAR, at_ms=float(step)
        )  # new nonce
    assert len(sent) == 3 and h.ua.registration(reg_id).state is RegistrationState.FAILED


def test_interval_too_brief_is_retried_with_min_expires() -> None:
    h = Harness()
    registrar = Registrar(min_expires_s=900)
    reg_id = h.ua.register(_config(expires_s=300), 0)
    sent = _exchange(h, registrar)
    assert [r.headers.get("Expires") for r in sent] == ["300", "900", "900"]
    assert h.ua.registration(reg_id).state is RegistrationState.REGISTERED


def test_an_unanswered_register_times_out_into_failed() -> None:
    h = Harness()
    reg_id = h.ua.register(_config(), 0)
    h.advance(33_000)
    assert h.ua.registration(reg_id).state is RegistrationState.FAILED
    assert h.ua.registration(reg_id).last_status == 408
