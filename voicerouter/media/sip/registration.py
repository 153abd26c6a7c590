"""Outbound registration (RFC 3261 §10) to a trunk or PBX, with digest auth, refreshed before it expires.

A `RegisterClient` builds REGISTER requests and reads their responses; the user agent sends them through
its transaction layer. It never retries in a tight loop: failures wait `retry_after_s` (or Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from voicerouter.media.sip.dialog import LocalEndpoint, hop_for
from voicerouter.media.sip.digest import DigestChallenge, DigestError, authorize, pick_challenge
from voicerouter.media.sip.fields import FieldError, parse_name_addr
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.message import SipRequest, SipResponse
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip.uri import UriError, parse_uri

REFRESH_MARGIN_S = 30  # refresh this long before expiry (or at half-life for short registrations)
MAX_CHALLENGES = 2  # fresh challenges answered per attempt before giving up (a registrar rotating nonces)


class RegistrationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    registrar: str = Field(description="Request-URI of REGISTER, e.g. sip:pbx.example.com")
    aor: str = Field(description="address of record, e.g. sip:1001@pbx.example.com")
    username: str | None = Field(default=None, description="digest user; defaults to the AOR user")
    password: str = ""
    expires_s: int = Field(default=3600, ge=0)
    retry_after_s: int = Field(default=30, gt=0)
    proxy: str | None = Field(default=None, description="outbound proxy URI; default: the registrar")


class RegistrationState(StrEnum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"  # waiting to retry
    UNREGISTERING = "unregistering"
    UNREGISTERED = "unregistered"


class RegisterClient:
    """One binding of our Contact to an AOR at a registrar."""

    def __init__(
        self, registration_id: str, config: RegistrationConfig, local: LocalEndpoint, token: Callable[[], str]
    ) -> None:
        self.id = registration_id
        self.config = config
        self._token = token
        self._aor = parse_uri(config.aor)
        self._registrar = parse_uri(config.registrar)
        self.local = LocalEndpoint(
            local.host, local.port, local.transport, self._aor.user or local.contact_user
        )
        self.destination: Address = hop_for(config.proxy or config.registrar)
        self.state = RegistrationState.IDLE
        self.last_status: int | None = None
        self.granted_expires_s: int | None = None
        self._call_id = f"{token()}@{local.host}"
        self._from_tag = token()
        self._cseq = 0
        self._expires_s = config.expires_s
        self._challenge: DigestChallenge | None = None
        self._challenge_header = "Authorization"
        self._challenges_answered = 0
        self._nonce_count = 0
        self._sent_nonce: str | None = None
        self._next_action_ms: float | None = None

    def start(self, now_ms: float) -> SipRequest:
        self.state = RegistrationState.REGISTERING
        self._challenges_answered = 0
        return self._request(self._expires_s)

    def stop(self, now_ms: float) -> SipRequest:
        self.state = RegistrationState.UNREGISTERING
        self._next_action_ms = None
        return self._request(0)

    def next_timer_ms(self) -> float | None:
        return self._next_action_ms

    def on_timer(self, now_ms: float) -> SipRequest | None:
        """Refresh (or retry after a failure) when due."""
        if self._next_action_ms is None or now_ms < self._next_action_ms:
            return None
        self._next_action_ms = None
        if self.state in (RegistrationState.REGISTERED, RegistrationState.FAILED):
            return self.start(now_ms)
        return None

    def on_response(self, response: SipResponse, now_ms: float) -> SipRequest | None:
        """Update the binding state; returns a follow-up REGISTER to send (credentials, Min-Expires)."""
        if response.provisional:
            return None
        self.last_status = response.status
        expires = 0 if self.state is RegistrationState.UNREGISTERING else self._expires_s
        if response.status in (401, 407):
            return self._answer_challenge(response, expires, now_ms)
        if response.status == 423 and expires:
            min_expires = response.headers.get("Min-Expires") or ""
            if min_expires.isdigit() and int(min_expires) > self._expires_s:
                self._expires_s = int(min_expires)
                return self._request(self._expires_s)
        if response.success:
            if self.state is RegistrationState.UNREGISTERING:
                self.state = RegistrationState.UNREGISTERED
                self.granted_expires_s = 0
                return None
            granted = self._granted_expires(response)
            self.state = RegistrationState.REGISTERED
            self.granted_expires_s = granted
            refresh_s = max(granted / 2, granted - REFRESH_MARGIN_S)
            self._next_action_ms = now_ms + refresh_s * 1000
            return None
        self._fail(response, now_ms)
        return None

    def _answer_challenge(self, response: SipResponse, expires: int, now_ms: float) -> SipRequest | None:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        try:
            challenge = pick_challenge(response.headers.get_all(header))
        except DigestError:
            self._fail(response, now_ms)
            return None
        refused = challenge.nonce == self._sent_nonce and not challenge.stale
        if refused or self._challenges_answered >= MAX_CHALLENGES:
            self._fail(response, now_ms)  # our credentials were refused: wait, do not loop
            return None
        self._challenges_answered += 1
        self._challenge = challenge
        self._nonce_count = 0
        self._challenge_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return self._request(expires)

    def _fail(self, response: SipResponse, now_ms: float) -> None:
        if self.state is RegistrationState.UNREGISTERING:
            self.state = RegistrationState.UNREGISTERED
            return
        self.state = RegistrationState.FAILED
        retry_after = (response.headers.get("Retry-After") or "").split(";", 1)[0].strip()
        delay_s = int(retry_after) if retry_after.isdigit() else self.config.retry_after_s
        self._next_action_ms = now_ms + delay_s * 1000
        self._sent_nonce = None

    def _granted_expires(self, response: SipResponse) -> int:
        ours = self.local.contact().strip("<>")
        for value in response.headers.values("Contact"):
            try:
                contact = parse_name_addr(value, "Contact")
                if parse_uri(contact.uri).same_host_port(parse_uri(ours)):
                    expires = contact.params.get("expires")
                    if expires and expires.isdigit():
                        return int(expires)
            except (FieldError, UriError):
                continue
        header = response.headers.get("Expires") or ""
        return int(header) if header.isdigit() else self._expires_s

    def _request(self, expires: int) -> SipRequest:
        self._cseq += 1
        headers = Headers()
        headers.add("Via", self.local.via("z9hG4bK" + self._token()))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{self.config.aor}>;tag={self._from_tag}")
        headers.add("To", f"<{self.config.aor}>")
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} REGISTER")
        headers.add("Contact", self.local.contact())
        headers.add("Expires", str(expires))
        if self._challenge is not None:
            self._nonce_count += 1
            credentials = authorize(
                self._challenge,
                username=self.config.username or self._aor.user or "",
                password=self.config.password,
                method="REGISTER",
                uri=str(self._registrar),
                nonce_count=self._nonce_count,
                cnonce=self._token(),
            )
            headers.add(self._challenge_header, str(credentials))
            self._sent_nonce = self._challenge.nonce
        return SipRequest(headers=headers, method="REGISTER", uri=self._registrar)
