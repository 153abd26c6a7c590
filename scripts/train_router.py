"""Train the router's tier classifier from the labelled single utterances and multi-turn cases, and write
its weights.

Numpy only, deterministic for a seed. The L2 strength and the softmax temperature are chosen by k-fold
cross-validation on the train split alone; the test split is only scored at the end and never chooses
anything. A multi-turn case's context is rebuilt from its written history (`router/dialogue.py`), the tiers
of its earlier caller turns decided by a first model trained on the single utterances, as a live call would.

    python scripts/train_router.py [--data PATH] [--multiturn PATH...] [--out PATH] [--seed N] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file from a checkout: make the repo's package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicerouter.events import TIERS
from voicerouter.router.classifier import DEFAULT_WEIGHTS_PATH, ModelInfo, TriageClassifier
from voicerouter.router.dataset import (
    MULTITURN_PATH,
    UTTERANCES_PATH,
    LabelledUtterance,
    MultiTurnCase,
    load_multiturn,
    load_utterances,
)
from voicerouter.router.dialogue import context_from_history
from voicerouter.router.features import DENSE_NAMES, DIMENSION, FEATURE_VERSION, TurnContext, extract_features

# The independent dev set of multi-turn cases trains too; only our own multi-turn test split is held out.
DEV_MULTITURN_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "routing_multiturn_dev.jsonl"
# Hand-written cases (both agents, every category), and cases written from the routing rules for turns
# the others lack: a corrected or repeated value after a not-found, a pick from a list, a yes to one action.
WRITTEN_MULTITURN_PATH = MULTITURN_PATH.with_name("multiturn_written.jsonl")
RULES_MULTITURN_PATH = MULTITURN_PATH.with_name("multiturn_rules.jsonl")
L2_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
TEMPERATURE_GRID = np.geomspace(0.25, 4.0, 97)
CLASSES = TIERS


@dataclass(frozen=True)
class SparseRows:
    """A CSR-like feature matrix over compact column ids; enough linear algebra for logistic regression."""

    indptr: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def take(self, which: np.ndarray) -> SparseRows:
        parts = [np.arange(self.indptr[i], self.indptr[i + 1]) for i in which]
        lengths = np.array([len(p) for p in parts])
        sel = np.concatenate(parts)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        rows = np.repeat(np.arange(len(which)), lengths)
        return SparseRows(indptr, rows, self.cols[sel], self.vals[sel], self.n_cols)

    def dot(self, weights: np.ndarray) -> np.ndarray:
        products = self.vals[:, None] * weights[self.cols]
        return np.add.reduceat(products, self.indptr[:-1], axis=0)

    def tdot(self, grads: np.ndarray) -> np.ndarray:
        scaled = self.vals[:, None] * grads[self.rows]
        return np.stack(
            [
                np.bincount(self.cols, weights=scaled[:, k], minlength=self.n_cols)
                for k in range(grads.shape[1])
            ],
            axis=1,
        )


@dataclass(frozen=True)
class Example:
    """One labelled caller turn in its context, from either data file."""

    text: str
    tier: str
    agent: str
    context: TurnContext


def from_utterances(rows: Sequence[LabelledUtterance]) -> list[Example]:
    return [Example(r.text, r.tier, r.agent, r.turn_context()) for r in rows]


def from_multiturn(cases: Sequence[MultiTurnCase], model: TriageClassifier) -> list[Example]:
    """Each case in the context its history gives, earlier tiers decided by `model`."""

    def classify(text: str, context: TurnContext) -> str:
        return model.predict(text, context).tier

    return [
        Example(
            c.text,
            c.tier,
            c.agent,
            context_from_history(c.history_pairs(), c.text, agent=c.agent, classify=classify),
        )
        for c in cases
    ]


def in_memory_model(
    weights: np.ndarray, bias: np.ndarray, columns: np.ndarray, temperature: float
) -> TriageClassifier:
    full = np.zeros((DIMENSION, len(CLASSES)), dtype=np.float64)
    full[columns] = weights
    info = ModelInfo(path=Path("<memory>"), temperature=temperature, feature_version=FEATURE_VERSION, meta={})
    return TriageClassifier(full, bias, CLASSES, info)


def featurize(rows: Sequence[Example]) -> tuple[SparseRows, np.ndarray]:
    """Sparse features over compact columns, and the map from compact column to global feature index."""
    per_row = [extract_features(r.text, r.context) for r in rows]
    global_index = np.unique(np.concatenate([np.asarray(f.indices, dtype=np.int64) for f in per_row]))
    compact = {int(g): i for i, g in enumerate(global_index)}
    lengths = np.array([len(f.indices) for f in per_row])
    cols = np.array([compact[i] for f in per_row for i in f.indices], dtype=np.int64)
    vals = np.array([v for f in per_row for v in f.values], dtype=np.float64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    rows_of = np.repeat(np.arange(len(per_row)), lengths)
    return SparseRows(indptr, rows_of, cols, vals, len(global_index)), global_index


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    result: np.ndarray = exps / exps.sum(axis=1, keepdims=True)
    return result


def largest_eigenvalue(x: SparseRows, seed: int, iterations: int = 50) -> float:
    """λ_max(XᵀX) by power iteration; sets a step size that is safe for gradient descent."""
    v = np.random.default_rng(seed).standard_normal((x.n_cols, 1))
    value = 1.0
    for _ in range(iterations):
        w = x.tdot(x.dot(v))
        value = float(np.linalg.norm(w))
        v = w / value
    return value


def fit(x: SparseRows, y: np.ndarray, l2: float, seed: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, mean cross-entropy + l2/2·‖W‖², by accelerated gradient descent."""
    n, k = x.n_rows, len(CLASSES)
    onehot = np.eye(k)[y]
    lipschitz = 0.5 * (largest_eigenvalue(x, seed) + n) / n + l2  # + n: the unregularised bias column
    step = 1.0 / lipschitz
    weights = np.zeros((x.n_cols, k))
    bias = np.zeros(k)
    w_look, b_look = weights.copy(), bias.copy()
    t = 1.0
    for _ in range(iterations):
        residual = (softmax(x.dot(w_look) + b_look) - onehot) / n
        w_next = w_look - step * (x.tdot(residual) + l2 * w_look)
        b_next = b_look - step * residual.sum(axis=0)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = (t - 1.0) / t_next
        w_look = w_next + momentum * (w_next - weights)
        b_look = b_next + momentum * (b_next - bias)
        weights, bias, t = w_next, b_next, t_next
    return weights, bias


def nll(scores: np.ndarray, y: np.ndarray) -> float:
    probs = softmax(scores)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12)))


def near_duplicate_groups(texts: Sequence[str], threshold: float = 0.5) -> np.ndarray:
    """Group ids joining utterances whose word sets overlap by `threshold` (Jaccard), transitively.

    Folds are drawn by group so that lines from one template or one phrasing never sit on both sides of a
    fold: otherwise cross-validation rewards memorising a template, and picks the wrong regularisation.
    """
    words = [frozenset(t.lower().split()) for t in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            union = len(words[i] | words[j])
            if union and len(words[i] & words[j]) / union >= threshold:
                parent[root(j)] = root(i)
    return np.array([root(i) for i in range(len(texts))])


def cross_validate(
    x: SparseRows, y: np.ndarray, groups: np.ndarray, folds: int, seed: int, iterations: int
) -> tuple[float, float, np.ndarray, dict[float, float]]:
    """Pick L2 by out-of-fold accuracy (ties: lower log-loss): returns it, its accuracy, logits and grid."""
    unique_groups = np.unique(groups)
    shuffled = np.random.default_rng(seed).permutation(unique_groups)
    fold_of_group = {int(g): i % folds for i, g in enumerate(shuffled)}
    fold_of = np.array([fold_of_group[int(g)] for g in groups])
    results: dict[float, tuple[float, float, np.ndarray]] = {}
    for l2 in L2_GRID:
        oof = np.zeros((x.n_rows, len(CLASSES)))
        for fold in range(folds):
            train_idx, held_idx = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
            w, b = fit(x.take(train_idx), y[train_idx], l2, seed, iterations)
            oof[held_idx] = x.take(held_idx).dot(w) + b
        accuracy = float(np.mean(oof.argmax(axis=1) == y))
        results[l2] = (accuracy, nll(oof, y), oof)
        print(f"  cv l2={l2:g}: accuracy {accuracy:.3f}, log-loss {results[l2][1]:.3f}", flush=True)
    best = min(results, key=lambda l2: (-results[l2][0], results[l2][1]))
    return best, results[best][0], results[best][2], {l2: r[0] for l2, r in results.items()}


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    return float(min(TEMPERATURE_GRID, key=lambda t: nll(scores / t, y)))


def evaluate(model: TriageClassifier, rows: Sequence[Example]) -> dict[str, object]:
    """Accuracy, confusion matrix, per-tier precision/recall and calibration of `model` on `rows`."""
    truth = [r.tier for r in rows]
    preds = [model.predict(r.text, r.context) for r in rows]
    guessed = [p.tier for p in preds]
    k = {c: i for i, c in enumerate(CLASSES)}
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    for t, g in zip(truth, guessed, strict=True):
        confusion[k[t], k[g]] += 1
    per_tier = {}
    for c, i in k.items():
        tp = int(confusion[i, i])
        per_tier[c] = {
            "precision": tp / max(1, int(confusion[:, i].sum())),
            "recall": tp / max(1, int(confusion[i, :].sum())),
            "support": int(confusion[i, :].sum()),
        }
    correct = np.array([t == g for t, g in zip(truth, guessed, strict=True)])
    confidence = np.array([p.confidence for p in preds])
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(float(correct[bins == b].mean()) - float(confidence[bins == b].mean()))
        * float(np.mean(bins == b))
        for b in range(10)
        if np.any(bins == b)
    )
    per_agent = {
        agent: float(np.mean([c for c, r in zip(correct, rows, strict=True) if r.agent == agent]))
        for agent in ("clinic", "helpdesk", "any")
        if any(r.agent == agent for r in rows)
    }
    errors = [
        {"text": r.text, "tier": r.tier, "predicted": p.tier, "confidence": round(p.confidence, 3)}
        for r, p in zip(rows, preds, strict=True)
        if r.tier != p.tier
    ]
    return {
        "n": len(rows),
        "accuracy": float(correct.mean()),
        "confusion": confusion.tolist(),
        "per_tier": per_tier,
        "per_agent_accuracy": per_agent,
        "ece": ece,
        "mean_confidence": float(confidence.mean()),
        "errors": errors,
    }


def print_report(name: str, report: dict[str, object]) -> None:
    print(
        f"\n{name}: accuracy {report['accuracy']:.3f} on {report['n']} utterances, "
        f"ECE {report['ece']:.3f}, mean confidence {report['mean_confidence']:.3f}"
    )
    print("  confusion (rows = labelled, columns = predicted)")
    print("  " + " " * 10 + "".join(f"{c:>10}" for c in CLASSES))
    for c, row in zip(CLASSES, report["confusion"], strict=True):  # type: ignore[call-overload]
        print(f"  {c:>10}" + "".join(f"{v:>10}" for v in row))
    for c, m in report["per_tier"].items():  # type: ignore[attr-defined]
        print(f"  {c:>10}: precision {m['precision']:.3f}  recall {m['recall']:.3f}  (n={m['support']})")
    agents = ", ".join(f"{a} {v:.3f}" for a, v in report["per_agent_accuracy"].items())  # type: ignore[attr-defined]
    print(f"  accuracy by agent: {agents}")


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=UTTERANCES_PATH)
    parser.add_argument(
        "--multiturn",
        type=Path,
        nargs="*",
        default=[
            MULTITURN_PATH,
            *([DEV_MULTITURN_PATH] if DEV_MULTITURN_PATH.is_file() else []),
            WRITTEN_MULTITURN_PATH,
            RULES_MULTITURN_PATH,
        ],
        help="multi-turn case files (a line without a split counts as train here); by default our own cases, "
        "the dev set, the hand-written ones and the ones written from the routing rules",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_PATH)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--show-cv-errors", action="store_true", help="list out-of-fold train errors")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    args = parser.parse_args(argv)

    utter_train = from_utterances(load_utterances(args.data, split="train"))
    test_rows = from_utterances(load_utterances(args.data, split="test"))
    cases_train: list[MultiTurnCase] = []
    cases_test: list[MultiTurnCase] = []
    for path in args.multiturn:
        keeps_test = _has_split(path)
        for case in load_multiturn(path):
            (cases_test if keeps_test and case.split == "test" else cases_train).append(case)
    x0, columns0 = featurize(utter_train)
    y0 = np.array([CLASSES.index(r.tier) for r in utter_train])
    w0, b0 = fit(x0, y0, 1e-4, args.seed, args.iterations)
    first_model = in_memory_model(w0, b0, columns0, 1.0)
    train_rows = utter_train + from_multiturn(cases_train, first_model)
    x, columns = featurize(train_rows)
    y = np.array([CLASSES.index(r.tier) for r in train_rows])
    print(
        f"{len(utter_train)} train utterances + {len(cases_train)} train multi-turn cases / "
        f"{len(test_rows)} test utterances, {len(cases_test)} test cases; {x.n_cols} active features "
        f"of {DIMENSION}; {args.folds}-fold cross-validation on train only",
        flush=True,
    )

    groups = near_duplicate_groups([r.text for r in train_rows])
    print(f"{len(np.unique(groups))} groups of near-duplicate train lines form the folds", flush=True)
    l2, cv_accuracy, oof_scores, grid = cross_validate(x, y, groups, args.folds, args.seed, args.iterations)
    temperature = fit_temperature(oof_scores, y)
    print(
        f"chosen l2={l2:g} (cv accuracy {cv_accuracy:.3f}); temperature {temperature:.3f} "
        f"(cv log-loss {nll(oof_scores, y):.3f} -> {nll(oof_scores / temperature, y):.3f})",
        flush=True,
    )

    if args.show_cv_errors:
        for r, s in zip(train_rows, oof_scores, strict=True):
            guess = CLASSES[int(s.argmax())]
            if guess != r.tier:
                print(f"  cv error [{r.tier} -> {guess}] {r.text}")
    w_compact, bias = fit(x, y, l2, args.seed, args.iterations)
    weights = np.zeros((DIMENSION, len(CLASSES)), dtype=np.float32)
    weights[columns] = w_compact
    meta = {
        "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "n_train": len(train_rows),
        "n_train_multiturn": len(cases_train),
        "n_test": len(test_rows),
        "n_test_multiturn": len(cases_test),
        "seed": args.seed,
        "l2": l2,
        "cv_accuracy": cv_accuracy,
        "cv_grid": {f"{k:g}": v for k, v in grid.items()},
        "iterations": args.iterations,
        "calibration": "softmax with a temperature fitted on out-of-fold train logits",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as fh:
        np.savez_compressed(
            fh,
            weights=weights,
            bias=bias.astype(np.float32),
            classes=np.array(CLASSES),
            temperature=np.array(temperature),
            feature_version=np.array(FEATURE_VERSION),
            dense_names=np.array(DENSE_NAMES),
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")

    model = TriageClassifier.load(args.out)
    train_report = evaluate(model, train_rows)
    test_report = evaluate(model, test_rows)
    print_report("train", train_report)
    print_report("held-out test", test_report)
    print("\nheld-out errors:")
    for e in test_report["errors"]:  # type: ignore[attr-defined]
        print(f"  [{e['tier']} -> {e['predicted']} {e['confidence']:.2f}] {e['text']}")
    summary = {"meta": meta, "temperature": temperature, "train": train_report, "test": test_report}
    if cases_test:
        multi_report = evaluate(model, from_multiturn(cases_test, model))
        print_report("held-out multi-turn", multi_report)
        for e in multi_report["errors"]:  # type: ignore[attr-defined]
            print(f"  [{e['tier']} -> {e['predicted']} {e['confidence']:.2f}] {e['text']}")
        summary["test_multiturn"] = multi_report
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _has_split(path: Path) -> bool:
    """Files that name a split per line keep their test lines out of training; others are all train."""
    return '"split"' in path.read_text(encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
