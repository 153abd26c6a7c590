"""Offline speech quality and speed: pocketsphinx word accuracy and real-time factor with and without the
agent's domain language model, on espeak-ng speech, and espeak-ng time to first audio chunk.

A plain script, run from the repository root
(`PYTHONPATH=. python benchmarks/bench_speech.py [--sentences N]`), prints JSON; `main()` returns the same
numbers. Needs espeak-ng; never touches the network. The domain model is built from the corpus's train split,
so the held-out numbers are for sentences it never saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from voicerouter.providers.speech.domain import UTTERANCES_PATH, domain_phrases
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT
from voicerouter.providers.speech.sphinx_pool import SphinxPool
from voicerouter.providers.speech.spoken import spoken_words

AGENTS = ("clinic", "helpdesk")
DEFAULT_SENTENCES = 25
TTFC_RUNS = 20
SHORT_REPLY = "Sure, one moment."
LONG_REPLY = (
    "Dr. Chen has openings on Tuesday at nine thirty and on Thursday at two in the afternoon. "
    "Which one works better for you? I can also check Saturday morning if neither suits."
)


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words: substitutions + deletions + insertions."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        previous, row[0] = row[:], i
        for j, hyp_word in enumerate(hypothesis, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[len(hypothesis)]


def _sentences(agent: str, split: str, count: int) -> list[str]:
    chosen = []
    for line in UTTERANCES_PATH.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("agent") == agent and record.get("split") == split and len(record["text"].split()) >= 3:
            chosen.append(" ".join(spoken_words(record["text"])))
    step = max(1, len(chosen) // count)  # spread over the file: tiers are grouped in it
    return chosen[::step][:count]


async def _speak(tts: EspeakTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


async def _score(stt: PocketsphinxSTT, clips: list[tuple[str, bytes]], rate_hz: int) -> dict[str, float]:
    errors = words = fallbacks = 0
    rtf: list[float] = []
    for reference, pcm in clips:
        started = time.perf_counter()
        result = await stt.transcribe(pcm, rate_hz)
        rtf.append((time.perf_counter() - started) * 1000.0 / result.audio_ms)
        ref_words = reference.split()
        errors += word_errors(ref_words, result.text.split())
        words += len(ref_words)
        fallbacks += result.engine.endswith("/stock")
    return {
        "word_accuracy": round(1.0 - errors / words, 3),
        "rtf_mean": round(statistics.fmean(rtf), 3),
        "rtf_p95": round(sorted(rtf)[int(0.95 * (len(rtf) - 1))], 3),
        "stock_answers": fallbacks,
    }


async def _accuracy(sentences: int, cache_dir: Path) -> dict[str, Any]:
    pool = SphinxPool(workers=1, max_queued=2, name="bench")
    stock = PocketsphinxSTT(None, pool=pool)
    results: dict[str, Any] = {}
    try:
        await stock.warm_up()
        for agent in AGENTS:
            domain = PocketsphinxSTT.for_domain(domain_phrases(agent, splits={"train"}), cache_dir, pool=pool)
            await domain.warm_up()
            for split, label in (("test", "held_out"), ("train", "in_domain")):
                for rate_hz in (16000, 8000):
                    tts = EspeakTTS(sample_rate_hz=rate_hz)
                    texts = _sentences(agent, split, sentences)
                    clips = [(text, await _speak(tts, text)) for text in texts]
                    key = f"{agent}_{label}_{rate_hz // 1000}khz"
                    results[key] = {
                        "sentences": len(clips),
                        "stock_lm": await _score(stock, clips, rate_hz),
                        "domain_lm": await _score(domain, clips, rate_hz),
                    }
    finally:
        await pool.aclose()
    return results


async def _time_to_first_chunk() -> dict[str, float]:
    tts = EspeakTTS(sample_rate_hz=16000)
    out: dict[str, float] = {}
    for label, text in (("short", SHORT_REPLY), ("long", LONG_REPLY)):
        first_ms: list[float] = []
        total_ms: list[float] = []
        audio_ms = 0.0
        for _ in range(TTFC_RUNS):
            started = time.perf_counter()
            first = None
            size = 0
            async for chunk in tts.synthesize(text):
                if first is None:
                    first = (time.perf_counter() - started) * 1000.0
                size += len(chunk)
            total_ms.append((time.perf_counter() - started) * 1000.0)
            first_ms.append(first or 0.0)
            audio_ms = size / 2 / 16000 * 1000.0
        out[f"espeak_{label}_first_chunk_ms_p50"] = round(statistics.median(first_ms), 1)
        out[f"espeak_{label}_first_chunk_ms_p95"] = round(sorted(first_ms)[int(0.95 * (TTFC_RUNS - 1))], 1)
        out[f"espeak_{label}_total_ms_p50"] = round(statistics.median(total_ms), 1)
        out[f"espeak_{label}_audio_ms"] = round(audio_ms, 1)
    return out


async def _run(sentences: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as cache:
        accuracy = await _accuracy(sentences, Path(cache))
    return {"stt": accuracy, "tts": await _time_to_first_chunk()}


def main(sentences: int = DEFAULT_SENTENCES) -> dict[str, Any]:
    if not EspeakTTS.available():
        raise SystemExit("bench_speech: espeak-ng not found; install it with `apt-get install espeak-ng`")
    return asyncio.run(_run(sentences))


if __name__ == "__main__":  # the recogniser's worker processes re-import this module: keep the guard
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sentences", type=int, default=DEFAULT_SENTENCES, help="sentences per agent and set"
    )
    print(json.dumps(main(parser.parse_args().sentences), indent=2))
