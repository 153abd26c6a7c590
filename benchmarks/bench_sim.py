"""Simulator replay speed: calls and turns a second of virtual-time replay, with one and two worker processes.

Replays the corpus (`sim/calls` recordings, else `sim/corpus` scenarios, else calls scripted here) enough
times to time it, clean and with 10% ASR noise (noise makes almost every transcript new, so nothing is
served from the understanding memos), and checks that one and two workers give the same gate numbers.
Usage: `python benchmarks/bench_sim.py [--calls N] [--wer X ...] [--workers N ...]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sim.faults import Faults
from sim.replay import RunOptions, run_scripts
from sim.report import GATE_KEYS, build_report
from sim.script import CallScript, ScriptError, UserTurn, script_from_recording, script_from_scenario
from voicerouter.events import Label
from voicerouter.store import find_recordings

ROOT = Path(__file__).resolve().parent.parent
CALLS_DIR = ROOT / "sim" / "calls"
SCENARIOS_DIR = ROOT / "sim" / "corpus"
DEFAULT_CALLS = 440
DEFAULT_WERS = (0.0, 0.1)
DEFAULT_WORKERS = (1, 2)

# Caller sides used when the repository holds no corpus: a flow is one request, a call strings a few.
_CLINIC_FLOWS = (
    ("Hi, I need an appointment on the fifth no sorry the fourth", "it's Maria Garcia",
     "may seventeenth nineteen ninety five", "half past two", "actually make that thursday", "yes"),
    ("I need to cancel my appointment. This is Sarah Smyth", "yes that's right"),
    ("I can't make my appointment, it's John Smith", "the one on the twenty first", "yes"),
    ("this is John Smith, can I move my appointment on the twenty first to the twenty second at 9 am", "yes"),
    ("are you open on saturday", "where can I park?", "do you take aetna"),
    ("I want to cancel my appointment, my name is Jon Smyth", "sorry it's John Smith", "no, wait"),
    ("book me in for sunday at 10 am please, I'm Sarah Smyth", "yes", "what about monday then", "yes"),
)
_HELPDESK_FLOWS = (
    ("can you check on my ticket", "four five nine one"),
    ("what's the status of ticket four five nine zero", "sorry, it's four five nine one"),
    ("please close ticket 4591", "no, wait", "okay yes close it"),
    ("my employee id is e one oh four two and I'm locked out", "yes"),
    ("is the wi-fi down?", "is email down?", "sorry, can you repeat that?"),
)


def scripted_calls(count: int = 40) -> list[CallScript]:
    """Calls of one to three requests between a greeting and a goodbye; every fifth one is long."""
    scripts = []
    for n in range(count):
        agent, flows = ("helpdesk", _HELPDESK_FLOWS) if n % 3 == 0 else ("clinic", _CLINIC_FLOWS)
        requests = 3 if n % 5 == 4 else 1
        middle = [text for k in range(requests) for text in flows[(n + 2 * k) % len(flows)]]
        texts = ["hello", *middle, "thanks, bye"]
        turns = [UserTurn(text=text, gap_ms=300.0 + 200.0 * (i % 3)) for i, text in enumerate(texts)]
        turns[0].label = Label(turn=1, tier="speech")
        scripts.append(CallScript(call_id=f"bench-{n:03d}", agent=agent, caller="bench", turns=turns,
                                  source=f"scripted:{n}"))
    return scripts


def corpus() -> tuple[str, list[CallScript]]:
    """The calls to replay and where they come from."""
    recordings = find_recordings([CALLS_DIR]) if CALLS_DIR.is_dir() else []
    scripts = [s for s in (script_from_recording(p)[0] for p in recordings) if s is not None]
    if scripts:
        return f"{CALLS_DIR.relative_to(ROOT)} ({len(scripts)} recorded calls)", scripts
    scenarios = sorted(SCENARIOS_DIR.glob("*.yaml")) if SCENARIOS_DIR.is_dir() else []
    for path in scenarios:
        try:
            scripts.append(script_from_scenario(path))
        except ScriptError as exc:
            print(f"skipped: {exc}")
    if scripts:
        return f"{SCENARIOS_DIR.relative_to(ROOT)} ({len(scripts)} scenarios)", scripts
    return "scripted calls (no corpus found)", scripted_calls()


def replicate(scripts: list[CallScript], total: int) -> list[CallScript]:
    """`total` calls cycling through `scripts`; each copy has its own call id, hence its own random stream."""
    return [
        scripts[i % len(scripts)].model_copy(update={"call_id": f"{scripts[i % len(scripts)].call_id}~{i}"})
        for i in range(total)
    ]


def timed_run(
    scripts: list[CallScript], *, wer: float, workers: int, seed: int = 0
) -> tuple[dict[str, Any], list[list[int | None]]]:
    """One replay, timed end to end as `sim replay` times it (worker start-up included): its figures and
    gate numbers, and each call's first-token latencies."""
    started = time.perf_counter()
    scores = run_scripts(scripts, RunOptions(seed=seed, faults=Faults(wer=wer)), workers=workers)
    elapsed_s = time.perf_counter() - started
    report = build_report(scores)
    figures = {
        "elapsed_s": round(elapsed_s, 3),
        "calls_per_s": round(report["calls"] / elapsed_s, 1),
        "turns_per_s": round(report["turns"] / elapsed_s, 1),
        "gate": {key: report[key] for key in ("calls", "turns", *GATE_KEYS)},
    }
    return figures, [call["first_token_ms"] for call in report["per_call"]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS, help="calls per run")
    parser.add_argument("--wer", type=float, nargs="+", default=list(DEFAULT_WERS))
    parser.add_argument("--workers", type=int, nargs="+", default=list(DEFAULT_WORKERS))
    args = parser.parse_args(argv if argv is not None else [])
    source, base = corpus()
    scripts = replicate(base, args.calls)
    turns_per_call = sum(len(s.turns) for s in scripts) / len(scripts)
    print(f"{source}: {len(scripts)} calls, {turns_per_call:.1f} caller turns a call")
    results: dict[str, Any] = {
        "source": source,
        "calls": len(scripts),
        "turns_per_call": round(turns_per_call, 2),
    }
    for wer in args.wer:
        runs = {workers: timed_run(scripts, wer=wer, workers=workers) for workers in args.workers}
        outcomes = [(figures["gate"], first_tokens) for figures, first_tokens in runs.values()]
        deterministic = all(outcome == outcomes[0] for outcome in outcomes)
        for workers, (figures, _) in runs.items():
            print(f"  wer {wer:.2f}  workers {workers}: {figures['calls_per_s']:7.1f} calls/s "
                  f"{figures['turns_per_s']:8.1f} turns/s  ({figures['elapsed_s']:.2f} s)")
        print(f"  wer {wer:.2f}  same gate numbers and first tokens, workers {args.workers}: {deterministic}")
        results[f"wer={wer}"] = {
            **{f"workers={workers}": figures for workers, (figures, _) in runs.items()},
            "deterministic": deterministic,
        }
    return results


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
