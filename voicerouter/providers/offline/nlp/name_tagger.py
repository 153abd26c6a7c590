"""Where a person's name is in an utterance that a recognizer wrote in lower case: a trained word tagger.

"hi kiss id hannah becker, i need to cancel": no capitals and a cue lost to the recognizer; the tagger reads
each word with its neighbours and whether it is a common word, and marks the words of a name (B, I) or
not (O), left to right. An averaged perceptron over hashed features, trained by
scripts/train_offline_nlu.py on generated utterances (never the call corpus); weights in
../data/names.npz. Pure and deterministic; a missing weights file means no tagger (the cue rules serve).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

FEATURE_VERSION = 1
DIMENSION = 1 << 17
TAGS = ("O", "B", "I")
WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "data" / "names.npz"


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % DIMENSION


def token_features(words: Sequence[str], i: int, previous_tag: str, known: frozenset[str]) -> list[int]:
    """Hashed features of word `i`: itself, its neighbours, whether they are common words, the tag before."""

    def at(k: int) -> str:
        return words[k] if 0 <= k < len(words) else ("<s>" if k < 0 else "</s>")

    def kind(word: str) -> str:
        if word in {"<s>", "</s>"}:
            return word
        if word.isdigit():
            return "#"
        if len(word) == 1:
            return "letter"
        return "known" if word in known else "rare"

    w, p1, p2, n1, n2 = at(i), at(i - 1), at(i - 2), at(i + 1), at(i + 2)
    names = [
        f"w={w}", f"p1={p1}", f"p2={p2}", f"n1={n1}", f"n2={n2}", f"p1w={p1} {w}", f"wn1={w} {n1}",
        f"p2p1={p2} {p1}", f"k={kind(w)}", f"kp1={kind(p1)}", f"kn1={kind(n1)}",
        f"kk={kind(p1)} {kind(w)} {kind(n1)}",
        f"t={previous_tag}", f"tk={previous_tag} {kind(w)}", f"tw={previous_tag} {w}", f"suf={w[-3:]}",
        f"tp1={previous_tag} {p1}", "bias",
    ]  # fmt: skip
    return [_bucket(name) for name in names]


class NameTagger:
    """Tags the words of a lower-case utterance as name (B, I) or not (O)."""

    def __init__(self, weights: np.ndarray, known: frozenset[str]) -> None:
        if weights.shape != (DIMENSION, len(TAGS)):
            raise ValueError(f"name tagger weights {weights.shape} do not fit {DIMENSION} x {len(TAGS)}")
        self._weights = np.asarray(weights, dtype=np.float64)
        self.known = known

    def tag(self, words: Sequence[str]) -> tuple[str, ...]:
        """One tag per word, greedy left to right; an I only follows a B or an I."""
        tags: list[str] = []
        previous = "<s>"
        for i in range(len(words)):
            scores = self._weights[token_features(words, i, previous, self.known)].sum(axis=0)
            if previous not in {"B", "I"}:
                scores[2] = -np.inf
            previous = TAGS[int(np.argmax(scores))]
            tags.append(previous)
        return tuple(tags)

    def spans(self, words: Sequence[str]) -> list[tuple[int, int]]:
        """(start, end) of each name the tagger finds."""
        return _spans(self, tuple(words))


@lru_cache(maxsize=4096)
def _spans(tagger: NameTagger, words: tuple[str, ...]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for i, tag in enumerate(tagger.tag(words)):
        if tag == "B":
            found.append((i, i + 1))
        elif tag == "I" and found and found[-1][1] == i:
            found[-1] = (found[-1][0], i + 1)
    return found


@lru_cache(maxsize=2)
def name_tagger(path: Path = WEIGHTS_PATH) -> NameTagger | None:
    """The shipped tagger, or None when no weights file is there."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("feature_version") != FEATURE_VERSION or meta.get("dimension") != DIMENSION:
                raise ValueError(
                    f"{path}: made for other features; retrain with scripts/train_offline_nlu.py"
                )
            return NameTagger(data["weights"], frozenset(str(w) for w in data["known"]))
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable name tagger: {exc}") from exc
