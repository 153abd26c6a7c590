"""The speech tier's OpenAI Realtime session in a live audio call: one conversation across the three tiers.

The caller's turns stream into the session as they are spoken; a turn routed to the Realtime model is
answered by the session's voice (its transcript feeds the engine, its audio goes straight out, no TTS); a
turn answered by another tier is dropped from the input buffer and written back as text. It never decides
routing, turns or fallbacks (the engine does) and never takes the call down: a broken session only makes
its model fail, and the engine falls through the chain.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from functools import partial

from voicerouter.audio.listener import BargeInConfirmed, CallerSpeechStarted, ListenerOutput
from voicerouter.call.realtime.audio import CallerStream, VoiceDecoder, session_format
from voicerouter.call.realtime.outbox import SessionOutbox, commit_or_clear, truncate_items
from voicerouter.call.realtime.voiced_outbound import VoicedOutbound
from voicerouter.engine import io
from voicerouter.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolCallStarted,
)
from voicerouter.providers.realtime.client import (
    AudioDelta,
    FunctionCall,
    OpenAIRealtimeProvider,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionOutput,
    TranscriptDelta,
)
from voicerouter.toolkit import ToolSpec

log = logging.getLogger(__name__)

OPEN_WAIT_S = 5.0  # how long a speech turn waits for a session still opening (the engine's budget is less)
PREVIOUS_RESPONSE_WAIT_S = 2.0  # a cancelled response must end before the next may start
_TURN_EVENTS = ("input_audio_buffer.commit", "response.create")  # errors on these fail the answering turn


@dataclass
class _TurnLog:
    """What the session must learn of one engine turn, from the engine's turn actions."""

    user_text: str
    input_done: bool = False  # the turn's buffered audio was committed or cleared
    in_session: bool = False  # the session holds the caller's side of the turn (audio or text)
    voiced_text: str = ""  # what the Realtime voice said in this turn (its transcript)


@dataclass
class _Answer:
    """One response the voice gives for a turn (a turn with tool rounds has several)."""

    turn_id: int
    key: int
    decoder: VoiceDecoder
    outputs: asyncio.Queue[SessionOutput | ProviderError | None] = field(default_factory=asyncio.Queue)
    response_id: str | None = None
    requested: bool = False
    cancel_sent: bool = False
    audio_started: bool = False
    items: list[str] = field(default_factory=list)  # assistant audio items, in the order they played


class RealtimeVoice:
    """Per call. `run()` is the supervised task; the pipeline feeds `push_audio` and `listener_output`, and
    carries out the engine's turn actions with `open_turn`, `generation_started` and `close_turn`; the
    outbound reports cut-off voices to `voice_stopped`; the engine's generations reach `answer()` through
    `CallProviders`. It is given what it needs (never reads the engine): the agent's instructions and tool
    specs at construction, the turn and the conversation in the actions and requests."""

    def __init__(
        self,
        provider: OpenAIRealtimeProvider,
        *,
        model: str,
        model_id: str,
        call_id: str,
        instructions: str,
        tools: tuple[ToolSpec, ...],
        outbound: VoicedOutbound,
        rate_hz: int,
    ) -> None:
        self.model = model
        self.format = session_format(rate_hz)
        self._session = provider.open_session(model=model_id)
        self._outbox = SessionOutbox(self._session, where=f"call {call_id}: {model}")
        self._call_id = call_id
        self._instructions = instructions
        self._tools = tools
        self._outbound = outbound
        self._rate_hz = rate_hz
        self._caller = CallerStream(rate_hz, self.format)
        self._ready = asyncio.Event()  # the session opened, or failed to
        self._idle = asyncio.Event()  # no response in progress on the server
        self._idle.set()
        self._turns: dict[int, _TurnLog] = {}
        self._active: _Answer | None = None
        self._answers: dict[int, _Answer] = {}
        self._keys = itertools.count(1)
        self._known_calls: set[str] = set()
        self._history: tuple[ChatMessage, ...] | None = None  # the conversation outside the open turn
        self._history_sent = False
        self._task: asyncio.Task[None] | None = None
        outbound.on_voice_stopped = self.voice_stopped

    # ---- lifecycle ----

    @property
    def usable(self) -> bool:
        return self._ready.is_set() and self._broken is None

    async def run(self) -> None:
        """Open the session, then serve it until the call ends; failures only disable the voice."""
        self._task = asyncio.current_task()
        if self._broken is not None:
            return  # the call ended before this task first ran
        try:
            await self._session.open(instructions=self._instructions, tools=self._tools,
                                     input_format=self.format, output_format=self.format)  # fmt: skip
        except ProviderError as exc:
            log.warning("call %s: %s: realtime session unavailable: %s", self._call_id, self.model, exc)
            self._fail(str(exc))
            return
        self._replay_history()
        self._ready.set()
        sender = asyncio.get_running_loop().create_task(self._outbox.run(), name=f"{self.model}-sender")
        try:
            async for output in self._session.events():
                self._dispatch(output)
            self._fail("the session closed")
        except ProviderError as exc:
            log.warning("call %s: %s: realtime session lost: %s", self._call_id, self.model, exc)
            self._fail(str(exc))
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def close(self) -> None:
        """Stop serving and close the socket (idempotent); open turns fail over to the chain."""
        self._fail("the call ended")
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._session.close()

    @property
    def _broken(self) -> str | None:
        """Why the session cannot serve (None while it can, or is still opening)."""
        return self._outbox.broken

    def _fail(self, why: str) -> None:
        self._ready.set()
        self._idle.set()
        self._outbox.fail(why)
        if self._active is not None:
            self._active.outputs.put_nowait(ProviderError("connection", f"{self.model}: {why}"))

    def _replay_history(self) -> None:
        """What the call said before the session could hear it (the greeting, early turns), minus the open
        turn (its own messages come through the turn's actions). Once, as soon as the conversation is known:
        at the opening, or else at the first turn after it."""
        messages = self._history
        if messages is None or self._history_sent:
            return
        self._history_sent = True
        if messages:
            self._outbox.send("history", lambda s: s.add_history(messages))

    # ---- caller audio ----

    def push_audio(self, pcm16: bytes) -> None:
        """Caller PCM16 at the call's rate, in arrival order."""
        if self._broken is None:
            self._append(self._caller.push(pcm16))

    def listener_output(self, out: ListenerOutput) -> None:
        """A speech onset (or a confirmed barge-in) opens the caller's turn: stream it, with its pre-roll."""
        if self._broken is not None:
            return
        if isinstance(out, CallerSpeechStarted):
            self._append(self._caller.speech_started(out.t_ms))
        elif isinstance(out, BargeInConfirmed):
            self._append(self._caller.speech_started(out.speech_started_ms))

    def _append(self, payload: bytes) -> None:
        if payload:
            self._outbox.send("input_audio_buffer.append", lambda s: s.append_audio(payload))

    def _end_input(self, turn: _TurnLog, *, clear: bool) -> None:
        """The turn's audio is all in: stop streaming until the next utterance, and drop it if asked."""
        turn.input_done = True
        self._append(self._caller.end_turn())
        if clear:
            self._outbox.send("input_audio_buffer.clear", lambda s: s.clear_input())

    # ---- the engine's turn actions ----

    def open_turn(self, action: io.OpenTurn) -> None:
        """A turn begins: remember the caller's words, and give a session that opened before any turn
        the conversation so far."""
        self._turns[action.turn_id] = _TurnLog(user_text=action.user_text)
        self._history = action.history
        if self.usable:
            self._replay_history()

    def generation_started(self, action: io.StartGeneration) -> None:
        """Another model answers the turn: it does so from the transcript, so the buffered audio goes."""
        turn = self._turns.get(action.turn_id)
        if turn is None or self._broken is not None:
            return
        if action.purpose == "answer" and action.model != self.model and not turn.input_done:
            self._end_input(turn, clear=True)

    def close_turn(self, action: io.CloseTurn) -> None:
        """The turn is over: write back what the session did not hear itself."""
        self._history = action.history
        turn = self._turns.pop(action.turn_id, None)
        if turn is not None and self._broken is None:
            self._write_back(turn, action.heard_text)

    def _write_back(self, turn: _TurnLog, heard_text: str) -> None:
        """Give the session what it did not hear itself: the caller's words and the answer delivered."""
        if not turn.input_done:
            self._end_input(turn, clear=True)
        if not self.usable:
            return  # a session still opening replays the history instead
        delivered = heard_text.strip()
        voiced = turn.voiced_text.strip()
        if voiced:
            extra = delivered[len(voiced) :].strip() if delivered.startswith(voiced) else ""
        else:
            extra = delivered
        if not turn.in_session:
            user_text = turn.user_text
            self._outbox.send("conversation.item.create", lambda s: s.add_item_text("user", user_text))
        if extra:
            self._outbox.send("conversation.item.create", lambda s: s.add_item_text("assistant", extra))

    # ---- answering a turn ----

    async def answer(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """One engine generation on the voice: text and tool calls back to the engine, audio to the caller."""
        turn_id = request.turn_id
        if turn_id is None or turn_id not in self._turns:
            raise ProviderError("bad_request", f"{self.model}: a generation outside any open turn")
        await self._wait_ready()
        turn = self._turns.get(turn_id)
        if turn is None:
            raise ProviderError("bad_request", f"{self.model}: turn {turn_id} closed while the voice waited")
        answer = _Answer(turn_id, next(self._keys), VoiceDecoder(self.format, self._rate_hz))
        self._answers = {k: a for k, a in self._answers.items() if a.turn_id == answer.turn_id}
        self._answers[answer.key] = answer
        self._outbound.begin_voice(answer.turn_id, answer.key)
        completed = False
        self._active = answer  # from here, errors on its commit or response fail this answer
        try:
            await self._prepare(turn, request)
            await self._wait_idle()
            instructions = request.system if request.system != self._instructions else None
            answer.requested = True
            self._idle.clear()
            await self._outbox.call("response.create", lambda s: s.create_response(instructions=instructions),
                                    on_abandoned=self._idle.set)  # fmt: skip
            while True:
                output = await answer.outputs.get()
                if isinstance(output, ProviderError):
                    raise output
                if output is None:
                    yield ToolCallStarted()  # audio ahead of its transcript: the answer is under way
                elif isinstance(output, TranscriptDelta):
                    turn.voiced_text += output.text
                    yield TextDelta(text=output.text)
                elif isinstance(output, FunctionCall):
                    self._known_calls.add(output.call_id)
                    yield ToolCallChunk(call=ToolCall(id=output.call_id, name=output.name, args=output.args))
                elif isinstance(output, ResponseDone):
                    if output.status not in ("completed", "incomplete"):
                        raise ProviderError("server_error", f"{self.model}: response {output.status}")
                    completed = True
                    yield output.usage.to_usage()
                    return
        finally:
            self._finish(answer, completed=completed)

    async def _wait_ready(self) -> None:
        if not self._ready.is_set():
            try:
                async with asyncio.timeout(OPEN_WAIT_S):
                    await self._ready.wait()
            except TimeoutError:
                raise ProviderError("timeout", f"{self.model}: the session is still opening") from None
        if self._broken is not None:
            raise ProviderError("connection", f"{self.model}: realtime session unavailable: {self._broken}")

    async def _wait_idle(self) -> None:
        try:
            async with asyncio.timeout(PREVIOUS_RESPONSE_WAIT_S):
                await self._idle.wait()
        except TimeoutError:
            raise ProviderError("stalled", f"{self.model}: the previous response never ended") from None

    async def _prepare(self, turn: _TurnLog, request: ChatRequest) -> None:
        """Before a response: tool results of the last round, or else the caller's side of the turn."""
        results = _trailing_tool_results(request.messages)
        if results:
            for message in results:
                await self._function_output(message)
            return
        if turn.in_session:
            return
        if not turn.input_done:
            self._end_input(turn, clear=False)
            turn.in_session = await self._outbox.call("input_audio_buffer.commit", commit_or_clear)
        if not turn.in_session:  # no audio to commit (or it was dropped for another tier): use the transcript
            text = turn.user_text
            await self._outbox.call("conversation.item.create", lambda s: s.add_item_text("user", text))
            turn.in_session = True

    async def _function_output(self, message: ChatMessage) -> None:
        call_id, output = message.tool_call_id or "", message.content
        if call_id not in self._known_calls:
            log.debug(
                "%s: skipping the result of a call made by another model (%s)", self.model, message.name
            )
            return
        await self._outbox.call("conversation.item.create", lambda s: s.send_function_output(call_id, output))

    def _finish(self, answer: _Answer, *, completed: bool) -> None:
        if self._active is answer:
            self._active = None
        if not completed:
            self._cancel(answer)
            self._outbound.end_voice(answer.turn_id)  # what follows (a fallback, an apology) is synthesised
        self._outbound.end_voice_audio(answer.turn_id, answer.key, answer.decoder.flush())

    def _cancel(self, answer: _Answer) -> None:
        if answer.requested and not answer.cancel_sent:
            answer.cancel_sent = True
            self._outbox.send("response.cancel", lambda s: s.cancel_response())

    # ---- barge-in ----

    def voice_stopped(self, turn_id: int, heard_ms: dict[int, float]) -> None:
        """The caller cut the voice off: stop the response, and cut each item back to what was played."""
        active = self._active
        if active is not None and active.turn_id == turn_id:
            self._cancel(active)
        for key, played_ms in heard_ms.items():
            answer = self._answers.get(key)
            if answer is not None and answer.items:
                cut = partial(truncate_items, items=list(answer.items), played_ms=played_ms)
                self._outbox.send("conversation.item.truncate", cut)

    # ---- the socket ----

    def _dispatch(self, output: SessionOutput) -> None:
        """Route one server output: to the answer in progress, or to the log."""
        answer = self._active
        if isinstance(output, ResponseStarted):
            if answer is not None and answer.requested and answer.response_id is None:
                answer.response_id = output.response_id
        elif isinstance(output, ResponseDone):
            self._idle.set()
            if answer is not None and output.response_id == answer.response_id:
                answer.outputs.put_nowait(output)
        elif isinstance(output, SessionError):
            if output.client_event == "response.create":
                self._idle.set()
            mine = answer is not None and (
                output.client_event in _TURN_EVENTS
                or (output.response_id is not None and output.response_id == answer.response_id)
            )
            if answer is not None and mine:
                answer.outputs.put_nowait(output.to_provider_error(self.model))
            else:
                log.warning("call %s: %s: %s", self._call_id, self.model, output.message)
        elif answer is not None and getattr(output, "response_id", None) == answer.response_id:
            if isinstance(output, AudioDelta):
                self._voice_audio(answer, output)
            elif isinstance(output, TranscriptDelta | FunctionCall):
                answer.outputs.put_nowait(output)

    def _voice_audio(self, answer: _Answer, delta: AudioDelta) -> None:
        if not answer.audio_started:
            answer.audio_started = True
            answer.outputs.put_nowait(None)
        if delta.item_id not in answer.items:
            answer.items.append(delta.item_id)
        self._outbound.push_voice(answer.turn_id, answer.key, answer.decoder.decode(delta.pcm))


def _trailing_tool_results(messages: tuple[ChatMessage, ...]) -> list[ChatMessage]:
    results: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results.append(message)
    return results[::-1]
