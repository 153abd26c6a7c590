"""Plays one caller script through the real engine on a virtual clock and collects what happened.

The caller side (speech timing, noisy transcripts, barge-ins) and the world (simulated models, real tools
with injected faults, speech playback at a speaking rate) are scheduled on a `VirtualLoop`; the engine is the
same object a live call runs. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial

from sim.asr_noise import add_asr_noise, word_errors
from sim.cassette import Cassette
from sim.faults import Faults
from sim.loop import Handle, VirtualLoop
from sim.models import ModelSimulator, Timeline, sample_lognormal_ms
from sim.script import CallScript, UserTurn
from sim.stages import TTS_START_MS, caller_stages
from voicerouter import events as ev
from voicerouter.agent import AgentSpec
from voicerouter.config import VoicerouterConfig
from voicerouter.engine import io
from voicerouter.providers.base import ChatMessage
from voicerouter.providers.offline.model import OfflineAgentModel
from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.health import HealthBoard
from voicerouter.toolkit import ToolOutcome
from voicerouter.wiring import build_call

SPEECH_CHARS_PER_S = 15.0  # about 170 words a minute
TOOL_LATENCY_MS = (60.0, 250.0)  # p50, p95 of a bundled tool behind a real service
HANGUP_AFTER_MS = 800.0
MAX_CALL_MS = 3_600_000.0
DEFAULT_BARGE_FRACTION = 0.4


@dataclass
class CallResult:
    call_id: str
    agent: str
    source: str
    events: list[ev.Event] = field(default_factory=list)
    mistakes: dict[int, list[str]] = field(default_factory=dict)  # user turn -> injected model mistakes
    word_errors: int = 0
    reference_words: int = 0
    transcripts: dict[int, tuple[str, str]] = field(default_factory=dict)  # turn -> (clean, heard)
    faults_fired: list[str] = field(default_factory=list)  # "turn 2: provider claude-opus server_error"
    cassette_hits: int = 0
    cassette_misses: list[str] = field(default_factory=list)  # "turn 2: claude-opus" for each miss
    # turn -> call time (ms) the caller stopped speaking, the agent's first audio, its answer's first audio
    speech_end_ms: dict[int, float] = field(default_factory=dict)
    first_audio_ms: dict[int, float] = field(default_factory=dict)
    first_answer_audio_ms: dict[int, float] = field(default_factory=dict)
    error: str | None = None


@dataclass
class _Playback:
    turn_id: int
    start_ms: float
    end_ms: float
    chars: int = 0
    finished: Handle | None = None
    final: bool = False


class SimulatedCall:
    def __init__(
        self,
        script: CallScript,
        *,
        agent: AgentSpec,
        config: VoicerouterConfig,
        classifier: TriageClassifier,
        seed: int,
        faults: Faults,
        offline: OfflineAgentModel | None = None,
        cassette: Cassette | None = None,
        stt_streaming: bool = False,
    ) -> None:
        self.script = script
        self.stt_streaming = stt_streaming
        self.cassette = cassette
        self.config = config
        self.faults = script.faults.merged(faults)
        self.rng = random.Random(f"{seed}:{script.call_id}")
        self.loop = VirtualLoop()
        self.engine, self.tools = build_call(
            agent,
            config,
            classifier=classifier,
            health=HealthBoard(config.health),  # each call its own: results do not depend on call order
            clock=self.loop.clock,
            call_id=script.call_id,
            transport="sim",
            caller=script.caller,
            instant_playback=False,
        )
        self.models = ModelSimulator(agent, self.rng, offline=offline)
        self.result = CallResult(call_id=script.call_id, agent=agent.name, source=script.source)
        self._gen_handles: dict[int, list[Handle]] = {}
        self._tool_handles: dict[str, Handle] = {}
        self._timer: Handle | None = None
        self._playback: _Playback | None = None
        self._next_user_turn = 0  # index into script.turns of the next turn to speak
        self._barge_handle: Handle | None = None
        self._speaking_user = False
        self._spoken = script.spoken_turns()
        self._spoken_count = 0  # the caller's turns spoken so far: the number of the call's last turn
        self._greeting_heard = False
        self.conversation: tuple[ChatMessage, ...] = ()  # as the engine last closed a turn on it

    # ---- driving ----

    def run(self) -> CallResult:
        self.engine.start()
        self._pump()
        if self._playback is None:
            self._schedule_next_user_turn(0.0)
        self.loop.run(until_ms=MAX_CALL_MS)
        if not self.engine.ended:
            self.engine.end("simulation time limit")
            self._pump()
        return self.result

    def _feed(self, item: io.Input) -> None:
        if self.engine.ended:
            return
        self.engine.receive(item)
        self._pump()

    def _pump(self) -> None:
        self.result.events.extend(self.engine.events_emitted())
        for action in self.engine.actions_to_send():
            self._execute(action)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline_ms()
        if deadline is not None and not self.engine.ended:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.engine.check_timers()
        self._pump()

    # ---- the world answering the engine's actions ----

    def _execute(self, action: io.Action) -> None:
        now = self.loop.now_ms()
        if isinstance(action, io.StartGeneration):
            entry = self.config.models[action.model]
            turn = action.turn_id  # the caller's turn it answers (ahead of the engine's, when preemptive)
            spoken = self._spoken
            label = spoken[turn - 1].label if 0 < turn <= len(spoken) else None
            recorded = self.cassette.find(action.model, action.request) if self.cassette else None
            if recorded is not None:  # the real model's answer, at its real pace
                self.result.cassette_hits += 1
                timeline = Timeline(steps=Cassette.timeline(recorded, action.gen_id))
            else:
                if self.cassette is not None:
                    self.result.cassette_misses.append(f"turn {turn}: {action.model}")
                timeline = self.models.plan(
                    action,
                    entry,
                    user_turn=turn,
                    faults=self.faults.providers,
                    turn_tier=label.tier if label is not None else None,
                )
            if timeline.mistakes:
                self.result.mistakes.setdefault(turn, []).extend(timeline.mistakes)
            self.result.faults_fired.extend(f"turn {turn}: {fault}" for fault in timeline.faults)
            self._gen_handles[action.gen_id] = [
                self.loop.call_at(now + offset, partial(self._feed, item)) for offset, item in timeline.steps
            ]
        elif isinstance(action, io.CancelGeneration):
            for handle in self._gen_handles.pop(action.gen_id, []):
                handle.cancel()
        elif isinstance(action, io.RunTool):
            self._run_tool(action, now)
        elif isinstance(action, io.CancelTool):
            tool_handle = self._tool_handles.pop(action.call_key, None)
            if tool_handle is not None:
                tool_handle.cancel()
        elif isinstance(action, io.Speak):
            self._speak(action, now)
        elif isinstance(action, io.StopSpeaking):
            playback = self._playback
            if playback is not None and playback.turn_id == action.turn_id and playback.finished is not None:
                playback.finished.cancel()
            self._playback = None
        elif isinstance(action, io.FinishSpeaking):
            if action.turn_id > 0:
                self._answer_final(action.turn_id)
            elif self._playback is not None and self._playback.turn_id == 0:  # between turns: tell when heard
                self._playback.finished = self.loop.call_at(
                    self._playback.end_ms, lambda: self._feed(io.PlaybackFinished(turn_id=0))
                )
        elif isinstance(action, io.CloseTurn):
            self.conversation = action.history
            if not self._speaking_user:
                self._schedule_next_user_turn(0.0)

    def _run_tool(self, action: io.RunTool, now: float) -> None:
        latency = sample_lognormal_ms(self.rng, *TOOL_LATENCY_MS)
        outcome = self.tools.run(action.name, action.args)
        turn = self.engine.turns_started
        for fault in self.faults.tools:
            if not fault.matches(action.name, turn) or self.rng.random() >= fault.probability:
                continue
            kind = "timeout" if fault.timeout else "error" if fault.error else "latency"
            self.result.faults_fired.append(f"turn {turn}: tool {action.name} {kind}")
            latency += fault.extra_latency_ms
            if fault.timeout:
                return  # never answers: the engine's tool deadline must act
            if fault.error:
                outcome = ToolOutcome(ok=False, error=fault.error)
        self._tool_handles[action.call_key] = self.loop.call_at(
            now + latency, lambda: self._feed(io.ToolFinished(call_key=action.call_key, outcome=outcome))
        )

    def _speak(self, action: io.Speak, now: float) -> None:
        playback = self._playback
        audible_ms = now + TTS_START_MS  # synthesis of this text yields its first audio
        if playback is None or playback.turn_id != action.turn_id:
            playback = _Playback(turn_id=action.turn_id, start_ms=audible_ms, end_ms=audible_ms)
            self._playback = playback
        starts_ms = max(playback.end_ms, audible_ms)  # queued behind what is still playing
        if action.turn_id > 0:
            self.result.first_audio_ms.setdefault(action.turn_id, starts_ms)
            if not action.acknowledgement:
                self.result.first_answer_audio_ms.setdefault(action.turn_id, starts_ms)
        playback.end_ms = starts_ms + len(action.text) / SPEECH_CHARS_PER_S * 1000
        playback.chars += len(action.text)
        if action.turn_id == 0 and not self._greeting_heard:  # the caller answers after the greeting
            self._greeting_heard = True
            self._schedule_next_user_turn(playback.end_ms - now)

    def _played_chars(self, playback: _Playback, at_ms: float) -> int:
        played_ms = max(0.0, at_ms - playback.start_ms)
        return min(playback.chars, int(played_ms / 1000 * SPEECH_CHARS_PER_S))

    # ---- the caller ----

    def _answer_final(self, turn_id: int) -> None:
        now = self.loop.now_ms()
        playback = self._playback
        if playback is None or playback.turn_id != turn_id:
            playback = _Playback(turn_id=turn_id, start_ms=now, end_ms=now)
            self._playback = playback
        playback.final = True
        barge_at = self._barge_in_time(turn_id, playback)
        if barge_at is not None and barge_at < playback.end_ms:
            self._barge_handle = self.loop.call_at(max(now, barge_at), lambda: self._barge_in(turn_id))
            return
        playback.finished = self.loop.call_at(
            playback.end_ms, lambda: self._feed(io.PlaybackFinished(turn_id=turn_id))
        )

    def _barge_in_time(self, turn_id: int, playback: _Playback) -> float | None:
        """When the caller talks over answer `turn_id`, if the script or the faults say so."""
        if self._next_user_turn >= len(self.script.turns):
            return None
        upcoming = self.script.turns[self._next_user_turn]
        duration = playback.end_ms - playback.start_ms
        if upcoming.barge_in_at_ms is not None:
            return playback.start_ms + upcoming.barge_in_at_ms
        for interruption in self.faults.interruptions:
            if interruption.turn == turn_id:
                if interruption.at_ms is not None:
                    return playback.start_ms + interruption.at_ms
                fraction = interruption.at_fraction or DEFAULT_BARGE_FRACTION
                return playback.start_ms + fraction * duration
        if self.faults.interrupt_fraction is not None:
            return playback.start_ms + self.faults.interrupt_fraction * duration
        return None

    def _barge_in(self, turn_id: int) -> None:
        playback = self._playback
        if playback is not None and playback.turn_id == turn_id:
            heard = self._played_chars(playback, self.loop.now_ms())
            self._feed(io.PlaybackProgress(turn_id=turn_id, heard_chars=heard))
        self._speak_user_turn()

    def _schedule_next_user_turn(self, after_ms: float) -> None:
        if self._next_user_turn >= len(self.script.turns):
            self.loop.call_later(after_ms + HANGUP_AFTER_MS, self._hang_up)
            return
        turn = self.script.turns[self._next_user_turn]
        self.loop.call_later(after_ms + turn.gap_ms, self._speak_user_turn)

    def _speak_user_turn(self) -> None:
        if self._speaking_user or self._next_user_turn >= len(self.script.turns) or self.engine.ended:
            return
        index = self._next_user_turn
        turn: UserTurn = self.script.turns[index]
        if turn.silent:  # says nothing; then goes on with the next turn (if the call is still on)
            self._next_user_turn = index + 1
            self.loop.call_later(turn.duration_ms(), self._after_silence)
            return
        self._speaking_user = True
        self._feed(io.SpeechStarted())
        self.loop.call_later(turn.duration_ms(), lambda: self._finish_user_turn(index, turn))

    def _finish_user_turn(self, index: int, turn: UserTurn) -> None:
        heard = add_asr_noise(turn.text, self.faults.wer, self.rng)
        errors, words = word_errors(turn.text, heard)
        self.result.word_errors += errors
        self.result.reference_words += words
        self._spoken_count += 1
        self.result.transcripts[self._spoken_count] = (turn.text, heard)
        self._next_user_turn = index + 1
        self._speaking_user = False
        self.result.speech_end_ms[index + 1] = self.loop.now_ms()
        text = heard or turn.text
        stages = caller_stages(
            text, self.config.audio, speech_ms=turn.duration_ms(), streaming=self.stt_streaming
        )
        final = io.Transcript(text=text, confidence=max(0.0, 1.0 - self.faults.wer))
        self.loop.call_later(stages.vad_stop_ms, lambda: self._feed(io.SpeechStopped()))
        if stages.hypothesis_ms < stages.transcript_ms:  # the words are known before the turn is over
            partial = io.Transcript(text=text, final=False, confidence=final.confidence)
            self.loop.call_later(stages.hypothesis_ms, lambda: self._feed(partial))
        self.loop.call_later(stages.transcript_ms, lambda: self._feed(final))

    def _after_silence(self) -> None:
        if self._next_user_turn >= len(self.script.turns):
            self.loop.call_later(HANGUP_AFTER_MS, self._hang_up)
        else:
            self._speak_user_turn()

    def _hang_up(self) -> None:
        if not self.engine.ended:
            self._feed(io.HangUp("caller hung up"))
