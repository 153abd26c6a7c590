"""The SIP endpoint's inbound decisions: who may call, which agent a dialled user reaches, INVITE rate limits,
RTP ports.

Pure functions of configuration, their own counters and the `now_ms` they are given: they never open a
socket, never read a clock and never touch a call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from voicerouter.config import ConfigError, SipConfig

MAX_TRACKED_SOURCES = 4096  # a flood from many addresses cannot grow the rate-limit table without bound
TOKEN_DIGEST_USER = "voicerouter"  # the digest user whose password is VOICEROUTER_TOKEN


@dataclass(frozen=True)
class SipAccess:
    """Who may place a SIP call: digest users (checked after the source allow-list) or the allow-list only."""

    mode: Literal["digest", "allow_list"]
    users: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""


def sip_access(config: SipConfig, token: str | None, users: Mapping[str, str]) -> SipAccess:
    """The rule in force: configured digest users; else, with a token, digest user `voicerouter` whose
    password is the token, unless `sip.access = "allow_list"` (then allowed_sources must not be everyone)."""
    sources = ", ".join(str(net) for net in config.allowed_sources) or "nobody"
    if users:
        return SipAccess("digest", dict(users), f"digest auth ({', '.join(sorted(users))}) from {sources}")
    if token and config.access != "allow_list":
        who = f"user {TOKEN_DIGEST_USER!r}, password VOICEROUTER_TOKEN"
        return SipAccess("digest", {TOKEN_DIGEST_USER: token}, f"digest auth ({who}) from {sources}")
    if token and any(net.prefixlen == 0 for net in config.allowed_sources):
        raise ConfigError(
            'sip.access = "allow_list" with VOICEROUTER_TOKEN set: sip.allowed_sources admits every '
            "address; list the trunk's networks or use digest auth"
        )
    return SipAccess("allow_list", {}, f"source allow-list only ({sources})")


class AgentChooser:
    """Request-URI user → agent: the configured number map first, then an agent of that name, else a default.

    A user part of `+1 (555) 010-0100` and `+15550100100` are the same number: punctuation is ignored when
    matching the number map.
    """

    def __init__(self, config: SipConfig, default_agent: str, is_agent: Callable[[str], bool]) -> None:
        self._numbers = {_normalise(number): agent for number, agent in config.numbers.items()}
        self._default = config.default_agent or default_agent
        self._unknown_to_default = config.unknown_user == "default_agent"
        self._is_agent = is_agent

    @property
    def default_agent(self) -> str:
        return self._default

    def agents(self) -> set[str]:
        """Every agent this chooser can answer with (checked once at start-up)."""
        return {self._default, *self._numbers.values()}

    def choose(self, user: str | None) -> str | None:
        """The agent for a Request-URI user part, or None: answer 404."""
        if not user:
            return self._default
        mapped = self._numbers.get(_normalise(user))
        if mapped is not None:
            return mapped
        if _safe_name(user) and self._is_agent(user):
            return user
        return self._default if self._unknown_to_default else None


def _normalise(number: str) -> str:
    kept = "".join(ch for ch in number if ch.isalnum() or ch in "+*#")
    return kept.lower()


def _safe_name(user: str) -> bool:
    return 0 < len(user) <= 64 and all(ch.isalnum() or ch in "_-" for ch in user)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_ms: float


class SourceRateLimiter:
    """A token bucket per source IP: `burst` INVITEs at once, refilled at `per_minute`."""

    def __init__(self, per_minute: int, burst: int, *, max_sources: int = MAX_TRACKED_SOURCES) -> None:
        self.per_ms = per_minute / 60_000.0
        self.burst = float(burst)
        self.max_sources = max_sources
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, host: str, now_ms: float) -> bool:
        bucket = self._buckets.get(host)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                self._prune(now_ms)
            bucket = self._buckets[host] = _Bucket(self.burst, now_ms)
        bucket.tokens = min(self.burst, bucket.tokens + (now_ms - bucket.updated_ms) * self.per_ms)
        bucket.updated_ms = now_ms
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def retry_after_s(self, host: str) -> int:
        bucket = self._buckets.get(host)
        missing = 1.0 - (bucket.tokens if bucket else 1.0)
        return max(1, math.ceil(missing / self.per_ms / 1000.0))

    def _prune(self, now_ms: float) -> None:
        """Forget buckets that have refilled (they hold no state a new bucket would not), else the oldest."""
        full_after_ms = self.burst / self.per_ms
        stale = [h for h, b in self._buckets.items() if now_ms - b.updated_ms >= full_after_ms]
        for host in stale or sorted(self._buckets, key=lambda h: self._buckets[h].updated_ms)[:1]:
            del self._buckets[host]

    def __len__(self) -> int:
        return len(self._buckets)


class RtpPortPool:
    """Even RTP ports in `[low, high]` (RTCP takes the odd one above), handed out round-robin.

    Round-robin rather than lowest-free, so a port just released is not reused at once: late packets of
    the previous call then land on a closed port instead of the next caller's stream.
    """

    def __init__(self, low: int, high: int) -> None:
        self._first = low + (low % 2)
        self._ports = list(range(self._first, high, 2))  # p and p + 1 both <= high
        if not self._ports:
            raise ValueError(f"RTP port range {low}-{high} holds no even port with its RTCP port")
        self._in_use: set[int] = set()
        self._next = 0

    @property
    def capacity(self) -> int:
        return len(self._ports)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def candidates(self) -> Iterator[int]:
        """Free ports in the order to try them (a port may still fail to bind: the caller tries the next)."""
        count = len(self._ports)
        for step in range(count):
            port = self._ports[(self._next + step) % count]
            if port not in self._in_use:
                yield port

    def take(self, port: int) -> None:
        self._in_use.add(port)
        self._next = ((port - self._first) // 2 + 1) % len(self._ports)

    def release(self, port: int) -> None:
        self._in_use.discard(port)
