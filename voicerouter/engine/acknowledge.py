"""The short phrase the agent says at once when the model answering a turn will be slow to start.

Callers hang up on silence: when the expected wait for the answer's first token exceeds the agent's voice
budget, a line like "Let me check that for you." fills it. Pure decisions and a phrase rotation; the engine
speaks the phrase and keeps it in the turn's heard text. It never speaks on the speech tier.
"""

from __future__ import annotations

from collections.abc import Sequence

from voicerouter.config import VoicerouterConfig


class Acknowledger:
    """Per call: whether a turn needs an acknowledgement, and which phrase (never the same twice in a row)."""

    def __init__(self, phrases: Sequence[str], *, voice_budget_ms: int) -> None:
        self.phrases = tuple(p.strip() for p in phrases if p.strip())
        self.voice_budget_ms = voice_budget_ms
        self._next = 0
        self.last: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.phrases)

    def on_route(self, config: VoicerouterConfig, tier: str, model: str | None) -> bool:
        """At routing: the routed model is expected to start later than the caller should wait."""
        if not self.enabled or tier == "speech" or model is None:
            return False
        return expected_first_token_ms(config, model) > self.voice_budget_ms

    def on_tool_call_start(
        self, config: VoicerouterConfig, tier: str, model: str | None, waited_ms: float
    ) -> bool:
        """The turn opens with a tool call: the answer needs another model round trip after the tool, so
        the caller's wait is what passed already plus that model's expected first token."""
        if not self.enabled or tier == "speech" or model is None:
            return False
        return waited_ms + expected_first_token_ms(config, model) > self.voice_budget_ms

    def next_phrase(self) -> str:
        """The next phrase in rotation; with two or more, never the one said last."""
        phrase = self.phrases[self._next % len(self.phrases)]
        self._next += 1
        if phrase == self.last and len(set(self.phrases)) > 1:
            return self.next_phrase()
        self.last = phrase
        return phrase


def expected_first_token_ms(config: VoicerouterConfig, model: str) -> float:
    """The model's typical time to first token: the p50 of its latency profile."""
    entry = config.models.get(model)
    return entry.profile.first_token_ms.p50 if entry is not None else 0.0
