"""Who may use the server: the bearer token, short-lived call tickets, WebSocket origins, Twilio signatures.

Checks over a request's headers and the server's secrets, plus the one middleware that applies them to every
route; it never logs a secret and never lets a long-lived token ride in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

log = logging.getLogger(__name__)

TICKET_PREFIX = "vrt1"
TICKET_TTL_S = 60  # long enough to open one call, too short to be worth stealing from a log
OPEN_PATHS = frozenset({"/", "/healthz", "/favicon.ico"})
OPEN_PREFIXES = ("/web/",)
SESSION_PATH = "/session"
WEBSOCKET_PATHS = frozenset({"/ws", "/twilio"})
AUTHENTICATED = web.RequestKey("authenticated", bool)  # the middleware found a valid credential


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, *, token: str | None, insecure_no_auth: bool) -> str | None:
    """Why serving on `host` is refused (one line), or None when it is allowed."""
    if token or insecure_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host}: without VOICEROUTER_TOKEN anyone who reaches the port could read "
        "every call's transcripts; set VOICEROUTER_TOKEN, bind 127.0.0.1, or pass --insecure-no-auth"
    )


# ---- tickets


class TicketSigner:
    """Short-lived call tickets `vrt1.<expiry>.<nonce>.<mac>`, signed with a key derived from the token.

    A ticket proves its holder had the token a minute ago; it is what a browser page sends instead of
    keeping the long-lived token, and the only credential allowed in a WebSocket URL (`?ticket=`).
    """

    def __init__(self, token: str, ttl_s: int = TICKET_TTL_S) -> None:
        self._key = hmac.new(token.encode(), b"voicerouter call ticket", hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def issue(self, now_s: float) -> str:
        body = f"{TICKET_PREFIX}.{int(now_s) + self.ttl_s}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, ticket: str, now_s: float) -> bool:
        parts = ticket.split(".")
        if len(parts) != 4 or parts[0] != TICKET_PREFIX or not parts[1].isdigit():
            return False
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(body), parts[3]):
            return False
        return now_s <= int(parts[1])

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def bearer(request: web.BaseRequest) -> str | None:
    """The credential in `Authorization: Bearer ...`, if any (the token itself or a ticket)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def request_authorized(request: web.BaseRequest, token: str | None, now_s: float | None = None) -> bool:
    """The request carries the token or a live ticket (header; `?ticket=` on WebSocket upgrades only)."""
    if not token:
        return True
    if request.get(AUTHENTICATED):
        return True
    now = time.time() if now_s is None else now_s
    signer = TicketSigner(token)
    given = bearer(request)
    if given is not None and (token_matches(given, token) or signer.valid(given, now)):
        return True
    ticket = request.query.get("ticket")
    return request.path in WEBSOCKET_PATHS and ticket is not None and signer.valid(ticket, now)


# ---- origins


def origin_allowed(request: web.BaseRequest, allowed: Iterable[str]) -> bool:
    """A browser's `Origin` is the server's own or listed (`*` allows any); clients without one pass."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: no page can have made this connection on someone's behalf
    origin = origin.rstrip("/").lower()
    wanted = {o.rstrip("/").lower() for o in allowed}
    if "*" in wanted or origin in wanted:
        return True
    own = {f"{scheme}://{request.host}".lower() for scheme in ("http", "https")}
    return origin in own


# ---- Twilio request signatures


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 over the full URL, then each POST param (sorted) as
    name + value."""
    data = url + "".join(name + value for name, value in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _with_and_without_default_port(url: str) -> set[str]:
    """Twilio signs the URL as configured; proxies add or drop a default port, so both forms are tried."""
    parts = urlsplit(url)
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    ported = urlunsplit((parts.scheme, f"{host}:{parts.port or default}", parts.path, parts.query, ""))
    return {url, bare, ported}


def signed_url_candidates(request: web.BaseRequest, public_url: str | None) -> set[str]:
    """The URLs Twilio may have signed for this request: under `public_url` when set (behind a proxy),
    else this request's own URL, as ws(s):// and http(s)://."""
    if public_url:
        base = public_url.rstrip("/")
        urls = {base + request.path_qs}
    else:
        own = str(request.url)
        scheme = request.url.scheme
        other = {"http": "ws", "https": "wss", "ws": "http", "wss": "https"}.get(scheme, scheme)
        urls = {own, other + own[len(scheme):]}
    out: set[str] = set()
    for url in urls:
        out |= _with_and_without_default_port(url)
    return out


def twilio_signature_ok(
    request: web.BaseRequest, auth_token: str, public_url: str | None, params: Mapping[str, str] | None = None
) -> bool:
    given = request.headers.get("X-Twilio-Signature")
    if not given:
        return False
    return any(
        hmac.compare_digest(twilio_signature(auth_token, url, params), given)
        for url in signed_url_candidates(request, public_url)
    )


# ---- the middleware


@dataclass(frozen=True)
class AccessPolicy:
    """The server's access rules, from `serve`'s settings."""

    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    twilio_auth_token: str | None = None
    public_url: str | None = None
    now: Callable[[], float] = field(default=time.time)


ACCESS_KEY = web.AppKey("access", AccessPolicy)


def _unauthorized(path: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=f"{path} needs the server's token (Authorization: Bearer ...) or a ticket from POST /session\n",
        headers={"WWW-Authenticate": 'Bearer realm="voicerouter"'},
    )


@web.middleware
async def access_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Open: `/`, `/web/*`, `/healthz`. `/ws` checks Origin. `/twilio` checks Twilio's signature when
    TWILIO_AUTH_TOKEN is set. With a token, everything else needs it or a ticket."""
    access = request.app[ACCESS_KEY]
    path = request.path
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return await handler(request)
    if path == "/ws" and not origin_allowed(request, access.allowed_origins):
        log.info("/ws: refused a connection from origin %r (allow it with --allowed-origin)",
                 request.headers.get("Origin"))  # fmt: skip
        raise web.HTTPForbidden(text=f"origin {request.headers.get('Origin')!r} is not allowed\n")
    if path == "/twilio" and access.twilio_auth_token:
        if not twilio_signature_ok(request, access.twilio_auth_token, access.public_url):
            log.info("/twilio: refused a stream with a missing or wrong X-Twilio-Signature from %s",
                     request.remote)  # fmt: skip
            raise web.HTTPForbidden(text="X-Twilio-Signature is missing or wrong\n")
        request[AUTHENTICATED] = True
        return await handler(request)
    if not access.token:
        return await handler(request)
    if path == SESSION_PATH:
        if not token_matches(bearer(request), access.token):
            raise _unauthorized(path)
        request[AUTHENTICATED] = True
        return await handler(request)
    if request_authorized(request, access.token, access.now()):
        request[AUTHENTICATED] = True
        return await handler(request)
    if path == "/twilio":
        return await handler(request)  # Twilio cannot send headers: the start message's token is checked
    raise _unauthorized(path)


async def create_session(request: web.Request) -> web.Response:
    """`POST /session`: a short-lived call ticket for a client that holds the token (the call page)."""
    access = request.app[ACCESS_KEY]
    if not access.token:
        return web.json_response({"ticket": None, "expires_in_s": None, "auth": "none"})
    signer = TicketSigner(access.token)
    return web.json_response({"ticket": signer.issue(access.now()), "expires_in_s": signer.ttl_s,
                              "auth": "token"})  # fmt: skip


def add_access_routes(app: web.Application, access: AccessPolicy) -> None:
    app[ACCESS_KEY] = access
    app.router.add_post(SESSION_PATH, create_session)
