"""A small pool of worker processes for CPU-bound speech work, with a bounded queue in front of it.

Why processes and not threads: the pocketsphinx binding holds the GIL for a whole `process_raw` call
(measured: a 4 s utterance decoded in a thread froze the event loop for its full 0.6 s).
It never runs work on the event loop and never lets work pile up: past its bound, submissions fail fast.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from voicerouter.providers.speech.base import SpeechError

T = TypeVar("T")


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
    """Runs picklable jobs in `workers` spawned processes; at most `max_queued` more may wait.

    A live call's audio goes stale fast: a transcript that arrives seconds late is worse than none, so a full
    queue raises `SpeechError("overloaded")` at once and the caller decides (reprompt, or use a vendor).
    One worker suits a 2-core machine: it leaves a core for the event loop, media and VAD. Workers start
    with "spawn" (forking a process that runs threads and an event loop is unsafe) and keep their loaded
    decoders between jobs; spawn re-imports the main module, so a script using this needs the usual
    `if __name__ == "__main__":` guard. A job whose caller is cancelled still finishes in its worker (a C
    decoder cannot be interrupted), so it keeps its queue slot until then: the bound stays true.
    """

    def __init__(self, *, workers: int = 1, max_queued: int = 4, name: str = "pocketsphinx") -> None:
        if workers < 1 or max_queued < 0:
            raise ValueError(
                f"{name} pool: need workers >= 1 and max_queued >= 0, got {workers}, {max_queued}"
            )
        self.name = name
        self.workers = workers
        self.capacity = workers + max_queued
        self._executor: ProcessPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()  # done-callbacks run on the executor's management thread
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs running or waiting, including those whose callers gave up."""
        return self._pending

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

    def _release(self, _future: Future[Any] | None) -> None:
        with self._lock:
            self._pending -= 1

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
