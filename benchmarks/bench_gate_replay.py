"""What a user waits for at the gate: `sim replay sim/calls --seeds 10 --workers 2`, start-up included.

Runs the command as a subprocess (a fresh interpreter each time, as a user runs it) and reports its wall
time and CPU time; the target is under 10 s wall on a 2-core machine.
Usage: `python benchmarks/bench_gate_replay.py [--runs 3] [--seeds 10] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0


def _one(seeds: int, workers: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "sim"), "replay", "sim/calls", "--seeds", str(seeds)]
    command += ["--workers", str(workers), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv if argv is not None else [])
    runs = [_one(args.seeds, args.workers) for _ in range(args.runs)]
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    figures = {
        "median_wall_s": round(statistics.median(walls), 2),
        "max_wall_s": round(max(walls), 2),
        "median_cpu_s": round(statistics.median(cpus), 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"  sim replay sim/calls --seeds {args.seeds} --workers {args.workers}: "
        f"median {figures['median_wall_s']} s wall (max {figures['max_wall_s']} s), "
        f"{figures['median_cpu_s']} s CPU; target {TARGET_S} s; "
        f"load average {figures['load_average_1m']}"
    )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
