"""Benchmark of the offline tier classifier: held-out accuracy and predict() latency on one core.

It only reads the shipped data and weights and times calls in this process; it never trains or writes files.

    python benchmarks/bench_router_classifier.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file from a checkout: make the repo's package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.dataset import load_utterances
from voicerouter.router.features import extract_features


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main(calls: int = 5000, warmup: int = 200) -> dict[str, float | int | str]:
    """Accuracy on the test split, then `calls` timed predictions cycling over every shipped utterance."""
    model = TriageClassifier.load()
    test_rows = load_utterances(split="test")
    correct = sum(model.predict(r.text, r.turn_context()).tier == r.tier for r in test_rows)
    rows = load_utterances()
    inputs = [(r.text, r.turn_context()) for r in rows]

    for i in range(warmup):
        text, context = inputs[i % len(inputs)]
        model.predict(text, context)
    predict_us: list[float] = []
    features_us: list[float] = []
    clock = time.perf_counter_ns
    for i in range(calls):
        text, context = inputs[i % len(inputs)]
        start = clock()
        extract_features(text, context)
        middle = clock()
        model.predict(text, context)
        end = clock()
        features_us.append((middle - start) / 1000)
        predict_us.append((end - middle) / 1000)
    predict_us.sort()
    features_us.sort()
    figures: dict[str, float | int | str] = {
        "held_out_accuracy": round(correct / len(test_rows), 4),
        "held_out_n": len(test_rows),
        "calls": calls,
        "predict_p50_us": round(statistics.median(predict_us), 1),
        "predict_p99_us": round(_percentile(predict_us, 0.99), 1),
        "predict_max_us": round(predict_us[-1], 1),
        "features_p50_us": round(statistics.median(features_us), 1),
        "features_p99_us": round(_percentile(features_us, 0.99), 1),
        "python": platform.python_version(),
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="offline tier classifier: accuracy and predict() latency")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    result = main(calls=args.calls)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
