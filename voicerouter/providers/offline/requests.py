"""Which request a caller's utterance starts: a trained linear model over hashed word and letter features.

Trained offline by scripts/train_offline_nlu.py on generated caller utterances (never on the call corpus);
the weights ship in data/requests.npz, one model per agent, with the class `none` for an utterance that
starts no request (a name, a date, a yes). Inference is numpy only, pure and deterministic.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from voicerouter.lexicon.numbers import NUMBER_WORDS, ORDINALS

FEATURE_VERSION = 1
DIMENSION = 1 << 15
NONE = "none"
WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "requests.npz"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
_LETTER_WEIGHT = 0.35
_NUMBERS = frozenset(NUMBER_WORDS) | frozenset({"oh", "zero"})
_ORDINALS = frozenset(ORDINALS)


class RequestModelError(Exception):
    """A weights file that is missing, unreadable or made for other features; the message names the path."""


def _word_class(word: str) -> str:
    if word.isdigit() or word in _NUMBERS:
        return "#"
    if word in _ORDINALS:
        return "#th"
    if len(word) == 1 and word not in {"a", "i"}:
        return "_letter"
    return word


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % DIMENSION


@lru_cache(maxsize=8192)
def features(text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Hashed features of one utterance: words, word pairs and letter trigrams (for misheard words),
    L2-normalised; the same text always gives the same features."""
    words = [_word_class(w) for w in _WORD.findall(text.lower())]
    counts: dict[int, float] = {}

    def add(name: str, weight: float) -> None:
        key = _bucket(name)
        counts[key] = counts.get(key, 0.0) + weight

    padded = ["<s>", *words, "</s>"]
    for word in words:
        add("w|" + word, 1.0)
        if len(word) >= 3 and word[0] != "#" and word[0] != "_":
            marked = f"^{word}$"
            for k in range(len(marked) - 2):
                add("c|" + marked[k : k + 3], _LETTER_WEIGHT)
    for first, second in itertools.pairwise(padded):
        add(f"b|{first} {second}", 1.0)
    add("bias|", 1.0)
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    keys = tuple(sorted(counts))
    return keys, tuple(counts[k] / norm for k in keys)


@dataclass(frozen=True)
class RequestGuess:
    """The model's answer for one utterance: the most likely request (or `none`) and every probability."""

    label: str
    confidence: float
    probabilities: dict[str, float]


class RequestModel:
    """One agent's request classifier; `predict` takes tens of microseconds."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, classes: tuple[str, ...]) -> None:
        if weights.shape != (DIMENSION, len(classes)) or bias.shape != (len(classes),):
            raise RequestModelError(
                f"weights {weights.shape} do not fit {DIMENSION} x {len(classes)} classes"
            )
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._bias = np.asarray(bias, dtype=np.float64)
        self.classes = classes

    def predict(self, text: str) -> RequestGuess:
        """The request `text` starts, with the probability of each class."""
        return _predict(self, text)


@lru_cache(maxsize=8192)
def _predict(model: RequestModel, text: str) -> RequestGuess:
    keys, values = features(text)
    index = np.fromiter(keys, dtype=np.intp, count=len(keys))
    scores = (np.fromiter(values, dtype=np.float64, count=len(values)) @ model._weights[index]) + model._bias
    top = float(scores.max())
    exps = np.exp(scores - top)
    probs = exps / exps.sum()
    best = int(np.argmax(scores))
    probabilities = {c: float(p) for c, p in zip(model.classes, probs.tolist(), strict=True)}
    return RequestGuess(model.classes[best], probabilities[model.classes[best]], probabilities)


@lru_cache(maxsize=8)
def _models(path: Path) -> dict[str, RequestModel]:
    if not path.is_file():
        raise RequestModelError(
            f"{path}: weights file not found (train it with scripts/train_offline_nlu.py)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RequestModelError(f"{path}: not a readable weights file: {exc}") from exc
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, json.JSONDecodeError) as exc:
        raise RequestModelError(f"{path}: no readable meta: {exc}") from exc
    if meta.get("feature_version") != FEATURE_VERSION or meta.get("dimension") != DIMENSION:
        raise RequestModelError(f"{path}: made for other features; retrain with scripts/train_offline_nlu.py")
    models = {}
    for agent in meta.get("agents", []):
        try:
            classes = tuple(str(c) for c in arrays[f"{agent}.classes"])
            models[agent] = RequestModel(
                arrays[f"{agent}.weights"].astype(np.float64), arrays[f"{agent}.bias"], classes
            )
        except KeyError as exc:
            raise RequestModelError(f"{path}: lacks {exc.args[0]!r}") from exc
    return models


def request_model(agent: str, path: Path | None = None) -> RequestModel | None:
    """The shipped model for `agent`, or None for an agent it was not trained for (keywords serve it)."""
    return _models(Path(path) if path is not None else WEIGHTS_PATH).get(agent)
