"""Cost in USD from token usage and the model table's list prices; estimates before a turn runs.

Pure arithmetic. `tokens_in` counts every prompt token, cached ones included (as `Usage` does); the cached
part is priced at the cached-input rate and the rest at the input rate.
"""

from __future__ import annotations

from voicerouter.config import ModelEntry

CHARS_PER_TOKEN = 4.0
EXPECTED_OUTPUT_TOKENS = {"speech": 25, "triage": 60, "reasoning": 140}


def cost_usd(entry: ModelEntry, *, tokens_in: int, tokens_out: int, cached_in: int = 0) -> float:
    cached = min(cached_in, tokens_in)
    return (
        (tokens_in - cached) * entry.price_in_per_mtok
        + tokens_out * entry.price_out_per_mtok
        + cached * entry.price_cached_in_per_mtok
    ) / 1_000_000


def estimate_tokens(text_chars: int) -> int:
    return max(1, round(text_chars / CHARS_PER_TOKEN))


def estimate_turn_cost_usd(entry: ModelEntry, *, prompt_chars: int, tier: str) -> float:
    """What one answer of this tier is expected to cost: the prompt plus a typical reply for the tier."""
    return cost_usd(
        entry,
        tokens_in=estimate_tokens(prompt_chars),
        tokens_out=EXPECTED_OUTPUT_TOKENS.get(tier, 80),
    )
