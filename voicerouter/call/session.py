"""Runs one call's engine live: real providers and tools as asyncio tasks, timers on the event loop.

The thin I/O layer around the sans-I/O engine. Every task it starts it also cancels and awaits on close,
so a hung-up call leaves nothing behind; a failing provider or tool becomes an engine input, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from voicerouter import events as ev
from voicerouter import logs, telemetry
from voicerouter.agent import AgentSpec
from voicerouter.call.supervisor import stop_tasks
from voicerouter.engine import CallEngine, io
from voicerouter.providers.base import (
    ChatProvider,
    ProviderError,
    TextDelta,
    ToolCallChunk,
    ToolCallStarted,
    Usage,
)
from voicerouter.toolkit import ToolRegistry

log = logging.getLogger(__name__)

EventSink = Callable[[ev.Event], None]
"""Records, notifies or measures; never drives the call (commands come as actions)."""
CallAction = io.OpenTurn | io.Speak | io.FinishSpeaking | io.StopSpeaking | io.CloseTurn
"""The actions for the call's own side (its voice, its listener, its speech tier), not for the session."""
ActionSink = Callable[[CallAction], None]
ActionObserver = Callable[[io.Action], None]
"""Told of every action just before it is carried out (e.g. a generation starting, a tool being run)."""


def _forget(tasks: dict[Any, asyncio.Task[None]], key: object, _task: asyncio.Task[None]) -> None:
    tasks.pop(key, None)


class ProviderLookup(Protocol):
    """Where a call finds the provider of a model: the process's pool, or a call's own view of it."""

    def get(self, model: str, agent: AgentSpec) -> ChatProvider: ...


class CallSession:
    def __init__(
        self,
        engine: CallEngine,
        providers: ProviderLookup,
        tools: ToolRegistry,
        *,
        on_event: EventSink | None = None,
        on_action: ActionSink | None = None,
    ) -> None:
        """`on_action` carries out the call-side actions (without one, a text call ignores them)."""
        self.engine = engine
        self.providers = providers
        self.tools = tools
        self._event_sinks: list[EventSink] = [on_event] if on_event else []
        self._on_action = on_action
        self._action_observers: list[ActionObserver] = []
        self._generations: dict[int, asyncio.Task[None]] = {}
        self._tool_tasks: dict[str, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        tracer = telemetry.call_tracer()
        if tracer is not None:
            self._event_sinks.append(tracer.on_event)
        self.log_scope = logs.CallScope(engine.call_id)
        self._event_sinks.append(self.log_scope.on_event)

    def add_event_sink(self, sink: EventSink) -> None:
        """Events are records: a sink writes, measures or shows them, and never drives the call."""
        self._event_sinks.append(sink)

    def add_action_observer(self, observer: ActionObserver) -> None:
        """Be told of each action before it is carried out, to do the part of it that is yours (the speech
        tier's side of a generation, a transport's side of a tool)."""
        self._action_observers.append(observer)

    def start(self) -> None:
        """Start the call; log lines from here on (and from the tasks it starts) carry its ids."""
        logs.bind_call(self.log_scope)
        self.engine.start()
        self._pump()

    def record(self, cls: type[ev._Event], **fields: object) -> None:
        """Stamp an event observed outside the engine (by a transport) on the call's timeline and deliver
        it to every sink, like the engine's own."""
        self.engine.record(cls, **fields)
        self._pump()

    def feed(self, item: io.Input) -> None:
        """Give the engine one input and carry out whatever it asks for."""
        if self._closed:
            return
        self.engine.receive(item)
        self._pump()

    async def close(self, reason: str = "hangup") -> None:
        if not self._closed:
            self.engine.end(reason)
            self._pump()
            self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = [*self._generations.values(), *self._tool_tasks.values()]
        await stop_tasks(tasks, what=f"call {self.engine.call_id}: generations and tools")
        self._generations.clear()
        self._tool_tasks.clear()
        self.ended.set()

    @property
    def pending_tasks(self) -> int:
        return len(self._generations) + len(self._tool_tasks)

    # ---- carrying out actions ----

    def _pump(self) -> None:
        for event in self.engine.events_emitted():
            for sink in self._event_sinks:
                try:
                    sink(event)
                except Exception:  # a broken listener must not break the call
                    log.exception("event sink failed on %s", event.type)
        for action in self.engine.actions_to_send():
            self._execute(action)
        self._schedule_timer()
        if self.engine.ended and not self._closed:
            self._closed = True
            self._closing = asyncio.get_running_loop().create_task(self.close("ended"))

    def _execute(self, action: io.Action) -> None:
        for observer in self._action_observers:
            observer(action)
        if isinstance(action, io.StartGeneration):
            task = asyncio.get_running_loop().create_task(self._run_generation(action))
            self._generations[action.gen_id] = task
            task.add_done_callback(functools.partial(_forget, self._generations, action.gen_id))
        elif isinstance(action, io.CancelGeneration):
            gen = self._generations.pop(action.gen_id, None)
            if gen is not None:
                gen.cancel()
        elif isinstance(action, io.RunTool):
            tool_task = asyncio.get_running_loop().create_task(self._run_tool(action))
            self._tool_tasks[action.call_key] = tool_task
            tool_task.add_done_callback(functools.partial(_forget, self._tool_tasks, action.call_key))
        elif isinstance(action, io.CancelTool):
            pending = self._tool_tasks.pop(action.call_key, None)
            if pending is not None:
                pending.cancel()
        elif self._on_action is not None:
            self._on_action(action)

    def _schedule_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline_ms()
        if deadline is None or self._closed:
            return
        delay_s = max(0.0, (deadline - self.engine.clock.now_ms()) / 1000)
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self.engine.check_timers()
        self._pump()

    async def _run_generation(self, action: io.StartGeneration) -> None:
        gen_id = action.gen_id
        try:
            provider = self.providers.get(action.model, self.engine.agent)
            usage = Usage()
            # aclosing: close the stream (and its HTTP response) at once when this task is cancelled
            async with contextlib.aclosing(provider.stream(action.request)) as stream:
                async for chunk in stream:
                    if isinstance(chunk, TextDelta):
                        self.feed(io.ModelDelta(gen_id=gen_id, text=chunk.text))
                    elif isinstance(chunk, ToolCallChunk):
                        self.feed(io.ModelToolCall(gen_id=gen_id, call=chunk.call))
                    elif isinstance(chunk, ToolCallStarted):
                        self.feed(io.ModelProgress(gen_id=gen_id))
                    else:
                        usage = chunk
            self.feed(io.ModelDone(gen_id=gen_id, usage=usage))
        except asyncio.CancelledError:
            raise
        except ProviderError as exc:
            self.feed(io.ModelFailed(gen_id=gen_id, error=exc))
        except Exception as exc:  # an adapter bug must fall through the chain, not kill the call
            log.exception("provider %s failed", action.model)
            self.feed(io.ModelFailed(gen_id=gen_id, error=ProviderError("server_error", repr(exc))))

    async def _run_tool(self, action: io.RunTool) -> None:
        # Tools may block (files, databases): keep them off the event loop.
        outcome = await asyncio.to_thread(self.tools.run, action.name, action.args)
        self.feed(io.ToolFinished(call_key=action.call_key, outcome=outcome))
