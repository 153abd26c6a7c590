"""Provider health per model: a circuit breaker plus honoured `Retry-After`, on the caller's clock.

Sans-I/O: every method takes `now_ms`; nothing here sleeps, retries or reads the time itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voicerouter.config import HealthPolicy


class BreakerState(StrEnum):
    """A model's circuit breaker: closed (in use), open (skipped until its cooldown ends), half-open."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class ModelHealth:
    """What the board knows of one model: its breaker, its failures, how long it must be left alone."""

    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    open_until_ms: float = 0.0
    rate_limited_until_ms: float = 0.0
    half_open_trial: bool = False
    last_error: str = ""


class HealthBoard:
    """Provider health, sans-I/O: shared by every call of a process (or one simulated call), so one bad model
    is skipped for all calls. Ask unavailable_reason() before choosing a model, acquire() when its request
    is sent, then record_success() or record_failure() when it ends."""

    def __init__(self, policy: HealthPolicy) -> None:
        self._policy = policy
        self._models: dict[str, ModelHealth] = {}

    def _get(self, model: str) -> ModelHealth:
        return self._models.setdefault(model, ModelHealth())

    def state(self, model: str) -> ModelHealth:
        """The model's current health record (for reports and tests; decisions use unavailable_reason())."""
        return self._get(model)

    def unavailable_reason(self, model: str, now_ms: float) -> str | None:
        """None when the model may take a request now (then acquire() it as the request goes out);
        otherwise why not, in words for the route reason. An open breaker whose cooldown ended turns
        half-open here."""
        health = self._get(model)
        if now_ms < health.rate_limited_until_ms:
            wait_s = (health.rate_limited_until_ms - now_ms) / 1000
            return f"rate limited, retry after {wait_s:.1f}s"
        if health.state is BreakerState.OPEN:
            if now_ms < health.open_until_ms:
                wait_s = (health.open_until_ms - now_ms) / 1000
                return (
                    f"circuit open after {health.consecutive_failures} failures ({health.last_error}), "
                    f"{wait_s:.0f}s left"
                )
            health.state = BreakerState.HALF_OPEN
            health.half_open_trial = False
        if health.state is BreakerState.HALF_OPEN and health.half_open_trial:
            return "circuit half-open, trial request in flight"
        return None

    def acquire(self, model: str, now_ms: float) -> None:
        """Mark a request as sent; a half-open breaker lets exactly one trial through. Report its end with
        record_success() or record_failure()."""
        health = self._get(model)
        if health.state is BreakerState.HALF_OPEN:
            health.half_open_trial = True

    def record_success(self, model: str, now_ms: float) -> None:
        """The request ended well: the breaker closes and the failure count resets."""
        health = self._get(model)
        health.state = BreakerState.CLOSED
        health.consecutive_failures = 0
        health.half_open_trial = False

    def record_failure(
        self, model: str, now_ms: float, *, kind: str, retry_after_s: float | None = None
    ) -> None:
        """The request failed (`kind` as in ProviderError): a rate limit holds the model off for its
        Retry-After (capped); other failures count towards opening the breaker. Then pick the next model
        with the router's first_usable()."""
        health = self._get(model)
        health.last_error = kind
        if kind == "rate_limited":
            wait_s = min(retry_after_s if retry_after_s is not None else 1.0, self._policy.max_retry_after_s)
            health.rate_limited_until_ms = max(health.rate_limited_until_ms, now_ms + wait_s * 1000)
            health.half_open_trial = False
            return
        health.consecutive_failures += 1
        if (
            health.state is BreakerState.HALF_OPEN
            or health.consecutive_failures >= self._policy.failure_threshold
        ):
            health.state = BreakerState.OPEN
            health.open_until_ms = now_ms + self._policy.open_cooldown_s * 1000
        health.half_open_trial = False
