"""Connection limits at the server's edge: header read timeout, connections per address, WebSocket sizes.

Each connection is wrapped before aiohttp sees it, so a slow-loris peer or one address opening hundreds of
sockets costs a timer and a counter, never a request handler. It never reads request bodies or call audio.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections import Counter as Tally
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from voicerouter.metrics import Counter, Registry

log = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024  # past this aiohttp refuses the request itself; we stop watching
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")


class RequestFraming:
    """Where one connection is in its stream of HTTP/1.1 requests: in a head, in a body, or past an upgrade.

    Just enough framing to time each request's head, the first and every keep-alive one after it. A chunked
    body or an upgrade (WebSocket) ends the watching: from there on the bytes are not request heads.
    """

    def __init__(self) -> None:
        self.phase = "head"  # head | body | done
        self._head = bytearray()
        self._body_left = 0

    def feed(self, data: bytes) -> list[str]:
        """Feed received bytes; returns what happened, in order: "head_started", "head_done"."""
        happened: list[str] = []
        view = memoryview(data)
        while view.nbytes and self.phase != "done":
            if self.phase == "body":
                take = min(view.nbytes, self._body_left)
                self._body_left -= take
                view = view[take:]
                if not self._body_left:
                    self.phase = "head"
                continue
            if not self._head:
                happened.append("head_started")
            self._head += view
            view = view[view.nbytes:]
            end = self._head.find(HEAD_END)
            if end < 0:
                if len(self._head) > MAX_HEAD_BYTES:
                    self.phase = "done"
                break
            head, rest = bytes(self._head[:end]).lower(), bytes(self._head[end + 4:])
            self._head.clear()
            happened.append("head_done")
            if b"\r\nupgrade:" in head or b"\r\ntransfer-encoding:" in head:
                self.phase = "done"
                break
            length = _CONTENT_LENGTH.search(head)
            self._body_left = int(length.group(1)) if length else 0
            self.phase = "body" if self._body_left else "head"
            view = memoryview(rest)
        return happened


class HttpLimits(BaseModel):
    """What one peer may hold open; see docs/security.md for the reasoning behind each default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    header_timeout_s: float = Field(default=10.0, gt=0, description="a request's headers must arrive in this")
    max_connections_per_address: int = Field(
        default=128, ge=1, description="open HTTP/WebSocket connections per remote address (past it: 429)"
    )
    ws_message_bytes: dict[str, int] = Field(
        default_factory=lambda: {"/ws": 64 * 1024, "/twilio": 16 * 1024},
        description="largest WebSocket message per endpoint (past it: close 1009)",
    )

    def ws_limit(self, path: str) -> int:
        return self.ws_message_bytes.get(path, 64 * 1024)


class EdgeMetrics:
    """Counters of what the edge refused or dropped, in the server's one registry."""

    def __init__(self, registry: Registry) -> None:
        self.refused: Counter = registry.counter(
            "voicerouter_http_refused_total",
            "Connections refused or closed at the edge, by reason.",
            ("reason",),
        )
        self.media_dropped_ms: Counter = registry.counter(
            "voicerouter_inbound_media_dropped_ms_total",
            "Caller audio dropped because it arrived faster than real time, in ms, by transport.",
            ("transport",),
        )
        self.floods_closed: Counter = registry.counter(
            "voicerouter_inbound_floods_closed_total",
            "Calls closed because their media kept arriving faster than real time, by transport.",
            ("transport",),
        )


_EDGE: weakref.WeakKeyDictionary[Registry, EdgeMetrics] = weakref.WeakKeyDictionary()


def edge_metrics(registry: Registry) -> EdgeMetrics:
    """The edge counters of `registry` (created once per registry)."""
    metrics = _EDGE.get(registry)
    if metrics is None:
        metrics = _EDGE[registry] = EdgeMetrics(registry)
    return metrics


def _status_response(status: int, reason: str, text: str) -> bytes:
    body = text.encode("utf-8")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode("ascii") + body


class ConnectionGuard:
    """Counts connections per address and logs each kind of refusal once per address until it recovers."""

    def __init__(self, limits: HttpLimits, metrics: EdgeMetrics) -> None:
        self.limits = limits
        self.metrics = metrics
        self.open: Tally[str] = Tally()
        self._logged: set[tuple[str, str]] = set()

    def admit(self, address: str) -> bool:
        limit = self.limits.max_connections_per_address
        if self.open[address] >= limit:
            self.refuse(address, "too_many_connections", f"{self.open[address]} open (limit {limit})")
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]
            self._logged = {key for key in self._logged if key[0] != address}

    def refuse(self, address: str, reason: str, detail: str) -> None:
        self.metrics.refused.inc(1, reason)
        if (address, reason) not in self._logged:
            self._logged.add((address, reason))
            log.warning("http: %s from %s: %s (logged once per address while it lasts)", reason, address,
                        detail)  # fmt: skip


class GuardedConnection(asyncio.Protocol):
    """Sits in front of aiohttp's request handler for one connection: refuses past the per-address limit
    (429) and closes a connection whose request headers are not complete within the timeout (408)."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._address = ""
        self._admitted = False
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._framing = RequestFraming()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if peer else "unknown"
        if not self._guard.admit(self._address):
            refusal = _status_response(429, "Too Many Requests", "too many connections from this address\n")
            transport.write(refusal)
            transport.close()
            return
        self._admitted = True
        self._arm()  # a connection that never sends a byte is a slow head too
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        if self._timer is None:
            timeout_s = self._guard.limits.header_timeout_s
            self._timer = asyncio.get_running_loop().call_later(timeout_s, self._header_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_timeout(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        waited = f"request headers incomplete after {self._guard.limits.header_timeout_s:g} s"
        self._guard.refuse(self._address, "header_timeout", waited)
        transport.write(_status_response(408, "Request Timeout", "request headers took too long\n"))
        transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._framing.phase != "done":
            for step in self._framing.feed(data):
                if step == "head_started":
                    self._arm()  # each keep-alive request's head gets the same deadline as the first
                else:
                    self._disarm()
            if self._framing.phase == "done":
                self._disarm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if not self._admitted:
            return None
        result: bool | None = self._inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self._guard.release(self._address)
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


class GuardedSite(web.TCPSite):
    """`web.TCPSite` whose every connection goes through a `GuardedConnection` first."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, limits: HttpLimits, metrics: Registry,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port or None)
        self.guard = ConnectionGuard(limits, edge_metrics(metrics))

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self.guard
        self._server = await loop.create_server(lambda: GuardedConnection(server(), guard), self._host,
                                                self._port, backlog=self._backlog,
                                                reuse_port=self._reuse_port)  # fmt: skip
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


LIMITS_KEY = web.AppKey("http_limits", HttpLimits)


def ws_message_limit(request: web.Request) -> int:
    """The largest WebSocket message this request's endpoint accepts."""
    limits = request.app.get(LIMITS_KEY) or HttpLimits()
    return limits.ws_limit(request.path)
