"""One live audio call: transport ⇄ VAD / end-of-turn / barge-in ⇄ STT ⇄ engine session ⇄ TTS ⇄ paced audio.

Transport-neutral: it takes caller PCM16 at the transport's rate and hands agent PCM16 frames to the
transport. The decisions live in sans-I/O parts (`CallerListener`, `TurnPlayback`); this module wires them
to the engine and the clock. It never feeds the engine from inside the engine's own event dispatch (follow-ups
are deferred with `call_soon`), and a failure in any of its tasks closes this call only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from voicerouter import events as ev
from voicerouter.audio.listener import (
    BargeInConfirmed,
    CallerListener,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTurnEnded,
    ListenerOutput,
    listening_rate_hz,
)
from voicerouter.audio.resample import Resampler
from voicerouter.call.metrics import ServeMetrics
from voicerouter.call.outbound import AudioSink
from voicerouter.call.realtime.providers import CallProviders, realtime_voice_for
from voicerouter.call.realtime.voiced_outbound import VoicedOutbound
from voicerouter.call.recording import CallRecording
from voicerouter.call.session import CallAction, CallSession, ProviderLookup
from voicerouter.call.speech_stream import UtteranceStreamer
from voicerouter.call.supervisor import CallSupervisor, within
from voicerouter.call.turn_timing import TurnTiming
from voicerouter.engine import io
from voicerouter.providers.base import ProviderError
from voicerouter.providers.speech.base import (
    SpeechError,
    SpeechStream,
    SpeechToText,
    StreamingSpeechToText,
    TextToSpeech,
    Transcription,
)
from voicerouter.store import CallStore
from voicerouter.wiring import Runtime

log = logging.getLogger(__name__)

ENDPOINT_FALLBACK_S = (
    0.15  # if caller audio stops arriving, end-of-turn is checked on the clock this much later
)
MEDIA_FRAME_MS = 20.0  # the frame interval media gaps are measured in
MEDIA_GAP_MS = 2 * MEDIA_FRAME_MS  # no frame for longer than this: the gap is fed to the listener as silence
TEARDOWN_STEP_S = 1.0  # each step of closing a call (session, voice, tasks, transport) gets this long
RECORDING_CLOSE_S = 3.0  # writing the last audio, fsync and the index row: disk time, so a little longer


class CallTransport(AudioSink, Protocol):
    """The far end as the pipeline sees it."""

    kind: str  # recorded as call.started.transport
    marks: bool  # the far end echoes marks once the audio before them has played (Twilio)

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue a control message for the far end (ignored by transports without one)."""

    async def hang_up(self, reason: str) -> None: ...


@dataclass
class CallServices:
    """What every call of a server shares."""

    runtime: Runtime
    tts: TextToSpeech
    recordings_dir: Path | None = None
    store: CallStore | None = None
    metrics: ServeMetrics = field(default_factory=ServeMetrics)


class AudioCallPipeline:
    def __init__(
        self,
        services: CallServices,
        transport: CallTransport,
        stt: SpeechToText,
        *,
        agent: str,
        caller: str = "",
        rate_hz: int,
        call_id: str | None = None,
    ) -> None:
        runtime = services.runtime
        self._loop = asyncio.get_running_loop()
        self.services = services
        self.transport = transport
        self.stt = stt
        self.rate_hz = rate_hz
        self.clock = runtime.clock
        self.engine, tools = runtime.new_call(
            agent, transport=transport.kind, caller=caller, instant_playback=False, call_id=call_id
        )
        self.call_id = self.engine.call_id
        audio = self.engine.config.audio
        self.supervisor = CallSupervisor(self.call_id, self._task_failed)
        self.recording = CallRecording(
            services.recordings_dir,
            self.call_id,
            rate_hz=rate_hz,
            store=services.store,
            errors=services.metrics.recording_errors,
        )
        listen_hz = listening_rate_hz(rate_hz)
        self.listener = CallerListener(audio, rate_hz=listen_hz)
        self._inbound = Resampler(rate_hz, listen_hz) if listen_hz != rate_hz else None
        # Recognised while spoken when the recogniser can stream; else each pause's audio is decoded whole.
        self._streamer = (
            UtteranceStreamer(stt, self.listener, self.call_id)
            if isinstance(stt, StreamingSpeechToText)
            else None
        )
        self.outbound = VoicedOutbound(
            services.tts,
            transport,
            self.clock,
            rate_hz=rate_hz,
            marks=transport.marks,
            latency_ms=audio.barge_in.playout_latency_ms,
            min_word_fraction=audio.barge_in.min_word_fraction,
            spawn=self.supervisor.spawn,
            on_turn_started=self._agent_audio_started,
            on_turn_played=self._agent_audio_played_soon,
            on_frame_sent=self._frame_sent,
        )
        # The speech tier's Realtime session, when a Realtime model can serve this call (else None).
        self.voice = realtime_voice_for(
            runtime,
            self.outbound,
            call_id=self.call_id,
            agent=self.engine.agent,
            config=self.engine.config,
            tools=tools.specs(),
            rate_hz=rate_hz,
        )
        providers: ProviderLookup = runtime.providers
        if self.voice is not None:
            providers = CallProviders(runtime.providers, self.voice)
        self.session = CallSession(
            self.engine, providers, tools, on_event=self._on_event, on_action=self._on_action
        )
        self.session.add_action_observer(self._before_action)
        self.metrics = services.metrics
        self.ended = asyncio.Event()
        self._start_ms = self.clock.now_ms()
        self._timing = TurnTiming(vad_hangover_ms=audio.vad.hangover_ms)
        self._last_audio_ms = self._start_ms  # the last caller frame that arrived
        self._fed_until_ms = self._start_ms  # wall time up to which the listener heard audio or silence
        self._media_timeout_ms = audio.media_timeout_s * 1000.0
        self._media_watch: asyncio.TimerHandle | None = None
        self._endpoint_timer: asyncio.TimerHandle | None = None
        self._stt_jobs: dict[int, asyncio.Task[Transcription | None]] = {}
        self._turn_order = asyncio.Lock()  # transcripts reach the engine in the order turns ended
        self._engine_turn_open = False
        self._audible_turns: set[int] = set()  # turns whose audio started and has not stopped
        self._awaiting_audio: tuple[int, float, float] | None = None  # (turn_id, transcript_ms, stt_wait_ms)
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        self.metrics.active_calls.inc()
        self.metrics.calls.inc(1, self.transport.kind)
        await self.recording.started(agent=self.engine.agent.name, transport=self.transport.kind,
                                     caller=self.engine.caller)  # fmt: skip
        self.session.start()
        for side, track in self.recording.audio_references():
            self.record(ev.CallAudio, track=side, path=track.path.name, sample_rate_hz=self.rate_hz)
        self.supervisor.spawn(self.outbound.run_sender(), "audio sender")
        self.supervisor.spawn(self.outbound.run_synthesis(), "speech synthesis")
        self.supervisor.spawn(self.recording.run_flusher(), "recording flusher")
        self.supervisor.spawn(self._watch_session(), "session watcher")
        if self.voice is not None:
            self.supervisor.spawn(self.voice.run(), "realtime voice")
        self._media_watch = self._loop.call_later(MEDIA_FRAME_MS / 1000.0, self._watch_media)

    async def close(self, reason: str = "caller hung up") -> None:
        """End the call (idempotent): engine, tasks, files, index row, then the transport."""
        if self._closing:
            await self.ended.wait()
            return
        self._closing = True
        try:
            if self._endpoint_timer is not None:
                self._endpoint_timer.cancel()
            if self._media_watch is not None:
                self._media_watch.cancel()
            playing = self.outbound.playing()
            if playing is not None:  # before call.ended, so the recording closes the agent's audio first
                heard = self.outbound.stop(playing.turn_id, clear=False)
                self._audio_stopped(playing.turn_id)
                if heard is not None and playing.turn_id > 0:
                    self.session.feed(io.PlaybackProgress(turn_id=playing.turn_id, heard_chars=heard))
            self.outbound.close()
            if self._streamer is not None:
                self._streamer.cancel()
            step = f"call {self.call_id}: closing"
            await within(TEARDOWN_STEP_S, self.session.close(reason), what=f"{step} the session")
            if self.voice is not None:
                await within(TEARDOWN_STEP_S, self.voice.close(), what=f"{step} the realtime voice")
            await within(TEARDOWN_STEP_S, self.supervisor.aclose(), what=f"{step} its tasks")
            await within(RECORDING_CLOSE_S, self.recording.close(), what=f"{step} the recording")
        finally:
            self.metrics.active_calls.dec()
            try:
                what = f"call {self.call_id}: hanging up the {self.transport.kind} transport"
                await within(TEARDOWN_STEP_S, self.transport.hang_up(reason), what=what)
            finally:
                self.ended.set()

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.metrics.call_errors.inc(1, "internal")
        self.close_soon(f"internal error in {name.split(': ', 1)[-1]}: {type(exc).__name__}")

    def close_soon(self, reason: str) -> None:
        """Close from a context that cannot await (a callback); the close runs as its own task."""
        if not self._closing and self._close_task is None:
            self._close_task = self._loop.create_task(self.close(reason))

    async def _watch_session(self) -> None:
        await self.session.ended.wait()
        self.close_soon("agent ended the call")

    # ---- caller audio ----

    def push_audio(self, pcm16: bytes) -> None:
        """Caller PCM16 at the transport's rate, in arrival order."""
        if self._closing:
            return
        if self.recording.caller_track is not None:
            self.recording.caller_track.append(pcm16)
        self._last_audio_ms = self._fed_until_ms = self.clock.now_ms()
        if self.voice is not None:
            self.voice.push_audio(pcm16)
        heard = pcm16 if self._inbound is None else self._inbound.process_pcm16(pcm16)
        self._hear(heard)
        self._arm_endpoint_timer()

    def _watch_media(self) -> None:
        """Every frame interval: a gap in caller media is silence to the listener, so a muted mic, DTX, loss
        or a sender that stopped still ends the turn on time; no media for the media timeout ends the call."""
        self._media_watch = None
        if self._closing:
            return
        now = self.clock.now_ms()
        if now - self._last_audio_ms >= self._media_timeout_ms:
            log.info("call %s: no caller media for %.0f s, ending it", self.call_id,
                     (now - self._last_audio_ms) / 1000.0)  # fmt: skip
            self.close_soon("media_timeout")
            return
        gap_ms = now - self._fed_until_ms
        if gap_ms > MEDIA_GAP_MS:
            self._fed_until_ms = now
            if self.voice is not None:
                self.voice.push_audio(bytes(2 * round(gap_ms * self.rate_hz / 1000.0)))
            self._hear(bytes(2 * round(gap_ms * self.listener.rate_hz / 1000.0)))
            self._arm_endpoint_timer()
        self._media_watch = self._loop.call_later(MEDIA_FRAME_MS / 1000.0, self._watch_media)

    def mark_echoed(self, name: str) -> None:
        self.outbound.mark_echoed(name)

    def _arm_endpoint_timer(self) -> None:
        deadline = self.listener.deadline_ms
        if deadline is None or self._endpoint_timer is not None:
            return
        delay_s = max(0.0, deadline - self.listener.now_ms) / 1000.0 + ENDPOINT_FALLBACK_S
        self._endpoint_timer = self._loop.call_later(delay_s, self._endpoint_timer_fired)

    def _endpoint_timer_fired(self) -> None:
        self._endpoint_timer = None
        if self._closing:
            return
        self._poll_endpoint()
        self._arm_endpoint_timer()

    def _hear(self, pcm16: bytes) -> None:
        outputs = self.listener.push(pcm16)
        if self._streamer is not None:
            self._streamer.sync()  # before the outputs: a pause's hypothesis covers all audio up to it
        self._handle(outputs)

    def _poll_endpoint(self) -> None:
        # Audio time stands still while no audio arrives; extend it by the wall time since the last chunk.
        now_ms = self.listener.now_ms + max(0.0, self.clock.now_ms() - self._fed_until_ms)
        self._handle(self.listener.poll(now_ms))

    def _handle(self, outputs: list[ListenerOutput]) -> None:
        for out in outputs:
            if self.voice is not None:
                self.voice.listener_output(out)
            if isinstance(out, CallerSpeechStarted):
                self._report_progress()
                self.session.feed(io.SpeechStarted())
            elif isinstance(out, BargeInConfirmed):
                self._barge_in()
            elif isinstance(out, CallerSpeechStopped):
                self.session.feed(io.SpeechStopped())
                if self._decode_at_pause() and self._stt_job(out.utterance, out.version) is not None:
                    self.listener.transcript_pending(out.version)
            elif isinstance(out, CallerTurnEnded):
                # taken now: audio arriving before the task runs may already open the next utterance
                stream = self._streamer.take(out.utterance) if self._streamer is not None else None
                self.supervisor.spawn(self._end_turn(out, stream), f"turn end {out.version}")

    def _decode_at_pause(self) -> bool:
        """A pause's words are worth knowing early (they tune the end of turn and may start the model), but
        a whole decode of them is superseded if the caller goes on. When every recogniser worker is busy,
        decode only at the end of the turn: early decodes queued behind others would push the turns that
        need an answer past the queue deadline. A streamed utterance's words cost nothing to ask for."""
        if self._streamer is not None and self._streamer.streaming:
            return True
        return not bool(getattr(self.stt, "saturated", False))

    def _barge_in(self) -> None:
        """Stop the agent within this frame, tell the engine what was heard, then that the caller speaks."""
        playing = self.outbound.playing()
        if playing is not None:
            heard = self.outbound.stop(playing.turn_id)
            self._audio_stopped(playing.turn_id)
            if heard is not None and playing.turn_id > 0:
                self.session.feed(io.PlaybackProgress(turn_id=playing.turn_id, heard_chars=heard))
        self.session.feed(io.SpeechStarted())

    def _report_progress(self) -> None:
        playing = self.outbound.playing()
        if playing is not None and playing.turn_id > 0 and playing.started:
            heard = playing.heard_chars(self.clock.now_ms())
            self.session.feed(io.PlaybackProgress(turn_id=playing.turn_id, heard_chars=heard))

    # ---- speech recognition ----

    def _stt_job(self, utterance: bytes, version: int) -> asyncio.Task[Transcription | None] | None:
        for old in [v for v in self._stt_jobs if v < version - 1]:
            self._stt_jobs.pop(old)
        task = self.supervisor.spawn(self._transcribe(utterance, version), f"speech recognition {version}")
        if task is not None:
            self._stt_jobs[version] = task
        return task

    async def _transcribe(self, utterance: bytes, version: int) -> Transcription | None:
        try:
            streamed = await self._streamer.hypothesis() if self._streamer is not None else None
            result = streamed or await self.stt.transcribe(utterance, self.listener.rate_hz)
        except (SpeechError, ProviderError) as exc:
            log.warning("call %s: speech recognition failed: %s", self.call_id, exc)
            if not self._closing:
                self.listener.transcript("", version)  # no words are coming: stop holding the pause
            return None
        if not self._closing:
            settled = streamed is None
            self.listener.transcript(result.text, version, result.alternatives, settled=settled)
            self._poll_endpoint()  # a transcript that sounds finished may end the turn sooner
            if not settled and result.text.strip():
                self._settle(utterance, version)
            if self.listener.utterance_open and version == self.listener.version and result.text.strip():
                # the pause goes on: the engine may start the model on these words (preemptive generation)
                self.session.feed(io.Transcript(text=result.text, final=False, confidence=result.confidence))
        return result

    def _settle(self, utterance: bytes, version: int) -> None:
        """A streamed pause's words, decoded whole with their other readings, to judge the pause by: the
        stream's running hypothesis may only hold it (see Endpointer.transcript). Skipped when every
        recogniser worker is busy: the pause then lasts the neutral silence."""
        if not getattr(self.stt, "saturated", False):
            self.supervisor.spawn(self._settled_words(utterance, version), f"settle pause {version}")

    async def _settled_words(self, utterance: bytes, version: int) -> None:
        try:
            result = await self.stt.transcribe(utterance, self.listener.rate_hz)
        except (SpeechError, ProviderError) as exc:
            log.info("call %s: a pause's whole decode failed (the pause keeps its default): %s",
                     self.call_id, exc)  # fmt: skip
            return
        if self._closing or version != self.listener.version or not self.listener.utterance_open:
            return  # the caller went on, or the turn already ended: these words judge nothing now
        log.debug("call %s: pause %d settled by a whole decode: %r, %d other reading(s)", self.call_id,
                  version, result.text, len(result.alternatives))  # fmt: skip
        self.listener.transcript(result.text, version, result.alternatives)
        self._poll_endpoint()

    async def _end_turn(self, ended: CallerTurnEnded, stream: SpeechStream | None) -> None:
        ended_ms = self.clock.now_ms()
        self._timing.turn_ended(max(0, round(ended_ms - self._start_ms)))
        job: asyncio.Task[Transcription | None] | None
        if stream is not None:
            job = self.supervisor.spawn(
                self._finish_stream(stream, ended.utterance), f"final {ended.version}"
            )
        else:
            job = self._stt_jobs.get(ended.version) or self._stt_job(ended.utterance, ended.version)
        async with self._turn_order:
            if job is None:
                return  # closing
            try:
                result = await job
            finally:
                self._stt_jobs.pop(ended.version, None)
            if self._closing:
                return
            transcript_ms = self.clock.now_ms()
            stt_wait_ms = transcript_ms - ended_ms
            self.metrics.stt_ms.observe(stt_wait_ms)
            self._report_progress()
            text = result.text if result is not None else ""
            confidence = result.confidence if result else 0.0
            unrecognised = result is None  # recognition failed: the agent asks the caller again
            self.session.feed(
                io.Transcript(
                    text=text,
                    final=True,
                    confidence=confidence,
                    unrecognised=unrecognised,
                    audio_ms=result.audio_ms if result else 0.0,
                )
            )
            if text.strip():
                self._awaiting_audio = (self.engine.turns_started, transcript_ms, stt_wait_ms)

    async def _finish_stream(self, stream: SpeechStream, utterance: bytes) -> Transcription | None:
        """The streamed utterance's final transcript; a broken stream's utterance is decoded whole."""
        try:
            return await stream.finish()
        except SpeechError as exc:
            log.warning(
                "call %s: streaming recognition broke at the end, decoding whole: %s", self.call_id, exc
            )
        try:
            return await self.stt.transcribe(utterance, self.listener.rate_hz)
        except (SpeechError, ProviderError) as exc:
            log.warning("call %s: speech recognition failed: %s", self.call_id, exc)
            return None

    # ---- the engine's side ----

    def _on_event(self, event: ev.Event) -> None:
        """Events are records: write them, measure them, show them to the far end."""
        self.recording.write(event)
        self.metrics.observe_event(event)
        self.transport.notify({"type": "event", "event": event.model_dump(mode="json")})
        stages = self._timing.observe(event)
        if stages is not None:  # recorded outside the engine's dispatch of this event
            self._loop.call_soon(self._record_latency, stages)

    def _record_latency(self, stages: dict[str, object]) -> None:
        if not self._closing:
            self.record(ev.TurnLatency, **stages)

    def _on_action(self, action: CallAction) -> None:
        if isinstance(action, io.Speak):
            self.listener.agent_started(self.listener.now_ms)
            self.outbound.speak(action.turn_id, action.text)
        elif isinstance(action, io.FinishSpeaking):
            self.outbound.text_final(action.turn_id, action.text)
        elif isinstance(action, io.StopSpeaking):
            self.outbound.stop(action.turn_id)
            self._audio_stopped(action.turn_id)
        elif isinstance(action, io.OpenTurn):
            self._engine_turn_open = True
            self.listener.agent_started(self.listener.now_ms)
            if self.voice is not None:
                self.voice.open_turn(action)
        elif isinstance(action, io.CloseTurn):
            self._engine_turn_open = False
            self._loop.call_soon(self._maybe_idle)
            if self.voice is not None:
                self.voice.close_turn(action)

    def _before_action(self, action: io.Action) -> None:
        """A generation starts: the voiced stretch of the turn (if any) ends here, whoever speaks next."""
        if isinstance(action, io.StartGeneration):
            self.outbound.end_voice(action.turn_id)
            if self.voice is not None:
                self.voice.generation_started(action)

    def _audio_stopped(self, turn_id: int) -> None:
        if turn_id in self._audible_turns:
            self._audible_turns.discard(turn_id)
            self.record(ev.AgentAudioStopped, turn_id=turn_id)

    def _agent_audio_started(self, turn_id: int) -> None:
        self._audible_turns.add(turn_id)
        self.record(ev.AgentAudioStarted, turn_id=turn_id)
        waiting = self._awaiting_audio
        if waiting is not None and waiting[0] == turn_id:
            self._awaiting_audio = None
            response_ms = self.clock.now_ms() - waiting[1]
            self.metrics.response_overhead_ms.observe(response_ms)
            self.transport.notify({"type": "latency", "turn_id": turn_id, "stt_wait_ms": round(waiting[2], 1),
                                   "response_ms": round(response_ms, 1)})  # fmt: skip

    def _agent_audio_played_soon(self, turn_id: int) -> None:
        self._loop.call_soon(self._agent_audio_played, turn_id)  # outside whatever dispatch reported it

    def _agent_audio_played(self, turn_id: int) -> None:
        if self._closing:
            return
        self._audio_stopped(turn_id)
        self.session.feed(io.PlaybackFinished(turn_id=turn_id))  # turn 0: speech between turns heard
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._closing or self._engine_turn_open or self.outbound.playing() is not None:
            return
        self._handle(self.listener.agent_stopped(self.listener.now_ms))

    def _frame_sent(self, pcm16: bytes, sent_ms: float, lateness_ms: float) -> None:
        self.metrics.frame_sent(lateness_ms)
        track = self.recording.agent_track
        if track is not None:
            track.pad_to(round((sent_ms - self._start_ms) * self.rate_hz / 1000.0))
            track.append(pcm16)

    def record(self, cls: type[ev._Event], **fields: object) -> None:
        """Stamp an event observed here on the engine's timeline and deliver it like the engine's own."""
        self.session.record(cls, **fields)
