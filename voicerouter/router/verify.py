"""Asking the small model for a turn's tier when the classifier is unsure: its prompt, request and answer.

Pure functions: they build a request and read a reply; sending it, timing it and falling back are the
engine's. They never choose a model (the policy's triage chain does).
"""

from __future__ import annotations

from voicerouter.events import Tier
from voicerouter.providers.base import ChatMessage, ChatRequest

CLASSIFY_PROMPT = (
    "Label the caller's last turn for a voice agent with exactly one word: speech (social talk, thanks, "
    "yes/no, goodbye), triage (one clear request, one lookup or giving a detail) or reasoning (several "
    "constraints or steps, diagnosis, policy, complaints). Answer with the one word only."
)
CLASSIFY_MAX_TOKENS = 5
UNSURE_TIER: Tier = "reasoning"  # what a turn gets when the small model names no tier (or fails)
_LOOKED_FOR: tuple[Tier, ...] = ("speech", "triage", "reasoning")  # the first one the answer names wins


def classify_request(text: str, model_id: str, *, turn_id: int | None = None) -> ChatRequest:
    """The request that asks model `model_id` (the vendor's id) to label the caller's words `text`."""
    return ChatRequest(
        model=model_id,
        system=CLASSIFY_PROMPT,
        messages=(ChatMessage(role="user", content=text),),
        max_tokens=CLASSIFY_MAX_TOKENS,
        turn_id=turn_id,
    )


def parse_tier(answer: str) -> tuple[Tier, str]:
    """The tier the small model's answer names, and the reason to record; "" (a failed request) or a
    reply naming no tier escalates to reasoning."""
    word = answer.strip().lower()
    tier = next((t for t in _LOOKED_FOR if t in word), None)
    if tier is None:
        return UNSURE_TIER, f"small model gave no tier ({answer[:20]!r}): escalated to reasoning"
    return tier, f"small model classified the turn as {tier}"
