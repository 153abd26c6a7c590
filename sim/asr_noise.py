"""Noisy speech recognition at a target word error rate, with the errors real recognisers make.

Substitutions come from words that sound alike (one phoneme apart in the CMU pronunciation dictionary
that pocketsphinx ships), number confusions (fifteen/fifty), dropped letters of spelled names, deletions
of short words and insertions of fillers. Seeded by the caller; it never reads files after the first use.
"""

from __future__ import annotations

import functools
import random
import re
from collections import defaultdict
from pathlib import Path

from voicerouter.lexicon.distance import edit_distance

NUMBER_CONFUSIONS = {
    "thirteen": "thirty",
    "thirty": "thirteen",
    "fourteen": "forty",
    "forty": "fourteen",
    "fifteen": "fifty",
    "fifty": "fifteen",
    "sixteen": "sixty",
    "sixty": "sixteen",
    "seventeen": "seventy",
    "seventy": "seventeen",
    "eighteen": "eighty",
    "eighty": "eighteen",
    "nineteen": "ninety",
    "ninety": "nineteen",
    "two": "to",
    "four": "for",
    "eight": "a",
    "five": "nine",
    "nine": "five",
    "one": "won",
    "oh": "o",
    "ten": "then",
}
FILLERS = ("uh", "um", "the", "a", "and", "you")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _dict_path() -> Path | None:
    try:
        import pocketsphinx
    except ImportError:
        return None
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    return path if path.is_file() else None


@functools.cache
def _pronunciations() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, ...], list[str]], tuple[str, ...]]:
    """word -> phonemes, phonemes -> words, and every phoneme, for plain words. Sound-alikes are looked up
    by substitution, so loading does not build an index of every word with each phoneme blanked (slow)."""
    path = _dict_path()
    words: dict[str, tuple[str, ...]] = {}
    spoken: dict[tuple[str, ...], list[str]] = defaultdict(list)
    if path is None:
        return words, spoken, ()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) < 2 or "(" in parts[0] or not parts[0].isalpha() or len(parts[0]) > 10:
                continue
            word = parts[0]
            phones = tuple(p.rstrip("012") for p in parts[1:])
            words[word] = phones
            spoken[phones].append(word)
    inventory = tuple(sorted({p for phones in spoken for p in phones}))
    return words, dict(spoken), inventory


@functools.cache
def sound_alikes(word: str) -> tuple[str, ...]:
    """Words one phoneme away from `word`, shortest spelling-distance first."""
    words, spoken, inventory = _pronunciations()
    phones = words.get(word)
    if not phones:
        return ()
    found: set[str] = set()
    for i in range(len(phones)):
        for phone in inventory:
            found.update(spoken.get((*phones[:i], phone, *phones[i + 1 :]), ()))
    found.discard(word)
    return tuple(sorted(found, key=lambda w: (abs(len(w) - len(word)), w))[:12])


def _is_spelled_letter(tokens: list[str], i: int) -> bool:
    def single(j: int) -> bool:
        return 0 <= j < len(tokens) and len(tokens[j]) == 1 and tokens[j].isalpha() and tokens[j] not in "ai"

    return single(i) and (single(i - 1) or single(i + 1))


def add_asr_noise(text: str, wer: float, rng: random.Random) -> str:
    """`text` as a recogniser with roughly this word error rate would return it."""
    if wer <= 0:
        return text
    tokens = text.lower().split()
    out: list[str] = []
    for i, token in enumerate(tokens):
        if rng.random() >= wer:
            out.append(token)
            continue
        bare = "".join(_WORD.findall(token))
        roll = rng.random()
        if _is_spelled_letter(tokens, i):
            continue  # a letter of a spelled name lost
        if bare in NUMBER_CONFUSIONS and roll < 0.8:
            out.append(NUMBER_CONFUSIONS[bare])
        elif roll < 0.6:
            alikes = sound_alikes(bare)
            if alikes:
                out.append(alikes[min(len(alikes) - 1, int(rng.random() ** 2 * len(alikes)))])
            else:
                out.append(bare[:-1] if len(bare) > 3 else FILLERS[rng.randrange(len(FILLERS))])
        elif roll < 0.85:
            continue  # deletion
        else:
            out.append(token)
            out.append(FILLERS[rng.randrange(len(FILLERS))])  # insertion counts one error
    return " ".join(out)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) — the numerator and denominator of WER."""
    ref = reference.lower().split()
    if hypothesis == reference:  # clean recognition, most turns at WER 0: no table to fill
        return 0, len(ref)
    return edit_distance(ref, hypothesis.lower().split()), len(ref)
