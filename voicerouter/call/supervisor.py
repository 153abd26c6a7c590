"""Owns every task of one call, so a failure in one of them closes that call and nothing else.

A task that raises is logged with the call and task names, then the call's failure handler runs; closing
cancels and awaits every task, so an ended call leaves none behind. It never restarts a task. Teardown is
bounded: `within()` gives each step of a call's close a deadline, so no provider can keep a call open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

TASK_STOP_S = 0.5  # a cancelled task that has not finished by then is stuck (it swallowed the cancellation)
_abandoned: set[asyncio.Future[Any]] = set()  # overrun steps, kept referenced until they end


async def within(deadline_s: float, step: Awaitable[Any], *, what: str) -> bool:
    """Await one teardown step for at most `deadline_s`; True if it finished.

    A step that overruns is logged by name, cancelled and left behind, and a step that fails is logged: either
    way the caller goes on to the next step, so one stuck provider cannot hold a call (or the server) open.
    """
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        log.error("%s overran its %.1f s deadline; abandoned", what, deadline_s)
        _abandon(task)
        return False
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", what, exc_info=task.exception())
    return True


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]], *, what: str, deadline_s: float = TASK_STOP_S
) -> None:
    """Cancel `tasks` and wait for them, at most `deadline_s`; the ones still running are named in the log."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=deadline_s)
    if stuck:
        names = sorted(task.get_name() for task in stuck)
        log.error("%s: %d task(s) still running %.1f s after cancel, abandoned: %s", what, len(stuck),
                  deadline_s, ", ".join(names))  # fmt: skip
        for task in stuck:
            _abandon(task)


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget_abandoned)


def _forget_abandoned(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("an abandoned teardown step ended with %r", task.exception())


class CallSupervisor:
    def __init__(self, call_id: str, on_failure: Callable[[str, BaseException], None]) -> None:
        self.call_id = call_id
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        if self._closing:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro, name=f"call {self.call_id}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("%s failed", task.get_name(), exc_info=exc)
        if not self._closing:
            self._on_failure(task.get_name(), exc)

    @property
    def task_count(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel and await every task (except the one calling, if it is ours)."""
        self._closing = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        await stop_tasks(tasks, what=f"call {self.call_id}")
