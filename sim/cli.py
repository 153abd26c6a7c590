"""The `sim` command: replay recorded calls, run scenarios, compare two reports, calibrate a profile.

Bad recordings and scenarios are reported with file and line, and fail the run (exit 2) so a gate never
scores damaged input; with --skip-bad they are skipped, counted, and the rest is scored.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voicerouter.cli_options import agents_dir_option

if TYPE_CHECKING:  # each command imports what it runs, so `sim --help` starts at once
    from sim.script import CallScript


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def _common(func: Any) -> Any:
    options = [
        click.option(
            "--config", type=click.Path(dir_okay=False), default=None, help="voicerouter.toml under test"
        ),
        click.option(
            "--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write the report"
        ),
        click.option(
            "--html", "html_out", type=click.Path(dir_okay=False), default=None, help="write the page"
        ),
        click.option(
            "--wer", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="ASR word error rate"
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="first seed"),
        click.option(
            "--seeds",
            type=click.IntRange(1, 1000),
            default=1,
            show_default=True,
            help="run every call under seeds SEED .. SEED+N-1 (the gate needs several for its intervals)",
        ),
        click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True),
        click.option(
            "--ray",
            "ray_address",
            is_flag=False,
            flag_value="local",
            default=None,
            help="run calls as Ray tasks (optional ADDRESS of a cluster)",
        ),
        click.option(
            "--live", is_flag=True, help="real providers on the real clock instead of simulated ones"
        ),
        click.option(
            "--interrupt-at",
            type=click.FloatRange(0.01, 0.99),
            default=None,
            help="barge in at this fraction of every answer",
        ),
        click.option(
            "--tool-timeout",
            multiple=True,
            metavar="TOOL[@TURNS]",
            help="this tool never answers (on user turns TURNS only, e.g. @2,3)",
        ),
        click.option(
            "--tool-latency", multiple=True, metavar="TOOL=MS[@TURNS]", help="add latency to a tool"
        ),
        click.option("--tool-error", multiple=True, metavar="TOOL=MESSAGE[@TURNS]", help="a tool fails"),
        click.option(
            "--provider-fault",
            multiple=True,
            metavar="MODEL=KIND[@TURNS]",
            help="rate_limited|server_error|stall_before_first_token|stall_midway|slow_first_token",
        ),
        click.option(
            "--cassette",
            type=click.Path(file_okay=False),
            default=None,
            help="with --live: record every provider exchange here; without: replay them offline",
        ),
        click.option("--quiet", is_flag=True, help="no progress bar"),
        click.option(
            "--stt",
            type=click.Choice(["batch", "streaming"]),
            default="batch",
            show_default=True,
            help="recogniser timing: batch decodes the whole utterance at the VAD stop (the live default); "
            "streaming decodes as it hears (VOICEROUTER_STT_STREAMING=1)",
        ),
        click.option(
            "--record",
            "record_dir",
            type=click.Path(file_okay=False),
            default=None,
            help="also write each simulated call as a recording (with its labels) into this folder",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


SKIP_BAD = click.option(
    "--skip-bad", is_flag=True, help="skip corrupt input lines and files (say how many) instead of exiting 2"
)


def _bad_inputs(problems: list[str], skip_bad: bool) -> None:
    """Name every bad input; then exit 2, or with --skip-bad say how many were skipped."""
    for problem in problems:
        click.secho(problem, fg="yellow", err=True)
    if not problems:
        return
    plural = "s" if len(problems) != 1 else ""
    count = f"{len(problems)} bad input line{plural} or file{plural}"
    if not skip_bad:
        _fail(f"{count}: nothing was scored (fix them, or pass --skip-bad to score the rest)")
    click.secho(f"skipped {count} (--skip-bad)", fg="yellow", err=True)


@click.group()
def main() -> None:
    """voicerouter's simulator: replay calls, run scenarios, gate configuration changes."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=False))
@agents_dir_option
@SKIP_BAD
@_common
def replay(paths: tuple[str, ...], skip_bad: bool, **opts: Any) -> None:
    """Replay recorded calls (files or folders of .jsonl) through the engine."""
    from sim.script import script_from_recording
    from voicerouter.store import find_recordings

    try:
        files = find_recordings(list(paths))
    except FileNotFoundError as exc:
        _fail(str(exc))
    scripts: list[CallScript] = []
    problems: list[str] = []
    for path in files:
        script, errors = script_from_recording(path)
        problems.extend(errors)
        if script is not None:
            scripts.append(script)
    _bad_inputs(problems, skip_bad)
    _run(scripts, opts, kind="replay", inputs=list(paths))


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(exists=False))
@agents_dir_option
@SKIP_BAD
@_common
def run(scenarios: tuple[str, ...], skip_bad: bool, **opts: Any) -> None:
    """Run scripted callers (YAML or TOML scenarios, files or folders) with their faults."""
    from sim.script import ScriptError, script_from_scenario

    scripts: list[CallScript] = []
    problems: list[str] = []
    for item in scenarios:
        path = Path(item)
        files = (
            sorted([*path.rglob("*.yaml"), *path.rglob("*.yml"), *path.rglob("*.toml")])
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                scripts.append(script_from_scenario(file))
            except ScriptError as exc:
                problems.append(str(exc))
    _bad_inputs(problems, skip_bad)
    _run(scripts, opts, kind="run", inputs=list(scenarios))


def _run(scripts: list[CallScript], opts: dict[str, Any], *, kind: str, inputs: list[str]) -> None:
    from sim.fault_flags import FaultFlagError, faults_from_flags
    from sim.html import render_html
    from sim.replay import RunOptions, run_scripts, run_scripts_on_ray
    from sim.report import build_report, gate_summary
    from voicerouter.config import ConfigError

    if not scripts:
        _fail("nothing to run: no valid recordings or scenarios")
    try:
        faults = faults_from_flags(
            opts["wer"],
            opts["interrupt_at"],
            opts["tool_timeout"],
            opts["tool_latency"],
            opts["tool_error"],
            opts["provider_fault"],
        )
    except FaultFlagError as exc:
        _fail(str(exc))
    options = RunOptions(
        config_path=opts["config"],
        seed=opts["seed"],
        seeds=opts["seeds"],
        faults=faults,
        keep_events=bool(opts["record_dir"]),
        cassette=opts["cassette"],
        stt_streaming=opts["stt"] == "streaming",
    )
    runs = len(scripts) * opts["seeds"]
    started = time.perf_counter()
    try:
        with _progress(runs, quiet=opts["quiet"]) as advance:
            if opts["live"]:
                from sim.live import run_scripts_live

                scores = run_scripts_live(scripts, options, progress=advance)
            elif opts["ray_address"]:
                address = None if opts["ray_address"] == "local" else opts["ray_address"]
                scores = run_scripts_on_ray(scripts, options, address=address, progress=advance)
            else:
                scores = run_scripts(scripts, options, workers=opts["workers"], progress=advance)
    except ConfigError as exc:
        _fail(str(exc))
    elapsed = time.perf_counter() - started
    meta = {
        "kind": kind,
        "inputs": inputs,
        "config": opts["config"] or "default",
        "seed": opts["seed"],
        "seeds": opts["seeds"],
        "wer_target": opts["wer"],
        "live": opts["live"],
        "cassette": opts["cassette"],
        "elapsed_s": round(elapsed, 3),
        "calls_per_s": round(runs / elapsed, 1) if elapsed else None,
        "profiles": _profile_sources(opts["config"]),
    }
    if opts["record_dir"]:
        from sim.record import write_recordings

        written = write_recordings(scores, scripts, Path(opts["record_dir"]), faults)
        click.secho(f"{written} recordings written to {opts['record_dir']}", dim=True)
    report = build_report(scores, meta=meta)
    click.echo(gate_summary(report))
    click.secho(f"  {runs} calls in {elapsed:.2f} s ({meta['calls_per_s']} calls/s)", dim=True)
    if opts["json_out"]:
        Path(opts["json_out"]).write_text(json.dumps(report, indent=2), encoding="utf-8")
        click.secho(f"report written to {opts['json_out']}", dim=True)
    if opts["html_out"]:
        Path(opts["html_out"]).write_text(render_html(report), encoding="utf-8")
        click.secho(f"page written to {opts['html_out']}", dim=True)


def _profile_sources(config_path: str | None) -> dict[str, str]:
    """Each model's profile source ("assumed" or "measured: RUN"): what the quality figures rest on."""
    from voicerouter.config import load_config

    return {name: entry.profile.source for name, entry in load_config(config_path).models.items()}


class _progress:
    """A progress bar on the terminal for long runs; silent when not a terminal or asked to be."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self.total = total
        self.enabled = not quiet and sys.stderr.isatty() and total >= 20
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("calls", total=self.total)
        return lambda n: self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@main.command()
@click.argument("baseline", type=click.Path(exists=True, dir_okay=False))
@click.argument("candidate", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--config", type=click.Path(dir_okay=False), default=None, help="config holding the gate margins"
)
@click.option(
    "--html", "html_out", type=click.Path(dir_okay=False), default=None, help="write the verdict page"
)
def compare(baseline: str, candidate: str, config: str | None, html_out: str | None) -> None:
    """Exit 0 when CANDIDATE may replace BASELINE (see README: the eval gate)."""
    from sim.gate import compare as gate_compare
    from sim.gate import format_verdict
    from voicerouter.config import ConfigError, load_config

    try:
        margins = load_config(config).gate
    except ConfigError as exc:
        _fail(str(exc))
    reports = []
    for path in (baseline, candidate):
        try:
            reports.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            _fail(f"{path}: not a JSON report: {exc}")
    verdict = gate_compare(reports[0], reports[1], margins)
    click.echo(format_verdict(verdict))
    if html_out:
        from sim.html_gate import render_gate_html

        Path(html_out).write_text(render_gate_html(verdict, baseline, candidate), encoding="utf-8")
    sys.exit(0 if verdict.passed else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("--param", required=True, metavar="KEY=FROM:TO:STEPS", help="a numeric config key to step")
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="the config the sweep varies")
@click.option("--metric", default="tool_arg_accuracy", show_default=True, help="the quality the curve reads")
@click.option("--weak", default="sim/configs/all-small.toml", show_default=True, help="PGR 0 reference")
@click.option("--strong", default="sim/configs/all-premium.toml", show_default=True, help="PGR 1 reference")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write the curve")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), default=None, help="write its page")
def sweep(paths: tuple[str, ...], **opts: Any) -> None:
    """Replay recorded calls under each setting of one config key: a cost-quality curve (PGR, APGR, CPT)."""
    from sim.html_sweep import render_sweep_html
    from sim.replay import RunOptions
    from sim.script import script_from_recording
    from sim.sweep import SweepError, parse_param, run_sweep
    from voicerouter.config import ConfigError
    from voicerouter.store import find_recordings

    try:
        key, values = parse_param(opts["param"])
        files = find_recordings(list(paths))
    except (SweepError, FileNotFoundError) as exc:
        _fail(str(exc))
    scripts = [s for s in (script_from_recording(p)[0] for p in files) if s is not None]
    if not scripts:
        _fail("nothing to run: no valid recordings")

    try:
        figures = run_sweep(
            scripts,
            key,
            values,
            base_config=opts["config"],
            weak=opts["weak"],
            strong=opts["strong"],
            metric=opts["metric"],
            options=RunOptions(seed=opts["seed"], seeds=opts["seeds"]),
            workers=opts["workers"],
            progress=lambda value, report: click.secho(
                f"  {key} = {value:g}: {report[opts['metric']]}", dim=True
            ),
        )
    except (ConfigError, SweepError) as exc:
        _fail(str(exc))
    click.echo(
        f"{key}: APGR {figures['apgr']}, CPT(50%) {figures['cpt_50']}, CPT(80%) {figures['cpt_80']} "
        f"(share of turns on the strong models)"
    )
    if opts["json_out"]:
        Path(opts["json_out"]).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if opts["html_out"]:
        Path(opts["html_out"]).write_text(render_sweep_html(figures), encoding="utf-8")


@main.command()
@click.argument("report_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "models", multiple=True, help="config name of a model to fit (default: every one)")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="write a profile file a config lists under profiles",
)
def calibrate(report_path: str, models: tuple[str, ...], out: str | None) -> None:
    """Fit behaviour profiles from a run's report (a --live run) by labelled tier; prints TOML."""
    from sim.calibrate import fit_profile, profile_toml

    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    meta = report.get("meta") or {}
    seeds = report.get("seeds") or [0]
    run = f"{Path(report_path).name} ({report.get('calls', 0)} calls, seeds {seeds[0]}..{seeds[-1]}" + (
        ", live)" if meta.get("live") else ", simulated)"
    )
    names = models or tuple(
        sorted({m for call in report.get("per_call", []) for m in call["models"] if m and m != "none"})
    )
    tables = []
    for name in names:
        try:
            tables.append(profile_toml(name, fit_profile(report, name, run=run)))
        except ValueError as exc:
            _fail(str(exc))
    text = "\n\n".join(tables) + "\n"
    click.echo(text)
    if out:
        Path(out).write_text(f"# fitted by sim calibrate from {run}\n{text}", encoding="utf-8")
        click.secho(f"profiles written to {out}", dim=True)
