"""The agent's voice on one call: synthesise each sentence at the transport's rate, pace 20 ms frames.

A voice that can deliver at any rate (`AnyRateTextToSpeech`) is asked for the transport's own, so its audio
is converted once, at the source (espeak-ng's 22050 Hz straight to 48 kHz for WebRTC, 8 kHz for phones);
only a fixed-rate voice is resampled here.

Frames leave on a timeline of slots from the monotonic clock (`next slot = previous slot + frame`), never by
`sleep(frame)`, so scheduling jitter does not accumulate; a frame that misses its slot is counted late. On
barge-in the turn's queued audio is dropped before another frame can leave. It never decides *when* to stop:
the pipeline says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from voicerouter.audio.pcm import FrameBuffer, frame_bytes
from voicerouter.audio.playback import Sentence, TurnPlayback
from voicerouter.audio.resample import Resampler
from voicerouter.clock import Clock
from voicerouter.providers.base import ProviderError
from voicerouter.providers.speech.base import AnyRateTextToSpeech, SpeechError, TextToSpeech

log = logging.getLogger(__name__)

FRAME_MS = 20
RESYNC_LATE_MS = 200.0  # a sender this far behind restarts its timeline instead of bursting to catch up


class AudioSink(Protocol):
    """What a transport offers the outbound side."""

    async def send_audio(self, pcm16: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def clear(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Frame:
    turn: TurnPlayback
    pcm16: bytes
    queued_ms: float


@dataclass(frozen=True, slots=True)
class _Mark:
    turn: TurnPlayback
    index: int


def mark_name(turn_id: int, sentence_index: int) -> str:
    return f"{turn_id}:{sentence_index}"


def parse_mark(name: str) -> tuple[int, int] | None:
    turn, _, index = name.partition(":")
    return (int(turn), int(index)) if turn.isdigit() and index.isdigit() else None


class OutboundAudio:
    """Per call. `speak()` queues a sentence; `run_*()` are the long-lived tasks the pipeline supervises."""

    def __init__(
        self,
        tts: TextToSpeech,
        sink: AudioSink,
        clock: Clock,
        *,
        rate_hz: int,
        marks: bool,
        latency_ms: float = 0.0,
        min_word_fraction: float = 0.5,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        on_turn_started: Callable[[int], None],
        on_turn_played: Callable[[int], None],
        on_frame_sent: Callable[[bytes, float, float], None],
    ) -> None:
        self.tts = tts.at_rate(rate_hz) if isinstance(tts, AnyRateTextToSpeech) else tts
        self.sink = sink
        self.clock = clock
        self.rate_hz = rate_hz
        self.marks = marks
        self._latency_ms = latency_ms
        self._min_word_fraction = min_word_fraction
        self._spawn = spawn
        self._on_turn_started = on_turn_started
        self._on_turn_played = on_turn_played
        self._on_frame_sent = on_frame_sent
        self._frame_bytes = frame_bytes(rate_hz, FRAME_MS)
        self.turns: dict[int, TurnPlayback] = {}
        self._queue: deque[_Frame | _Mark] = deque()
        self._queue_ready = asyncio.Event()
        self._to_synthesize: asyncio.Queue[tuple[TurnPlayback, Sentence]] = asyncio.Queue()
        self._synthesizing: tuple[TurnPlayback, asyncio.Task[None]] | None = None
        self._next_slot_ms: float | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}

    # ---- from the pipeline ----

    def speak(self, turn_id: int, text: str) -> None:
        turn = self._turn(turn_id)
        if turn.stopped:
            return
        sentence = turn.add_sentence(text)
        self._to_synthesize.put_nowait((turn, sentence))

    def text_final(self, turn_id: int, text: str) -> None:
        """The engine's final text for the turn: once its sentences add up to it, the turn can finish."""
        turn = self._turn(turn_id)
        turn.final_text = text
        self._poke(turn)

    def playing(self) -> TurnPlayback | None:
        """The turn whose audio is being played or prepared, if any."""
        live = [t for t in self.turns.values() if not (t.stopped or t.finished)]
        return live[-1] if live else None

    def stop(self, turn_id: int, *, clear: bool = True) -> int | None:
        """Drop the turn's unplayed audio now (and tell the far end to drop what it buffered, unless the call
        is closing anyway); returns the characters heard, or None if the turn was not playing."""
        turn = self.turns.get(turn_id)
        if turn is None or turn.stopped or turn.finished:
            return None
        heard = turn.heard_chars(self.clock.now_ms())
        turn.stopped = True
        self._queue = deque(item for item in self._queue if item.turn is not turn)
        if self._synthesizing is not None and self._synthesizing[0] is turn:
            self._synthesizing[1].cancel()
        if turn.started and clear:
            self._spawn(self.sink.clear(), "clear")
        self.turns.pop(turn_id, None)
        return heard

    def mark_echoed(self, name: str) -> None:
        parsed = parse_mark(name)
        turn = self.turns.get(parsed[0]) if parsed else None
        if turn is None or parsed is None or turn.stopped:
            return  # a mark of a cleared turn comes back at once on `clear`: it proves nothing was played
        turn.mark_echoed(parsed[1])
        self._poke(turn)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queue.clear()

    # ---- long-lived tasks ----

    async def run_synthesis(self) -> None:
        """Synthesise sentences one at a time, in order, while earlier ones play."""
        while True:
            turn, sentence = await self._to_synthesize.get()
            if turn.stopped:
                sentence.synthesized = True
                continue
            task = asyncio.get_running_loop().create_task(self._synthesize(turn, sentence))
            self._synthesizing = (turn, task)
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the call is closing, not just this sentence
            finally:
                self._synthesizing = None

    async def run_sender(self) -> None:
        frame_ms = float(FRAME_MS)
        while True:
            if not self._queue:
                self._queue_ready.clear()
                await self._queue_ready.wait()
                continue
            item = self._queue.popleft()
            if item.turn.stopped:
                continue
            if isinstance(item, _Mark):
                await self.sink.send_mark(mark_name(item.turn.turn_id, item.index))
                continue
            now = self.clock.now_ms()
            slot = self._next_slot_ms
            if slot is None or item.queued_ms > slot:
                slot = now  # the line was empty at this frame's slot: an underrun, not lateness
            if slot > now:
                await asyncio.sleep((slot - now) / 1000.0)
                if item.turn.stopped:
                    continue  # barge-in while this frame waited for its slot: it never leaves
            sent_ms = self.clock.now_ms()
            lateness_ms = sent_ms - slot
            await self.sink.send_audio(item.pcm16)
            turn = item.turn
            first = not turn.started
            turn.sent(len(item.pcm16) // 2, sent_ms)
            if first:
                self._on_turn_started(turn.turn_id)
            self._on_frame_sent(item.pcm16, sent_ms, lateness_ms)
            self._next_slot_ms = slot + frame_ms if lateness_ms < RESYNC_LATE_MS else sent_ms + frame_ms
            self._poke(turn)

    # ---- internals ----

    def _turn(self, turn_id: int) -> TurnPlayback:
        turn = self.turns.get(turn_id)
        if turn is None:
            turn = TurnPlayback(
                turn_id=turn_id,
                rate_hz=self.rate_hz,
                latency_ms=self._latency_ms,
                marks_authoritative=self.marks,
                min_word_fraction=self._min_word_fraction,
            )
            self.turns[turn_id] = turn
        return turn

    @property
    def resamples(self) -> bool:
        """Whether this side converts the voice's audio itself (only when the voice has a fixed rate)."""
        return self.tts.sample_rate_hz != self.rate_hz

    async def _synthesize(self, turn: TurnPlayback, sentence: Sentence) -> None:
        resampler = Resampler(self.tts.sample_rate_hz, self.rate_hz)
        framer = FrameBuffer(self._frame_bytes)
        chunks: AsyncIterator[bytes] = self.tts.synthesize(sentence.text)
        try:
            async for chunk in chunks:
                self._enqueue(turn, sentence, framer.push(resampler.process_pcm16(chunk)))
                # An engine that synthesises faster than real time hands over whole sentences without ever
                # suspending; yielding per chunk keeps every call's frames leaving on time meanwhile.
                await asyncio.sleep(0)
            self._enqueue(turn, sentence, framer.push(resampler.flush_pcm16()))
            tail = framer.flush(pad=True)
            if tail:
                self._enqueue(turn, sentence, [tail])
            if self.marks and sentence.queued_samples:
                self._queue.append(_Mark(turn, sentence.index))
                self._queue_ready.set()
        except (SpeechError, ProviderError) as exc:
            log.warning("text to speech failed for %r (turn %d): %s", sentence.text[:40], turn.turn_id, exc)
        finally:
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()  # stops the engine (e.g. kills its subprocess) when cut short
            sentence.synthesized = True
            self._poke(turn)

    def _enqueue(self, turn: TurnPlayback, sentence: Sentence, frames: list[bytes]) -> None:
        if not frames or turn.stopped:
            return
        now = self.clock.now_ms()
        for frame in frames:
            turn.queued(sentence, len(frame) // 2)
            self._queue.append(_Frame(turn, frame, now))
        self._queue_ready.set()

    def _poke(self, turn: TurnPlayback) -> None:
        """Finish the turn if it has played out; otherwise re-check when the last sent frame ends."""
        if turn.finished or turn.stopped:
            return
        now = self.clock.now_ms()
        if turn.played_out(now):
            turn.finished = True
            self.turns.pop(turn.turn_id, None)
            self._on_turn_played(turn.turn_id)
        elif turn.all_sent() and not self.marks and turn.turn_id not in self._timers:
            delay_s = max(0.0, turn.last_end_ms - now) / 1000.0 + 0.001
            self._timers[turn.turn_id] = asyncio.get_running_loop().call_later(
                delay_s, self._timer_poke, turn
            )

    def _timer_poke(self, turn: TurnPlayback) -> None:
        self._timers.pop(turn.turn_id, None)
        self._poke(turn)
