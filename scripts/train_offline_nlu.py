"""Train the offline agent's request models (one per agent) and its name tagger, and write their weights.

They go to voicerouter/providers/offline/data/requests.npz and data/names.npz.

The training utterances come from scripts/offline_utterances.py (templates and the bundled data, never the
call corpus); a share of them passes through the simulator's recogniser noise so that misheard words still
read as their request. Softmax regression (numpy, and scipy for the sparse training matrix), deterministic
for a seed. Prints accuracy on a fresh generation with another seed.

    python scripts/train_offline_nlu.py [--count N] [--seed N] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import zlib
from pathlib import Path

import numpy as np
from scipy import sparse  # training only; the shipped model needs numpy alone

if __package__ in (None, ""):  # run as a file from a checkout: make the repo's package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_utterances import NONE, utterances

from sim.asr_noise import add_asr_noise
from voicerouter.agent import load_agent
from voicerouter.providers.offline.nlp.name_tagger import DIMENSION as TAGGER_DIMENSION
from voicerouter.providers.offline.nlp.name_tagger import FEATURE_VERSION as TAGGER_VERSION
from voicerouter.providers.offline.nlp.name_tagger import TAGS, NameTagger, token_features
from voicerouter.providers.offline.nlp.name_tagger import WEIGHTS_PATH as NAMES_PATH
from voicerouter.providers.offline.nlp.words import tokenize
from voicerouter.providers.offline.requests import (
    DIMENSION,
    FEATURE_VERSION,
    WEIGHTS_PATH,
    features,
)

AGENTS_DIR = Path(__file__).resolve().parents[1] / "agents"
NOISY_SHARE = 0.35
WRITTEN_PATH = Path(__file__).resolve().parent / "data" / "offline_written_utterances.jsonl"
WRITTEN_HELD_OUT = 0.15  # share of the written lines never trained on, to measure with
WRITTEN_REPEATS = 3  # written lines are fewer than generated ones and worth more: each counts this often
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


def _written(agent: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The separately written lines of one agent, split once and for all by a hash of their words into
    the lines trained on and the held-out ones."""
    train, held_out = [], []
    for line in WRITTEN_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["agent"] != agent:
            continue
        share = zlib.crc32(str(row["text"]).encode("utf-8")) % 1000 / 1000
        (held_out if share < WRITTEN_HELD_OUT else train).append(row)
    return train, held_out


def _written_data(rows: list[dict[str, object]], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(f"written:{seed}")
    out = []
    for row in rows:
        text, label = str(row["text"]), str(row["request"])
        out += [(text, label)] * WRITTEN_REPEATS
        if rng.random() < NOISY_SHARE:
            out.append((add_asr_noise(text, rng.choice([0.1, 0.15, 0.2]), rng), label))
    return out


def _staff_words() -> frozenset[str]:
    """Words of the clinicians' and technicians' names in the bundled data: the tagger finds who is
    calling or who a visit is for; a clinician named ("Doctor Patel") is the provider slot's business."""
    words: set[str] = set()
    data = Path(__file__).resolve().parents[1] / "tools" / "data"
    clinic = json.loads((data / "clinic.json").read_text(encoding="utf-8"))
    helpdesk = json.loads((data / "helpdesk.json").read_text(encoding="utf-8"))
    names = [p["name"] for p in clinic["providers"]] + [str(t) for t in helpdesk["technicians"]]
    for name in names:
        words |= {t.text for t in tokenize(name.replace(",", " "))}
    return frozenset(words - {"dr", "np"})


def _written_tagged(rows: list[dict[str, object]]) -> list[tuple[list[str], list[str]]]:
    """Name tags of written lines: their `names` are substrings of the text (staff names left untagged)."""
    staff = _staff_words()
    out = []
    for row in rows:
        words = [t.text for t in tokenize(str(row["text"]))]
        tags = ["O"] * len(words)
        for name in row.get("names") or []:  # type: ignore[union-attr]
            said = [t.text for t in tokenize(str(name))]
            if set(said) <= staff:
                continue
            bare = [w.removesuffix("'s") for w in words]  # "jon park's": the name is jon park
            for i in range(len(words) - len(said) + 1):
                if said and bare[i : i + len(said)] == said:
                    tags[i : i + len(said)] = ["B"] + ["I"] * (len(said) - 1)
                    break
        if words:
            out.append((words, tags))
    return out


def _accuracy(
    weights: np.ndarray, bias: np.ndarray, data: list[tuple[str, str]], classes: list[str]
) -> float:
    right = 0
    for text, label in data:
        keys, values = features(text)
        scores = np.asarray(values) @ weights[list(keys)] + bias
        right += classes[int(np.argmax(scores))] == label
    return right / len(data)


def _tagged(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Lower-case word sequences with name tags, from both agents' utterances; the words around a name
    pass through recogniser noise in half of them, the name itself never (a misheard name is no name)."""
    rng = random.Random(f"names:{seed}")
    out = []
    for agent in ("clinic", "helpdesk"):
        for text, _ in utterances(agent, count, seed, mark_names=True):
            noisy = rng.random() < 0.5
            words: list[str] = []
            tags: list[str] = []
            for k, part in enumerate(re.split(r"\[\[(.*?)\]\]", text)):
                if k % 2:
                    said = [t.text for t in tokenize(part)]
                    words += said
                    tags += ["B"] + ["I"] * (len(said) - 1)
                else:
                    said = [t.text for t in tokenize(add_asr_noise(part, 0.15, rng) if noisy else part)]
                    words += said
                    tags += ["O"] * len(said)
            if words:
                out.append((words, tags))
    return out


def train_tagger(
    data: list[tuple[list[str], list[str]]], epochs: int, seed: int
) -> tuple[np.ndarray, list[str]]:
    """Averaged perceptron, greedy left to right with the gold previous tag; deterministic for a seed."""
    name_words = {w for words, tags in data for w, t in zip(words, tags, strict=True) if t != "O"}
    counts: dict[str, int] = {}
    for words, tags in data:
        for w, t in zip(words, tags, strict=True):
            if t == "O":
                counts[w] = counts.get(w, 0) + 1
    known = frozenset(w for w, c in counts.items() if c >= 3 and w not in name_words)
    weights = np.zeros((TAGGER_DIMENSION, len(TAGS)))
    total = np.zeros_like(weights)
    stamp = np.zeros_like(weights)
    step = 0
    rng = random.Random(f"tagger:{seed}")
    order = list(range(len(data)))
    for _ in range(epochs):
        rng.shuffle(order)
        for n in order:
            words, tags = data[n]
            previous = "<s>"
            for i, gold in enumerate(tags):
                step += 1
                feats = token_features(words, i, previous, known)
                scores = weights[feats].sum(axis=0)
                guess = TAGS[int(np.argmax(scores))]
                if guess != gold:
                    for tag, sign in ((gold, 1.0), (guess, -1.0)):
                        col = TAGS.index(tag)
                        for f in feats:
                            total[f, col] += (step - stamp[f, col]) * weights[f, col]
                            stamp[f, col] = step
                            weights[f, col] += sign
                previous = gold
    total += (step - stamp) * weights
    return total / max(step, 1), sorted(known)


def _tagger_scores(tagger: NameTagger, data: list[tuple[list[str], list[str]]]) -> dict[str, float]:
    right = wanted = found = 0
    for words, tags in data:
        gold = {(i, j) for i, j in _gold_spans(tags)}
        said = set(tagger.spans(words))
        right += len(gold & said)
        wanted += len(gold)
        found += len(said)
    return {"precision": round(right / max(found, 1), 4), "recall": round(right / max(wanted, 1), 4)}


def _gold_spans(tags: list[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for i, tag in enumerate(tags):
        if tag == "B":
            spans.append((i, i + 1))
        elif tag == "I" and spans:
            spans[-1] = (spans[-1][0], i + 1)
    return spans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24000, help="generated utterances per agent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--names-out", type=Path, default=NAMES_PATH, help="name tagger weights")
    args = parser.parse_args(argv)
    arrays: dict[str, np.ndarray] = {}
    report: dict[str, dict[str, float]] = {}
    agents = []
    for agent in ("clinic", "helpdesk"):
        spec = load_agent(agent, AGENTS_DIR)
        identify = spec.offline.get("identify")  # started by a name given, never by words: no class
        intents = [str(intent["name"]) for intent in spec.offline.get("intents", [])]
        classes = [name for name in intents if name != identify] + [NONE]
        written, written_held_out = _written(agent)
        data = _data(agent, args.count, args.seed) + _written_data(written, args.seed)
        unknown = {label for _, label in data} - set(classes)
        if unknown:
            raise SystemExit(f"{agent}: training labels {sorted(unknown)} are not requests of the agent")
        weights, bias = train(
            [t for t, _ in data], [classes.index(lab) for _, lab in data], len(classes), args.seed
        )
        fresh = _data(agent, 3000, args.seed + 1)
        held_out_pairs = [(str(r["text"]), str(r["request"])) for r in written_held_out]
        report[agent] = {
            "train": round(_accuracy(weights, bias, data[:4000], classes), 4),
            "fresh": round(_accuracy(weights, bias, fresh, classes), 4),
            "written_held_out": round(_accuracy(weights, bias, held_out_pairs, classes), 4),
        }
        arrays[f"{agent}.weights"] = weights.astype(np.float32)
        arrays[f"{agent}.bias"] = bias
        arrays[f"{agent}.classes"] = np.asarray(classes)
        agents.append(agent)
        print(agent, report[agent], flush=True)
    meta = {
        "feature_version": FEATURE_VERSION,
        "dimension": DIMENSION,
        "agents": agents,
        "seed": args.seed,
        "count": args.count,
        "accuracy": report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    print(f"wrote {args.out}")
    if args.names_out is not None:
        written_rows = [r for agent in agents for r in _written(agent)[0]]
        held_out_rows = [r for agent in agents for r in _written(agent)[1]]
        tagged = _tagged(args.count // 2, args.seed) + _written_tagged(written_rows) * WRITTEN_REPEATS
        weights, known = train_tagger(tagged, epochs=4, seed=args.seed)
        tagger = NameTagger(weights.astype(np.float32), frozenset(known))
        scores = _tagger_scores(tagger, _tagged(1000, args.seed + 1))
        scores_written = _tagger_scores(tagger, _written_tagged(held_out_rows))
        print("name tagger, written held-out lines", scores_written, flush=True)
        print("name tagger", scores, flush=True)
        names_meta = {
            "feature_version": TAGGER_VERSION,
            "dimension": TAGGER_DIMENSION,
            "seed": args.seed,
            "sentences": len(tagged),
            "fresh": scores,
            "written_held_out": scores_written,
        }
        np.savez_compressed(
            args.names_out,
            meta=np.asarray(json.dumps(names_meta, sort_keys=True)),
            weights=weights.astype(np.float32),
            known=np.asarray(known),
        )
        print(f"wrote {args.names_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
