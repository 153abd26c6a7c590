"""Runs voicerouter's benchmarks and prints their figures: `python benchmarks/run.py [NAME...]`.

Each benchmark is a module here with a `main()` that prints and returns its figures; they measure speed and
memory, which unit tests never assert. Figures are from one run on the machine at hand.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = ["bench_router_classifier", "bench_engine", "bench_sim", "bench_audio", "bench_speech"]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    names = argv or [n for n in DEFAULT if (HERE / f"{n}.py").exists()]
    results: dict[str, object] = {}
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(name)
        results[name] = module.main()
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
