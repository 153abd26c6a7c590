"""HTTP Digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760): both the client and server side.

Covers MD5, SHA-256 and their -sess variants with qop=auth (and auth-int); nonces are stateless HMACs of
their issue time. This module never stores a password it is not given and never reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from voicerouter.media.sip.params import quote, split_outside_quotes, unquote

ALGORITHMS = {"MD5": "md5", "MD5-SESS": "md5", "SHA-256": "sha256", "SHA-256-SESS": "sha256"}
_PREFERENCE = ("SHA-256", "SHA-256-SESS", "MD5", "MD5-SESS")  # strongest first (RFC 8760 §2.4)


class DigestError(ValueError):
    """A challenge or credentials header that cannot be used: says which and why."""


def _fields(value: str, header: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"{header}: scheme {scheme!r} is not Digest")
    out: dict[str, str] = {}
    try:
        parts = split_outside_quotes(rest, ",")
    except ValueError as exc:
        raise DigestError(f"{header}: {exc}") from None
    for part in parts:
        name, eq, raw = part.strip().partition("=")
        if not part.strip():
            continue
        if not eq or not name.strip():
            raise DigestError(f"{header}: bad parameter {part.strip()!r}")
        out[name.strip().lower()] = unquote(raw.strip())
    return out


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One WWW-Authenticate / Proxy-Authenticate value."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}", f"algorithm={self.algorithm}"]
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> DigestChallenge:
    fields = _fields(value, "WWW-Authenticate")
    if "realm" not in fields or "nonce" not in fields:
        raise DigestError("WWW-Authenticate: realm and nonce are required")
    algorithm = fields.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        raise DigestError(f"WWW-Authenticate: unsupported algorithm {algorithm}")
    qop = tuple(q.strip().lower() for q in fields.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        fields["realm"],
        fields["nonce"],
        algorithm,
        qop,
        fields.get("opaque"),
        fields.get("stale", "").lower() == "true",
    )


def pick_challenge(values: list[str]) -> DigestChallenge:
    """The strongest challenge we support among several headers (RFC 8760: SHA-256 before MD5)."""
    usable: list[DigestChallenge] = []
    for value in values:
        try:
            usable.append(parse_challenge(value))
        except DigestError:
            continue
    if not usable:
        raise DigestError(f"no usable Digest challenge among {len(values)} header(s)")
    return min(usable, key=lambda c: _PREFERENCE.index(c.algorithm))


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """One Authorization / Proxy-Authorization value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


def parse_credentials(value: str) -> DigestCredentials:
    fields = _fields(value, "Authorization")
    missing = [name for name in ("username", "realm", "nonce", "uri", "response") if name not in fields]
    if missing:
        raise DigestError(f"Authorization: missing {', '.join(missing)}")
    return DigestCredentials(
        fields["username"],
        fields["realm"],
        fields["nonce"],
        fields["uri"],
        fields["response"].lower(),
        fields.get("algorithm", "MD5").upper(),
        fields.get("qop"),
        fields.get("nc"),
        fields.get("cnonce"),
        fields.get("opaque"),
    )


def digest_response(
    *,
    algorithm: str,
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The `response` value of RFC 7616 §3.4.1 (RFC 2617 §3.2.2 when qop is absent)."""
    name = ALGORITHMS.get(algorithm.upper())
    if name is None:
        raise DigestError(f"unsupported digest algorithm {algorithm}")

    def h(data: str) -> str:
        return hashlib.new(name, data.encode("utf-8")).hexdigest()

    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.new(name, body).hexdigest()
    if qop in ("auth", "auth-int"):
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{h(a2)}")
    return h(f"{ha1}:{nonce}:{h(a2)}")


def authorize(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
) -> DigestCredentials:
    """Answer a challenge: qop=auth when offered (auth-int if that is all), else the RFC 2069 form."""
    qop = "auth" if "auth" in challenge.qop else ("auth-int" if "auth-int" in challenge.qop else None)
    nc = f"{nonce_count:08x}" if qop else None
    cnonce = (cnonce or secrets.token_hex(8)) if qop else None
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        password=password,
        realm=challenge.realm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        body=body,
    )
    return DigestCredentials(
        username,
        challenge.realm,
        challenge.nonce,
        uri,
        response,
        challenge.algorithm,
        qop,
        nc,
        cnonce,
        challenge.opaque,
    )


class AuthResult(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    REJECTED = "rejected"  # wrong password, unknown user, replayed or forged nonce: challenge (or 403)


@dataclass
class DigestAuthenticator:
    """Server side: issues nonces that carry their own issue time and checks credentials against them."""

    realm: str
    users: Mapping[str, str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    nonce_ttl_ms: float = 300_000.0
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    _seen_nc: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)

    def challenges(self, now_ms: float, *, stale: bool = False) -> list[DigestChallenge]:
        nonce = self._nonce(now_ms)
        return [DigestChallenge(self.realm, nonce, alg, ("auth",), None, stale) for alg in self.algorithms]

    def verify(self, header_values: list[str], method: str, now_ms: float, body: bytes = b"") -> AuthResult:
        result = AuthResult.MISSING
        for value in header_values:
            try:
                credentials = parse_credentials(value)
            except DigestError:
                result = AuthResult.REJECTED
                continue
            if credentials.realm == self.realm:
                return self._check(credentials, method, now_ms, body)
        return result

    def _check(self, cred: DigestCredentials, method: str, now_ms: float, body: bytes) -> AuthResult:
        password = self.users.get(cred.username)
        issued_ms = self._nonce_time(cred.nonce)
        if password is None or issued_ms is None or cred.algorithm not in self.algorithms:
            return AuthResult.REJECTED
        if cred.qop is not None and (cred.qop not in ("auth", "auth-int") or not cred.nc or not cred.cnonce):
            return AuthResult.REJECTED
        expected = digest_response(
            algorithm=cred.algorithm,
            username=cred.username,
            password=password,
            realm=self.realm,
            nonce=cred.nonce,
            method=method,
            uri=cred.uri,
            qop=cred.qop,
            nc=cred.nc,
            cnonce=cred.cnonce,
            body=body,
        )
        if not hmac.compare_digest(expected, cred.response):
            return AuthResult.REJECTED
        if now_ms - issued_ms > self.nonce_ttl_ms or issued_ms > now_ms:
            return AuthResult.STALE
        return AuthResult.OK if self._fresh_nc(cred) else AuthResult.REJECTED

    def _fresh_nc(self, cred: DigestCredentials) -> bool:
        """Reject a replayed nonce count (kept for the last 4096 nonces seen)."""
        try:
            nc = int(cred.nc or "0", 16)
        except ValueError:
            return False
        key = f"{cred.nonce}|{cred.cnonce}"
        if nc <= self._seen_nc.get(key, 0) and cred.qop:
            return False
        self._seen_nc[key] = nc
        self._seen_nc.move_to_end(key)
        while len(self._seen_nc) > 4096:
            self._seen_nc.popitem(last=False)
        return True

    def _nonce(self, now_ms: float) -> str:
        stamp = f"{int(now_ms):x}"
        return f"{stamp}.{self._sign(stamp)}"

    def _nonce_time(self, nonce: str) -> float | None:
        stamp, _, signature = nonce.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(stamp)):
            return None
        try:
            return float(int(stamp, 16))
        except ValueError:
            return None

    def _sign(self, stamp: str) -> str:
        return hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
