"""Owns every task of one call, so a failure in one of them closes that call and nothing else.

A task that raises is logged with the call and task names, then the call's failure handler runs; closing
cancels and awaits every task, so an ended call leaves none behind. It never restarts a task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


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
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
