"""Runs caller scripts through the engine — in this process, in worker processes or on Ray — and scores them.

Each call gets its own seeded random stream and its own provider health, so results do not depend on the
number of workers or the order calls finish in.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from sim.cassette import Cassette
from sim.faults import Faults
from sim.memo import MemoisedClassifier, MemoisedOfflineModel
from sim.runner import SimulatedCall
from sim.score import CallScore, score_call
from sim.script import CallScript
from voicerouter.agent import AgentSpec, load_agent
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.providers.offline.model import OfflineAgentModel
from voicerouter.router.classifier import TriageClassifier

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunOptions:
    config_path: str | None = None
    seed: int = 0
    seeds: int = 1  # run every call under seeds seed .. seed + seeds - 1
    faults: Faults = field(default_factory=Faults)
    keep_events: bool = False
    cassette: str | None = None  # a folder of recorded provider exchanges: record (--live) or replay them
    stt_streaming: bool = False  # True: a recogniser fed as the caller speaks (live: opt-in)


class _Context:
    """What every call of one process shares: config, classifier and agents (loaded once)."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.config: VoicerouterConfig = load_config(options.config_path)
        self.classifier: TriageClassifier = MemoisedClassifier.load()
        self._agents: dict[str, tuple[AgentSpec, VoicerouterConfig]] = {}
        self._offline: dict[str, OfflineAgentModel] = {}  # one per agent: its memo serves every call
        self.cassette = Cassette(options.cassette) if options.cassette else None

    def agent(self, name: str) -> tuple[AgentSpec, VoicerouterConfig]:
        if name not in self._agents:
            spec = load_agent(name)
            self._agents[name] = (spec, self.config.with_routing(spec.routing))
        return self._agents[name]

    def offline_model(self, name: str) -> OfflineAgentModel:
        if name not in self._offline:
            self._offline[name] = MemoisedOfflineModel(self.agent(name)[0])
        return self._offline[name]

    def run(self, script: CallScript, seed: int | None = None) -> CallScore:
        spec, config = self.agent(script.agent)
        seed = self.options.seed if seed is None else seed
        call = SimulatedCall(
            script,
            agent=spec,
            config=config,
            classifier=self.classifier,
            seed=seed,
            faults=self.options.faults,
            offline=self.offline_model(script.agent),
            cassette=self.cassette,
            stt_streaming=self.options.stt_streaming,
        )
        result = call.run()
        labels = script.labels()
        score = score_call(result, labels)
        score.seed = seed
        if self.options.keep_events:
            score.events = result.events
        return score


def run_seeds(options: RunOptions) -> list[int]:
    """The seeds of a run, in the order its scores come back."""
    return list(range(options.seed, options.seed + max(1, options.seeds)))


_worker_context: _Context | None = None
_worker_scripts: Sequence[CallScript] = ()


def _init_worker(options: RunOptions, scripts: Sequence[CallScript]) -> None:
    global _worker_context, _worker_scripts
    _worker_context = _Context(options)
    _worker_scripts = scripts
    gc.freeze()  # the worker lives for the run: see `_startup_heap_frozen`


@contextmanager
def _startup_heap_frozen() -> Iterator[None]:
    """Keep the cyclic collector off what was loaded before the run (modules, config, classifier). Each
    call leaves many short-lived cycles, and rescanning the start-up heap in full collections cost a fifth
    of the run."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_in_worker(task: tuple[int, int]) -> CallScore:
    """One (script index, seed): the scripts travel once per worker, not once per task."""
    assert _worker_context is not None
    index, seed = task
    return _worker_context.run(_worker_scripts[index], seed)


def run_scripts(
    scripts: Sequence[CallScript],
    options: RunOptions,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[CallScore]:
    """Scores seed by seed, each seed in the order of `scripts`, whatever the parallelism. Work goes out
    call by call (all seeds of a call together), so that a worker's memo serves the call's repeats."""
    seeds = run_seeds(options)
    tasks = [(index, seed) for index in range(len(scripts)) for seed in seeds]
    slot = {task: n for n, task in enumerate((i, s) for s in seeds for i in range(len(scripts)))}
    results: list[CallScore | None] = [None] * len(tasks)
    if workers <= 1 or len(tasks) < 2:
        context = _Context(options)
        with _startup_heap_frozen():
            for index, seed in tasks:
                results[slot[(index, seed)]] = context.run(scripts[index], seed)
                if progress:
                    progress(1)
    else:
        chunk = max(len(seeds), len(tasks) // (workers * 4) // len(seeds) * len(seeds))
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(options, list(scripts))
        ) as pool:
            for task, score in zip(tasks, pool.map(_run_in_worker, tasks, chunksize=chunk), strict=True):
                results[slot[task]] = score
                if progress:
                    progress(1)
    return [score for score in results if score is not None]


def run_scripts_on_ray(
    scripts: Sequence[CallScript],
    options: RunOptions,
    *,
    address: str | None,
    progress: Progress | None = None,
) -> list[CallScore]:
    """The same run as Ray tasks on an existing cluster (`address`), or a local one when it is None."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--ray needs the optional extra: pip install 'voicerouter[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    try:

        @ray.remote
        def run_batch(batch: list[tuple[CallScript, int]], opts: RunOptions) -> list[CallScore]:
            context = _Context(opts)
            return [context.run(script, seed) for script, seed in batch]

        tasks = [(script, seed) for seed in run_seeds(options) for script in scripts]
        batches = list(_batches(tasks, size=8))
        futures = [run_batch.remote(batch, options) for batch in batches]
        scores: list[CallScore] = []
        for batch_scores in ray.get(futures):
            scores.extend(batch_scores)
            if progress:
                progress(len(batch_scores))
        return scores
    finally:
        if started_here:
            ray.shutdown()


def _batches(items: Sequence[tuple[CallScript, int]], size: int) -> Iterable[list[tuple[CallScript, int]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
