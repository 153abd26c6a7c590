"""A small pool of worker processes for CPU-bound speech work, sized to the machine, with a bounded queue
with a deadline in front of it.

Why processes and not threads: the pocketsphinx binding holds the GIL for a whole `process_raw` call
(measured: a 4 s utterance decoded in a thread froze the event loop for its full 0.6 s).
It never runs work on the event loop and never lets work pile up: past its bound, submissions fail fast, and
a job that cannot start within its queue deadline fails too (its transcript would come too late to use).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from voicerouter.providers.speech.base import SpeechError

T = TypeVar("T")

DEFAULT_QUEUE_DEADLINE_S = 2.5  # longest a turn waits for a free worker before it is given up as unheard
DEFAULT_MAX_QUEUED = 32
MAX_WORKERS = 4  # each worker holds its own decoders (~260 MB); more rarely pays on one machine


def machine_workers() -> int:
    """Workers for this machine: one core stays for the event loop, media and VAD (so 1 on 2 cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores - 1))


PARENT_CHECK_S = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the server process is gone, even when it was SIGKILLed and could not
    stop its pool (a worker holds ~260 MB). A watcher thread, not PR_SET_PDEATHSIG: that signal fires when
    the *thread* that spawned the worker exits, and workers may be spawned from short-lived threads."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent watcher", daemon=True).start()


class SphinxPool:
    """Runs picklable jobs in `workers` spawned processes; at most `max_queued` more may wait, each for at
    most `queue_deadline_s`.

    A live call's audio goes stale fast: a transcript that arrives seconds late is worse than none, so a full
    queue, or a job still waiting for a worker at its deadline, raises `SpeechError("overloaded")` and the
    caller decides (re-prompt, or use a vendor). Jobs start in arrival order. The default worker count is
    `machine_workers()`: one on a 2-core machine, leaving a core for the event loop. Workers start
    with "spawn" (forking a process that runs threads and an event loop is unsafe) and keep their loaded
    decoders between jobs; spawn re-imports the main module, so a script using this needs the usual
    `if __name__ == "__main__":` guard. A job whose caller is cancelled still finishes in its worker (a C
    decoder cannot be interrupted), so it keeps its queue slot until then: the bound stays true.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        queue_deadline_s: float = DEFAULT_QUEUE_DEADLINE_S,
        name: str = "pocketsphinx",
    ) -> None:
        workers = machine_workers() if workers is None else workers
        if workers < 1 or max_queued < 0 or queue_deadline_s <= 0:
            raise ValueError(
                f"{name} pool: need workers >= 1, max_queued >= 0 and queue_deadline_s > 0, got {workers}, "
                f"{max_queued}, {queue_deadline_s}"
            )
        self.name = name
        self.workers = workers
        self.capacity = workers + max_queued
        self.queue_deadline_s = queue_deadline_s
        self._executor: ProcessPoolExecutor | None = None
        self._pending = 0
        self._running = 0  # jobs handed to a worker and not finished
        # Jobs waiting for a worker, oldest first. No asyncio primitive here: the pool binds no event loop.
        self._waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._lock = threading.Lock()  # done-callbacks run on the executor's management thread
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs running or waiting, including those whose callers gave up."""
        return self._pending

    @property
    def saturated(self) -> bool:
        """Every worker has a job: anything submitted now waits behind them."""
        return self._pending >= self.workers

    def _pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise SpeechError("unavailable", f"{self.name}: pool used after aclose()")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent, initargs=(os.getpid(),),
            )  # fmt: skip
        return self._executor

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` in a worker; raises SpeechError when the queue is full or a worker died."""
        with self._lock:
            if self._pending >= self.capacity:
                raise SpeechError(
                    "overloaded", f"{self.name}: {self._pending} jobs in flight (capacity {self.capacity})"
                )
            self._pending += 1
        try:
            await self._wait_for_worker()
        except BaseException:
            self._release_pending()
            raise
        try:
            future: Future[T] = self._pool().submit(function, *args)
        except BrokenProcessPool as exc:
            self._release(None)
            self._discard_broken_pool()
            raise SpeechError("engine_failed", f"{self.name}: worker pool broken: {exc}") from exc
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            self._discard_broken_pool()
            raise SpeechError("engine_failed", f"{self.name}: worker process died: {exc}") from exc

    async def _wait_for_worker(self) -> None:
        """Take a worker slot, waiting behind earlier jobs at most `queue_deadline_s`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._running < self.workers and not self._waiting:
                self._running += 1
                return
            turn: asyncio.Future[None] = loop.create_future()
            self._waiting.append((loop, turn))
            ahead = len(self._waiting) - 1
        try:
            await asyncio.wait_for(turn, self.queue_deadline_s)
        except BaseException as exc:
            with self._lock:
                still_waiting = (loop, turn) in self._waiting
                if still_waiting:
                    self._waiting.remove((loop, turn))
            if not still_waiting:  # a slot was handed over as the wait ended: pass it on
                self._free_slot()
            if isinstance(exc, TimeoutError):
                raise SpeechError(
                    "overloaded",
                    f"{self.name}: no worker free within {self.queue_deadline_s:g} s "
                    f"({ahead} jobs ahead, {self.workers} workers)",
                ) from None
            raise

    def _free_slot(self) -> None:
        """A job finished (any thread): hand its worker to the oldest waiting job, or free it."""
        with self._lock:
            if not self._waiting:
                self._running -= 1
                return
            loop, turn = self._waiting.popleft()  # the slot is that job's from here on
        try:
            loop.call_soon_threadsafe(_hand_over, turn)
        except RuntimeError:  # its event loop is closed: nobody is left to take the slot
            self._free_slot()

    def _release_pending(self) -> None:
        with self._lock:
            self._pending -= 1

    def _release(self, _future: Future[Any] | None) -> None:
        self._release_pending()
        self._free_slot()

    def _discard_broken_pool(self) -> None:
        """A crashed worker breaks the whole executor; the next job gets a fresh one."""
        broken, self._executor = self._executor, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the workers once their current jobs end; queued jobs are cancelled."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            # shutdown(wait=True) joins processes: a blocking call, so it runs off the loop.
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)


def _hand_over(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)
