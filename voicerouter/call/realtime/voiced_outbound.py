"""Outbound audio that can also carry a voice generated elsewhere (the Realtime speech tier), not only TTS.

A voiced stretch of a turn is one `Sentence` whose text grows with the engine's `Speak` actions and whose
audio arrives ready-made, so pacing, marks, "what was heard" and barge-in work exactly as for synthesised
speech. It never synthesises a voiced sentence and never decides when a voice starts or stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicerouter.audio.pcm import FrameBuffer
from voicerouter.audio.playback import Sentence, TurnPlayback
from voicerouter.call.outbound import OutboundAudio, _Mark

VoiceStopped = Callable[[int, dict[int, float]], None]
"""(turn_id, {voice key: ms of that voice the caller heard}) when a voiced turn is cut off."""


@dataclass
class _Voice:
    key: int
    framer: FrameBuffer
    sentence: Sentence | None = None
    audio_done: bool = False


@dataclass
class _VoicedTurn:
    voices: list[_Voice] = field(default_factory=list)
    speaking: _Voice | None = None  # the voice whose text the turn's Speak actions extend


class VoicedOutbound(OutboundAudio):
    """`OutboundAudio` plus `begin_voice` / `push_voice` / `end_voice_audio` / `end_voice` for one turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_voice_stopped: VoiceStopped | None = None
        self._voiced: dict[int, _VoicedTurn] = {}

    # ---- voice lifecycle (from the Realtime runtime) ----

    def begin_voice(self, turn_id: int, key: int) -> None:
        """From now on this turn's `Speak` texts are what voice `key` says, and its audio comes ready-made."""
        for old in [t for t in self._voiced if t != turn_id and t not in self.turns]:
            del self._voiced[old]
        voiced = self._voiced.setdefault(turn_id, _VoicedTurn())
        voice = _Voice(key=key, framer=FrameBuffer(self._frame_bytes))
        voiced.voices.append(voice)
        voiced.speaking = voice

    def push_voice(self, turn_id: int, key: int, pcm16: bytes) -> None:
        """Audio of voice `key` at the call's rate; dropped once the turn was stopped."""
        voice = self._voice(turn_id, key)
        if voice is None or voice.audio_done or not pcm16:
            return
        turn = self._live_turn(turn_id)
        if turn is None:
            return
        sentence = self._sentence(turn, voice)
        self._enqueue(turn, sentence, voice.framer.push(pcm16))

    def end_voice_audio(self, turn_id: int, key: int, tail: bytes = b"") -> None:
        """Voice `key` sent all its audio (`tail` is the decoder's last bit): the sentence can play out."""
        voice = self._voice(turn_id, key)
        if voice is None or voice.audio_done:
            return
        voice.audio_done = True
        turn = self._live_turn(turn_id)
        if turn is None or (voice.sentence is None and not tail):
            return
        sentence = self._sentence(turn, voice)
        frames = voice.framer.push(tail) if tail else []
        last = voice.framer.flush(pad=True)
        self._enqueue(turn, sentence, [*frames, *([last] if last else [])])
        sentence.synthesized = True
        if self.marks and sentence.queued_samples:
            self._queue.append(_Mark(turn, sentence.index))
            self._queue_ready.set()
        self._poke(turn)

    def end_voice(self, turn_id: int) -> None:
        """Later `Speak` texts of this turn are synthesised again (another model took over)."""
        voiced = self._voiced.get(turn_id)
        if voiced is not None:
            voiced.speaking = None

    # ---- overrides ----

    def speak(self, turn_id: int, text: str) -> None:
        voiced = self._voiced.get(turn_id)
        voice = voiced.speaking if voiced is not None else None
        if voice is None:
            super().speak(turn_id, text)
            return
        turn = self._live_turn(turn_id)
        if turn is None:
            return
        if voice.sentence is None:
            voice.sentence = turn.add_sentence(text)
            voice.sentence.synthesized = voice.audio_done
        else:
            voice.sentence.text += text  # it is the turn's last sentence while its voice speaks
        self._poke(turn)

    def stop(self, turn_id: int, *, clear: bool = True) -> int | None:
        voiced = self._voiced.pop(turn_id, None)
        turn = self.turns.get(turn_id)
        if voiced is not None and turn is not None and not (turn.stopped or turn.finished):
            if self.on_voice_stopped is not None:
                self.on_voice_stopped(turn_id, self._voice_heard_ms(turn, voiced))
        return super().stop(turn_id, clear=clear)

    # ---- internals ----

    def _voice(self, turn_id: int, key: int) -> _Voice | None:
        voiced = self._voiced.get(turn_id)
        if voiced is None:
            return None
        return next((v for v in voiced.voices if v.key == key), None)

    def _live_turn(self, turn_id: int) -> TurnPlayback | None:
        """The turn's playback, created on first use; None once it stopped (it must not start again)."""
        if turn_id not in self._voiced:
            return None
        turn = self._turn(turn_id)
        return None if turn.stopped or turn.finished else turn

    @staticmethod
    def _sentence(turn: TurnPlayback, voice: _Voice) -> Sentence:
        if voice.sentence is None:
            voice.sentence = turn.add_sentence("")  # audio ahead of its transcript: the text follows
        return voice.sentence

    def _voice_heard_ms(self, turn: TurnPlayback, voiced: _VoicedTurn) -> dict[int, float]:
        """Per voice of the turn, the ms of its audio played by now (what a truncate must keep)."""
        played = turn.tracker.played_samples(self.clock.now_ms())
        heard: dict[int, float] = {}
        for voice in voiced.voices:
            sentence = voice.sentence
            if sentence is None or sentence.audio_start_samples is None:
                continue
            within = min(max(0, played - sentence.audio_start_samples), sentence.queued_samples)
            heard[voice.key] = within * 1000.0 / self.rate_hz
        return heard
