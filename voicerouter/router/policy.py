"""The routing policy: classify a turn, pick its tier, then the first healthy model of that tier's chain.

Sans-I/O and deterministic: the caller passes the time and the call's cost so far; every decision carries
its reason in words, so a recording explains itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from voicerouter.config import ModelEntry, VoicerouterConfig
from voicerouter.events import Tier
from voicerouter.router.classifier import Prediction, TriageClassifier
from voicerouter.router.cost import estimate_turn_cost_usd
from voicerouter.router.features import TurnContext
from voicerouter.router.health import HealthBoard

# Returns why a model cannot be used at all in this process (e.g. its API key is not set), or None.
Availability = Callable[[str, ModelEntry], str | None]


def always_available(name: str, entry: ModelEntry) -> None:
    return None


@dataclass(frozen=True)
class RouteDecision:
    """Where one turn goes: its tier, the model to ask first and the chain behind it, and why."""

    tier: Tier
    model: str | None  # config name of the chosen model; None when every model of the chain is down
    provider: str
    reason: str
    confidence: float
    est_cost_usd: float
    chain: tuple[str, ...]
    classified_tier: Tier
    verify_with_small_model: bool = False
    skipped: tuple[tuple[str, str], ...] = field(default=())


class Router:
    """The per-turn routing policy, sans-I/O: one per process or simulation run (or per call: it is cheap),
    with no per-call state of its own (the engine passes that in)."""

    def __init__(
        self,
        config: VoicerouterConfig,
        classifier: TriageClassifier,
        health: HealthBoard,
        availability: Availability = always_available,
    ) -> None:
        self.config = config
        self.classifier = classifier
        self.health = health
        self.availability = availability

    def classify(self, text: str, context: TurnContext) -> Prediction:
        """The offline classifier's tier for `text`, with its confidence (no policy applied)."""
        return self.classifier.predict(text, context)

    def decide(
        self,
        text: str,
        context: TurnContext,
        *,
        now_ms: float,
        call_cost_usd: float,
        prompt_chars: int,
        forced_tier: Tier | None = None,
        forced_reason: str = "",
    ) -> RouteDecision:
        """Route one turn; then ask `decision.model`, or the small model first when
        `verify_with_small_model` (and decide again with `forced_tier` from its answer). Report each request
        to `health` (acquire, then record_success or record_failure) and, on a failure, take the next model
        from first_usable(decision.chain, tried=...)."""
        policy = self.config.routing
        if forced_tier is not None:
            prediction = Prediction(tier=forced_tier, confidence=1.0, probabilities={forced_tier: 1.0})
            tier: Tier = forced_tier
            reasons = [forced_reason or f"tier {forced_tier} given"]
        else:
            prediction = self.classify(text, context)
            tier = prediction.tier
            reasons = [f"classifier: {tier} ({prediction.confidence:.2f})"]
        verify = False
        if forced_tier is None and prediction.confidence < policy.escalate_below_confidence:
            if policy.escalation == "premium":
                if tier != "reasoning":
                    reasons.append(
                        f"confidence below {policy.escalate_below_confidence:.2f}: escalated to reasoning"
                    )
                tier = "reasoning"
            else:
                verify = True
                reasons.append(
                    f"confidence below {policy.escalate_below_confidence:.2f}: the small model will classify"
                )

        cap = policy.call_cost_cap_usd
        if call_cost_usd >= cap * policy.cost_cap_downshift_at and tier == "reasoning":
            reasons.append(
                f"call cost ${call_cost_usd:.4f} is {call_cost_usd / cap:.0%} of the ${cap:.2f} cap: "
                "routed down to triage"
            )
            tier = "triage"

        chain = tuple(policy.chain(tier))
        if call_cost_usd >= cap:
            cheapest = min(chain, key=lambda n: self.config.models[n].price_out_per_mtok)
            chain = (cheapest, *[n for n in chain if n != cheapest])
            reasons.append(f"call cost cap ${cap:.2f} reached: cheapest model first")

        chosen, skipped = self.first_usable(chain, now_ms=now_ms, tried=())
        if skipped:
            reasons.append("skipped " + "; ".join(f"{name} ({why})" for name, why in skipped))
        if chosen is None:
            reasons.append("no model of the chain is usable")
            return RouteDecision(
                tier=tier,
                model=None,
                provider="none",
                reason="; ".join(reasons),
                confidence=prediction.confidence,
                est_cost_usd=0.0,
                chain=chain,
                classified_tier=prediction.tier,
                verify_with_small_model=verify,
                skipped=tuple(skipped),
            )
        entry = self.config.models[chosen]
        est = estimate_turn_cost_usd(entry, prompt_chars=prompt_chars, tier=tier)
        if est > policy.turn_cost_budget_usd:
            reasons.append(f"estimated ${est:.4f} exceeds the turn budget ${policy.turn_cost_budget_usd:.4f}")
        return RouteDecision(
            tier=tier,
            model=chosen,
            provider=entry.provider,
            reason="; ".join(reasons),
            confidence=prediction.confidence,
            est_cost_usd=est,
            chain=chain,
            classified_tier=prediction.tier,
            verify_with_small_model=verify,
            skipped=tuple(skipped),
        )

    def first_usable(
        self, chain: tuple[str, ...], *, now_ms: float, tried: tuple[str, ...]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        """The first untried model of `chain` that is configured and healthy, and why others were not; call
        `health.acquire()` on it when its request is sent."""
        skipped: list[tuple[str, str]] = []
        for name in chain:
            if name in tried:
                continue
            entry = self.config.models[name]
            why = self.availability(name, entry) or self.health.unavailable_reason(name, now_ms)
            if why:
                skipped.append((name, why))
                continue
            return name, skipped
        return None, skipped
