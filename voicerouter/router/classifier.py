"""The offline tier classifier: multinomial logistic regression over `features.py`, numpy-only inference.

It only reads its shipped weights file and computes; it never trains, never calls a model or the network, and
gives the same prediction for the same text and context on every run.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voicerouter.events import TIERS, Tier
from voicerouter.router.features import (
    DENSE_NAMES,
    DIMENSION,
    FEATURE_VERSION,
    Features,
    TurnContext,
    extract_features,
)

DEFAULT_WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "triage_model.npz"
TOP_FEATURES = 5


@lru_cache(maxsize=4096)
def _features(text: str, context: TurnContext | None) -> Features:
    """`extract_features` memoised: pure, and replays route the same turns in the same contexts again."""
    return extract_features(text, context)


class ClassifierError(Exception):
    """A weights file that is missing, unreadable or made for other features; the message names the path."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """The classifier's answer for one turn.

    `confidence` is the top class probability after temperature scaling (fitted on held-out folds of the
    training split), so a policy threshold on it means roughly "right this often".
    `top_features` (when asked for) are the feature names that pushed hardest towards `tier`, with their
    contribution to its logit over the mean of the other tiers.
    """

    tier: Tier
    confidence: float
    probabilities: dict[str, float]
    top_features: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the weights file says about itself: where it came from and how it was trained."""

    path: Path
    temperature: float
    feature_version: int
    meta: dict[str, Any]


class TriageClassifier:
    """Decides a turn's tier (speech, triage or reasoning) in tens of microseconds, offline."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, classes: tuple[Tier, ...], info: ModelInfo):
        if weights.shape != (DIMENSION, len(classes)) or bias.shape != (len(classes),):
            raise ClassifierError(
                f"{info.path}: weights {weights.shape} / bias {bias.shape} do not fit "
                f"{DIMENSION} features x {len(classes)} classes"
            )
        # Temperature is folded into the weights once, so predict() does a single scaled dot product.
        scale = 1.0 / info.temperature
        self._weights = np.ascontiguousarray(weights * scale, dtype=np.float64)
        self._bias = np.asarray(bias * scale, dtype=np.float64)
        self.classes = classes
        self.info = info

    @classmethod
    def load(cls, path: Path | None = None) -> TriageClassifier:
        """The classifier of a weights file; by default the one shipped next to this module."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS_PATH
        if not path.is_file():
            raise ClassifierError(f"{path}: weights file not found (train it with scripts/train_router.py)")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ClassifierError(f"{path}: not a readable weights file: {exc}") from exc
        missing = {"weights", "bias", "classes", "temperature", "feature_version", "dense_names", "meta"}
        missing -= arrays.keys()
        if missing:
            raise ClassifierError(f"{path}: weights file lacks {sorted(missing)}")
        version = int(arrays["feature_version"])
        if version != FEATURE_VERSION:
            raise ClassifierError(
                f"{path}: trained for feature version {version}, this code computes version "
                f"{FEATURE_VERSION}; retrain with scripts/train_router.py"
            )
        if tuple(str(n) for n in arrays["dense_names"]) != DENSE_NAMES:
            raise ClassifierError(f"{path}: trained on a different set of named features; retrain it")
        names = [str(c) for c in arrays["classes"]]
        classes = tuple(t for name in names for t in TIERS if t == name)
        if len(classes) != len(names) or sorted(classes) != sorted(TIERS):
            raise ClassifierError(f"{path}: classes {names} are not the tiers {TIERS}")
        temperature = float(arrays["temperature"])
        if not math.isfinite(temperature) or temperature <= 0:
            raise ClassifierError(f"{path}: temperature {temperature} must be a positive number")
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise ClassifierError(f"{path}: meta is not JSON: {exc.msg}") from exc
        info = ModelInfo(path=path, temperature=temperature, feature_version=version, meta=meta)
        return cls(arrays["weights"], arrays["bias"], classes, info)

    def predict(self, text: str, context: TurnContext | None = None, *, explain: bool = False) -> Prediction:
        """The tier for one caller turn; `explain=True` also names the features behind it."""
        features = _features(text, context)
        index = np.fromiter(features.indices, dtype=np.intp, count=len(features.indices))
        values = np.fromiter(features.values, dtype=np.float64, count=len(features.values))
        rows = self._weights[index]
        scores = (values @ rows + self._bias).tolist()
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        probabilities: dict[str, float] = {c: e / total for c, e in zip(self.classes, exps, strict=True)}
        best = scores.index(top)
        tier = self.classes[best]
        reasons = None
        if explain:
            contrib = values * (rows[:, best] - (rows.sum(axis=1) - rows[:, best]) / (len(self.classes) - 1))
            order = np.argsort(-contrib, kind="stable")[:TOP_FEATURES]
            reasons = tuple(
                (features.names[i], round(float(contrib[i]), 4)) for i in order.tolist() if contrib[i] > 0
            )
        return Prediction(
            tier=tier, confidence=probabilities[tier], probabilities=probabilities, top_features=reasons
        )
