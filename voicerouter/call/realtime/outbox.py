"""The ordered outbox of one Realtime session: client events leave in the order they were queued.

Caller audio, commits, responses, write-backs and truncations share one queue, so a commit can never
overtake the audio it commits and a write-back never lands inside the next turn. It never reads server
events and never retries: a lost connection marks it broken and fails whatever still waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from voicerouter.providers.base import ProviderError
from voicerouter.providers.realtime.client import RealtimeSession

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100.0  # the API refuses to commit less

Action = Callable[[RealtimeSession], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Command:
    name: str  # the client event, for logs and errors
    action: Action
    done: asyncio.Future[Any] | None = None  # someone waits for it to go out
    on_abandoned: Callable[[], None] | None = None  # skip it, and call this, if its waiter gave up


class SessionOutbox:
    def __init__(self, session: RealtimeSession, *, where: str) -> None:
        self.session = session
        self.where = where  # "call <id>: <model>", for logs and errors
        self.broken: str | None = None
        self._queue: asyncio.Queue[_Command] = asyncio.Queue()

    def send(self, name: str, action: Action) -> None:
        """Queue a client event nobody waits for; a failure is logged (dropped once broken)."""
        if self.broken is None:
            self._queue.put_nowait(_Command(name, action))

    async def call(self, name: str, action: Action, *, on_abandoned: Callable[[], None] | None = None) -> Any:
        """Queue a client event and wait until it went out (its result), or raise ProviderError.

        With `on_abandoned`, an event whose waiter was cancelled before its turn is not sent at all."""
        if self.broken is not None:
            raise ProviderError("connection", f"{self.where}: {self.broken}")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Command(name, action, done, on_abandoned))
        return await done

    def fail(self, why: str) -> None:
        """Nothing more goes out; every waiter gets a connection error."""
        if self.broken is None:
            self.broken = why
        while not self._queue.empty():
            done = self._queue.get_nowait().done
            if done is not None and not done.done():
                done.set_exception(ProviderError("connection", f"{self.where}: {why}"))

    async def run(self) -> None:
        """Send queued events one at a time until cancelled."""
        while True:
            command = await self._queue.get()
            done = command.done
            if done is not None and done.cancelled() and command.on_abandoned is not None:
                command.on_abandoned()
                continue
            try:
                result = await command.action(self.session)
            except (ProviderError, ValueError) as exc:
                error = exc if isinstance(exc, ProviderError) else ProviderError("bad_request", str(exc))
                if done is not None and not done.done():
                    done.set_exception(error)
                else:
                    log.warning("%s: %s failed: %s", self.where, command.name, error)
                if error.kind == "connection":
                    self.fail(error.message)
            else:
                if done is not None and not done.done():
                    done.set_result(result)


async def commit_or_clear(session: RealtimeSession) -> bool:
    """Commit the caller's turn; a buffer too short to commit is dropped instead (False: send its text)."""
    if session.buffered_input_ms >= MIN_COMMIT_MS:
        await session.commit()
        return True
    if session.buffered_input_ms > 0:
        await session.clear_input()
    return False


async def truncate_items(session: RealtimeSession, items: list[str], played_ms: float) -> None:
    """Spread the played time over an answer's audio items in order: cut the item it ends in, and any later
    one, back to what the caller heard (the session clamps to the audio it actually received)."""
    left_ms = played_ms
    for item_id in items:
        received_ms = session.received_audio_ms(item_id)
        if received_ms is None:
            continue
        if left_ms < received_ms:
            await session.truncate(item_id, int(left_ms))
        left_ms = max(0.0, left_ms - received_ms)
