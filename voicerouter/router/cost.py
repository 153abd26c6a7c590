"""Cost in USD from token usage and the model table's list prices; speech costs; estimates before a turn.

Pure arithmetic. `tokens_in` counts every prompt token, cached and audio ones included (as `Usage` does):
the cached part is priced at the cached-input rate, the part written to the cache at the cache-write rate,
audio at the audio rates, and the rest at the input rate.
"""

from __future__ import annotations

from voicerouter.config import ModelEntry, SpeechCosts
from voicerouter.providers.base import Usage

CHARS_PER_TOKEN = 4.0
EXPECTED_OUTPUT_TOKENS = {"speech": 25, "triage": 60, "reasoning": 140}
# A caller speaks about 150 words a minute; a turn's transcript gives its length when no audio is at hand.
CHARS_PER_SPOKEN_MINUTE = 900.0


def cost_usd(
    entry: ModelEntry,
    *,
    tokens_in: int,
    tokens_out: int,
    cached_in: int = 0,
    cache_write_in: int = 0,
    audio_in: int = 0,
    cached_audio_in: int = 0,
    audio_out: int = 0,
) -> float:
    audio_in = min(audio_in, tokens_in)
    cached_audio = min(cached_audio_in, audio_in)
    cached = min(max(cached_in, cached_audio), tokens_in)
    cached_text = cached - cached_audio
    text_in = tokens_in - audio_in
    written = min(cache_write_in, max(0, text_in - cached_text))
    plain_text = max(0, text_in - cached_text - written)
    audio_out = min(audio_out, tokens_out)
    write_price = (
        entry.price_cache_write_per_mtok
        if entry.price_cache_write_per_mtok is not None
        else entry.price_in_per_mtok
    )
    return (
        plain_text * entry.price_in_per_mtok
        + cached_text * entry.price_cached_in_per_mtok
        + written * write_price
        + (audio_in - cached_audio) * entry.price_audio_in_per_mtok
        + cached_audio * entry.price_cached_audio_in_per_mtok
        + (tokens_out - audio_out) * entry.price_out_per_mtok
        + audio_out * entry.price_audio_out_per_mtok
    ) / 1_000_000


def usage_cost_usd(entry: ModelEntry, usage: Usage) -> float:
    """What one request's reported usage costs at this row's prices."""
    return cost_usd(
        entry,
        tokens_in=usage.input_tokens,
        tokens_out=usage.output_tokens,
        cached_in=usage.cached_input_tokens,
        cache_write_in=usage.cache_write_input_tokens,
        audio_in=usage.audio_input_tokens,
        cached_audio_in=usage.cached_audio_input_tokens,
        audio_out=usage.audio_output_tokens,
    )


def stt_cost_usd(prices: SpeechCosts, *, audio_ms: float) -> float:
    return prices.stt_usd_per_minute * max(0.0, audio_ms) / 60_000


def tts_cost_usd(prices: SpeechCosts, *, chars: int) -> float:
    return prices.tts_usd_per_mchars * max(0, chars) / 1_000_000


def spoken_ms(text: str) -> float:
    """How long a caller takes to say `text`, for pricing speech recognition when no audio length is known."""
    return len(text) / CHARS_PER_SPOKEN_MINUTE * 60_000


def estimate_tokens(text_chars: int) -> int:
    return max(1, round(text_chars / CHARS_PER_TOKEN))


def estimate_turn_cost_usd(entry: ModelEntry, *, prompt_chars: int, tier: str) -> float:
    """What one answer of this tier is expected to cost: the prompt plus a typical reply for the tier."""
    return cost_usd(
        entry,
        tokens_in=estimate_tokens(prompt_chars),
        tokens_out=EXPECTED_OUTPUT_TOKENS.get(tier, 80),
    )
