"""The gate's power and false-alarm rate on the shipped corpus, block after block of seeds.

Self: the default replayed on seed block A against the default on a disjoint block B must pass (a false
alarm is seed noise read as a regression). Regression: `sim/configs/triage-errors-3x.toml` (the triage model
errs three times as often on triage turns) against the default, both on block A, must be refused.
Usage: `python benchmarks/bench_gate_power.py [--blocks 10] [--seeds 10] [--workers 2]`; exits 1 when the
gate passes the default in fewer than all blocks or refuses the regression in fewer than 9 of 10.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sim.gate import compare
from sim.replay import RunOptions, run_scripts
from sim.report import build_report
from sim.score import CallScore
from sim.script import CallScript, script_from_recording
from voicerouter.config import load_config
from voicerouter.store import find_recordings

ROOT = Path(__file__).resolve().parent.parent
REGRESSION = ROOT / "sim" / "configs" / "triage-errors-3x.toml"


def _scripts() -> list[CallScript]:
    loaded = (script_from_recording(p)[0] for p in find_recordings([ROOT / "sim" / "calls"]))
    return [s for s in loaded if s is not None]


def _blocks(scores: list[CallScore], first: int, size: int, count: int) -> list[dict[str, Any]]:
    by_seed: dict[int, list[CallScore]] = {}
    for score in scores:
        by_seed.setdefault(score.seed, []).append(score)
    return [
        build_report([s for seed in range(start, start + size) for s in by_seed[seed]])
        for start in range(first, first + size * count, size)
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per block")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv if argv is not None else [])
    scripts = _scripts()
    margins = load_config().gate
    n = args.blocks * args.seeds
    started = time.perf_counter()
    default = run_scripts(scripts, RunOptions(seed=0, seeds=2 * n), workers=args.workers)
    regression = run_scripts(
        scripts, RunOptions(config_path=str(REGRESSION), seed=0, seeds=n), workers=args.workers
    )
    elapsed = time.perf_counter() - started
    base_blocks = _blocks(default, 0, args.seeds, args.blocks)
    other_blocks = _blocks(default, n, args.seeds, args.blocks)
    regression_blocks = _blocks(regression, 0, args.seeds, args.blocks)
    self_pass = 0
    refused = 0
    rows: list[dict[str, Any]] = []
    for k in range(args.blocks):
        same = compare(base_blocks[k], other_blocks[k], margins)
        worse = compare(base_blocks[k], regression_blocks[k], margins)
        self_pass += same.passed
        refused += not worse.passed
        tool = next(v for v in worse.metrics if v.metric == "tool_arg_accuracy")
        rows.append(
            {
                "block": k,
                "self": same.passed,
                "regression_refused": not worse.passed,
                "regression_tool_arg_delta": tool.delta,
                "interval": (tool.low, tool.high),
                "reason": worse.reason,
            }
        )
        print(
            f"  block {k}: default vs default {'pass' if same.passed else 'FAIL'}; 3x triage errors "
            f"{'refused' if not worse.passed else 'PASSED'} (tool-arg {tool.delta:+.4f} "
            f"[{tool.low:+.4f}, {tool.high:+.4f}]) {worse.reason}",
            flush=True,
        )
    print(
        f"default vs itself passes {self_pass}/{args.blocks}; "
        f"3x triage errors refused {refused}/{args.blocks} "
        f"({3 * n} corpus replays in {elapsed:.0f} s)"
    )
    return {"self_pass": self_pass, "refused": refused, "blocks": args.blocks, "rows": rows}


if __name__ == "__main__":
    import sys

    figures = main(sys.argv[1:])
    ok = figures["self_pass"] == figures["blocks"] and figures["refused"] >= 0.9 * figures["blocks"]
    sys.exit(0 if ok else 1)
