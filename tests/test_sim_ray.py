"""`--ray`: the same replay as Ray tasks on a local Ray runtime gives the same report as one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.replay import RunOptions, run_scripts, run_scripts_on_ray
from sim.report import build_report
from sim.script import script_from_recording

ray = pytest.importorskip("ray", reason="Ray is the optional extra voicerouter[ray]")

CALLS = sorted((Path(__file__).resolve().parent.parent / "sim" / "calls").glob("clinic-0*.jsonl"))


def test_ray_tasks_give_the_same_scores_as_one_process() -> None:
    scripts = [s for s, _ in map(script_from_recording, CALLS) if s is not None]
    options = RunOptions(seed=5)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_scripts_on_ray(scripts, options, address=None)
    finally:
        ray.shutdown()
    local = run_scripts(scripts, options)
    keys = ("calls", "turns", "p95_first_token_ms", "tool_arg_accuracy", "cost_per_session_usd")
    ray_report, local_report = build_report(on_ray), build_report(local)
    assert {k: ray_report[k] for k in keys} == {k: local_report[k] for k in keys}
    assert [c["call_id"] for c in ray_report["per_call"]] == [s.call_id for s in scripts]
