"""A word n-gram language model in ARPA backoff form, estimated from sentences with Witten-Bell smoothing.

Pure Python and deterministic (same sentences, same bytes out); it never reads a dictionary or a decoder.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

SENTENCE_START = "<s>"
SENTENCE_END = "</s>"
# What ARPA files use for "never starts a word sequence"; <s> is only ever a history.
_LOG10_ZERO = -99.0

Gram = tuple[str, ...]


class NgramModel:
    """Interpolated Witten-Bell estimates written as an exact ARPA backoff model.

    Witten-Bell gives a history h, seen c(h) times followed by T(h) distinct words, the interpolation weight
    T(h) / (c(h) + T(h)) for its lower order. For an interpolated model that weight is exactly the ARPA
    backoff weight, and the stored probability of a seen n-gram is the interpolated one, so the file
    describes the same distribution the estimator computes, with no renormalisation pass. It suits the
    small corpora of an agent's domain, where absolute discounting's count-of-counts are too sparse.
    """

    def __init__(self, sentences: Iterable[Sequence[str]], *, order: int = 3) -> None:
        if order < 1:
            raise ValueError(f"NgramModel: order must be >= 1, got {order}")
        self.order = order
        self._counts: list[Counter[Gram]] = [Counter() for _ in range(order)]
        self.sentence_count = 0
        for sentence in sentences:
            if sentence:
                self._add(sentence)
        if self.sentence_count == 0:
            raise ValueError("NgramModel: no non-empty sentence to estimate from")
        self._probs: list[dict[Gram, float]] = []
        self._backoffs: list[dict[Gram, float]] = []
        self._estimate()

    @property
    def vocabulary(self) -> list[str]:
        """Every word the model can emit, sorted (sentence markers excluded)."""
        return sorted(g[0] for g in self._counts[0] if g[0] not in (SENTENCE_START, SENTENCE_END))

    def _add(self, sentence: Sequence[str]) -> None:
        self.sentence_count += 1
        tokens = [SENTENCE_START, *sentence, SENTENCE_END]
        for n in range(1, self.order + 1):
            counts = self._counts[n - 1]
            for i in range(len(tokens) - n + 1):
                gram = tuple(tokens[i : i + n])
                if n == 1 and gram[0] == SENTENCE_START:
                    continue  # <s> is never predicted
                counts[gram] += 1

    def _estimate(self) -> None:
        unigrams = self._counts[0]
        total = sum(unigrams.values())
        types = len(unigrams)
        # Order 1 interpolates with a uniform distribution over the vocabulary (every word was seen).
        uniform = 1.0 / types
        self._probs.append({g: (c + types * uniform) / (total + types) for g, c in unigrams.items()})
        for n in range(2, self.order + 1):
            history_total: Counter[Gram] = Counter()
            history_types: Counter[Gram] = Counter()
            for gram, count in self._counts[n - 1].items():
                history_total[gram[:-1]] += count
                history_types[gram[:-1]] += 1
            weights = {h: history_types[h] / (history_total[h] + history_types[h]) for h in history_total}
            probs: dict[Gram, float] = {}
            for gram, count in self._counts[n - 1].items():
                h = gram[:-1]
                lower = self.probability(gram[1:])
                probs[gram] = (count + history_types[h] * lower) / (history_total[h] + history_types[h])
            self._backoffs.append(weights)
            self._probs.append(probs)

    def probability(self, gram: Gram) -> float:
        """P(last word | the words before it), backing off through shorter histories as ARPA does."""
        if not gram:
            raise ValueError("NgramModel.probability: empty n-gram")
        gram = gram[-self.order :]
        found = self._probs[len(gram) - 1].get(gram) if len(gram) <= len(self._probs) else None
        if found is not None:
            return found
        if len(gram) == 1:
            return 0.0
        weight = self._backoffs[len(gram) - 2].get(gram[:-1], 1.0)
        return weight * self.probability(gram[1:])

    def write_arpa(self, out: TextIO) -> None:
        """The model as ARPA text, n-grams sorted so the output is byte-for-byte reproducible."""
        levels = [sorted(probs) for probs in self._probs]
        has_start = (SENTENCE_START,) in self._probs[0]
        out.write("\\data\\\n")
        for n, grams in enumerate(levels, start=1):
            extra = 1 if n == 1 and not has_start else 0
            out.write(f"ngram {n}={len(grams) + extra}\n")
        for n, grams in enumerate(levels, start=1):
            out.write(f"\n\\{n}-grams:\n")
            backoffs = self._backoffs[n - 1] if n < self.order else {}
            if n == 1 and not has_start:
                weight = backoffs.get((SENTENCE_START,))
                out.write(_line(_LOG10_ZERO, (SENTENCE_START,), weight))
            for gram in grams:
                weight = backoffs.get(gram) if n < self.order else None
                out.write(_line(math.log10(self._probs[n - 1][gram]), gram, weight))
        out.write("\n\\end\\\n")


def _line(log_prob: float, gram: Gram, backoff: float | None) -> str:
    text = f"{log_prob:.6f}\t{' '.join(gram)}"
    if backoff is not None:
        text += f"\t{math.log10(backoff):.6f}" if backoff > 0 else f"\t{_LOG10_ZERO:.6f}"
    return text + "\n"
