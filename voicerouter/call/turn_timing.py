"""Stage times of each live turn, gathered from the call's own events into one `turn.latency` record.

The caller's wait has stages (VAD stop, end of turn, final transcript, first token, first audio frame sent);
each is already an event or a moment the pipeline sees, and this collects them per turn. Sans-I/O: it is
told times and events and returns the fields of the record; it never reads a clock or emits anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicerouter import events as ev


@dataclass
class _Stages:
    vad_stop_at_ms: int | None = None
    end_of_turn_at_ms: int | None = None
    transcript_at_ms: int | None = None
    first_token_at_ms: int | None = None
    first_audio_at_ms: int | None = None


@dataclass
class TurnTiming:
    """Per call. `vad_hangover_ms` is how long after the last voiced frame the VAD says speech stopped."""

    vad_hangover_ms: int
    _pending: _Stages = field(default_factory=_Stages)  # the caller's turn not yet answered
    _turns: dict[int, _Stages] = field(default_factory=dict)

    def turn_ended(self, t_ms: int) -> None:
        """The endpointer ended the caller's turn at call time `t_ms` (ms since the call started)."""
        self._pending.end_of_turn_at_ms = t_ms

    def observe(self, event: ev.Event) -> dict[str, Any] | None:
        """Take one event of the call; at a turn's end, the fields of its `turn.latency` record."""
        if isinstance(event, ev.UserSpeechStopped):
            self._pending = _Stages(vad_stop_at_ms=event.t_ms)
        elif isinstance(event, ev.UserTranscript) and event.final:
            self._pending.transcript_at_ms = event.t_ms
        elif isinstance(event, ev.TurnStarted):
            self._turns[event.turn_id] = self._pending
            self._pending = _Stages()
        elif isinstance(event, ev.LlmFirstToken) and event.turn_id in self._turns:
            stages = self._turns[event.turn_id]
            stages.first_token_at_ms = stages.first_token_at_ms or event.t_ms
        elif isinstance(event, ev.AgentAudioStarted) and event.turn_id in self._turns:
            stages = self._turns[event.turn_id]
            stages.first_audio_at_ms = stages.first_audio_at_ms or event.t_ms
        elif isinstance(event, ev.TurnCompleted) and event.turn_id in self._turns:
            return self._fields(event.turn_id, self._turns.pop(event.turn_id))
        return None

    def _fields(self, turn_id: int, stages: _Stages) -> dict[str, Any]:
        end_of_speech = (
            stages.vad_stop_at_ms - self.vad_hangover_ms if stages.vad_stop_at_ms is not None else None
        )
        first_audio_ms = (
            stages.first_audio_at_ms - end_of_speech
            if stages.first_audio_at_ms is not None and end_of_speech is not None
            else None
        )
        return {
            "turn_id": turn_id,
            "vad_stop_at_ms": stages.vad_stop_at_ms,
            "end_of_turn_at_ms": stages.end_of_turn_at_ms,
            "transcript_at_ms": stages.transcript_at_ms,
            "first_token_at_ms": stages.first_token_at_ms,
            "first_audio_at_ms": stages.first_audio_at_ms,
            "first_audio_ms": first_audio_ms,
        }
