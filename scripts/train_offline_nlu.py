"""Train the offline agent's request models (one per agent) and write voicerouter/providers/offline/data/requests.npz.

The training utterances come from scripts/offline_utterances.py (templates and the bundled data, never the
call corpus); a share of them passes through the simulator's recogniser noise so that misheard words still
read as their request. Softmax regression (numpy, and scipy for the sparse training matrix), deterministic for a seed. Prints held-out accuracy
on a fresh generation with another seed.

    python scripts/train_offline_nlu.py [--count N] [--seed N] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from scipy import sparse  # training only; the shipped model needs numpy alone

if __package__ in (None, ""):  # run as a file from a checkout: make the repo's package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_utterances import NONE, utterances  # noqa: E402

from sim.asr_noise import add_asr_noise  # noqa: E402
from voicerouter.agent import load_agent  # noqa: E402
from voicerouter.providers.offline.requests import (  # noqa: E402
    DIMENSION,
    FEATURE_VERSION,
    WEIGHTS_PATH,
    features,
)

AGENTS_DIR = Path(__file__).resolve().parents[1] / "agents"
NOISY_SHARE = 0.35
L2 = 1e-4
STEPS = 300
RATE = 0.05


def _matrix(texts: list[str]) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for r, text in enumerate(texts):
        keys, values = features(text)
        rows.extend([r] * len(keys))
        cols.extend(keys)
        vals.extend(values)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), DIMENSION))


def train(texts: list[str], labels: list[int], n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch Adam on the mean cross-entropy plus L2; the same data and seed give the same weights."""
    x = _matrix(texts)
    xt = x.T.tocsr()
    y = np.asarray(labels)
    n = len(texts)
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.001, (DIMENSION, n_classes))
    bias = np.zeros(n_classes)
    m_w, v_w = np.zeros_like(weights), np.zeros_like(weights)
    m_b, v_b = np.zeros_like(bias), np.zeros_like(bias)
    for step in range(1, STEPS + 1):
        scores = x @ weights + bias
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        delta = (probs - onehot) / n
        grad_w = xt @ delta + L2 * weights
        grad_b = delta.sum(axis=0)
        for param, grad, m, v in ((weights, grad_w, m_w, v_w), (bias, grad_b, m_b, v_b)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return weights, bias


def _data(agent: str, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(f"noise:{agent}:{seed}")
    out = []
    for text, label in utterances(agent, count, seed):
        out.append((text, label))
        if rng.random() < NOISY_SHARE:
            out.append((add_asr_noise(text, rng.choice([0.1, 0.15, 0.2]), rng), label))
    return out


def _accuracy(weights: np.ndarray, bias: np.ndarray, data: list[tuple[str, str]], classes: list[str]) -> float:
    right = 0
    for text, label in data:
        keys, values = features(text)
        scores = np.asarray(values) @ weights[list(keys)] + bias
        right += classes[int(np.argmax(scores))] == label
    return right / len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12000, help="generated utterances per agent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    arrays: dict[str, np.ndarray] = {}
    report: dict[str, dict[str, float]] = {}
    agents = []
    for agent in ("clinic", "helpdesk"):
        spec = load_agent(agent, AGENTS_DIR)
        classes = [str(intent["name"]) for intent in spec.offline.get("intents", [])] + [NONE]
        data = _data(agent, args.count, args.seed)
        unknown = {label for _, label in data} - set(classes)
        if unknown:
            raise SystemExit(f"{agent}: training labels {sorted(unknown)} are not requests of the agent")
        weights, bias = train([t for t, _ in data], [classes.index(lab) for _, lab in data], len(classes), args.seed)
        fresh = _data(agent, 3000, args.seed + 1)
        report[agent] = {
            "train": round(_accuracy(weights, bias, data[:4000], classes), 4),
            "fresh": round(_accuracy(weights, bias, fresh, classes), 4),
        }
        arrays[f"{agent}.weights"] = weights.astype(np.float32)
        arrays[f"{agent}.bias"] = bias
        arrays[f"{agent}.classes"] = np.asarray(classes)
        agents.append(agent)
        print(agent, report[agent], flush=True)
    meta = {"feature_version": FEATURE_VERSION, "dimension": DIMENSION, "agents": agents, "seed": args.seed,
            "count": args.count, "accuracy": report}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
