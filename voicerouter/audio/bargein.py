"""Barge-in detection: caller speech sustained over the agent's voice long enough to be an interruption.

Sans-I/O: agent playback and caller speech go in with their times; never reads a clock or stops audio itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from voicerouter.audio.playout import HeardText, PlayoutTracker, WordMark, heard_prefix
from voicerouter.audio.settings import BargeInConfig
from voicerouter.audio.vad import SpeechStarted, SpeechStopped, VadFrame, VadItem

__all__ = ["BargeIn", "BargeInDetector", "HeardText", "PlayoutTracker", "WordMark", "heard_prefix"]


class BargeIn(BaseModel):
    """A confirmed interruption: the caller started at `speech_started_ms`, it was certain at `confirmed_ms`
    after `speech_ms` of caller speech over the agent's voice.
    """

    model_config = ConfigDict(frozen=True)

    confirmed_ms: float
    speech_started_ms: float
    agent_started_ms: float
    speech_ms: float


class BargeInDetector:
    """Confirms at most one barge-in per agent utterance.

    Feed per-frame VAD flags for the most precise count (voiced time only, gaps up to `max_gap_ms` do not
    reset it); without frames, `speech_started` / `speech_stopped` events and `poll` give the same rule on
    an event stream such as a recorded call. Speech before the agent started counts from the agent's start.
    """

    def __init__(self, config: BargeInConfig | None = None) -> None:
        self.config = config or BargeInConfig()
        self._agent_started_ms: float | None = None
        self._agent_stopped_ms: float | None = None
        self._confirmed: BargeIn | None = None
        self._frames_seen = False
        self._run_start_ms: float | None = None
        self._run_voiced_ms = 0.0
        self._last_voiced_end_ms = 0.0
        self._event_run_open = False

    @property
    def agent_speaking(self) -> bool:
        return self._agent_started_ms is not None and self._agent_stopped_ms is None

    @property
    def confirmed(self) -> BargeIn | None:
        return self._confirmed

    def agent_started(self, t_ms: float) -> None:
        """A new agent utterance starts playing; any earlier confirmation belonged to the previous one."""
        self._agent_started_ms = t_ms
        self._agent_stopped_ms = None
        self._confirmed = None
        self._run_voiced_ms = 0.0  # only speech over this utterance counts

    def agent_stopped(self, t_ms: float) -> None:
        if self._agent_started_ms is not None and self._agent_stopped_ms is None:
            self._agent_stopped_ms = t_ms

    def frame(self, t_ms: float, duration_ms: float, speech: bool) -> BargeIn | None:
        """One VAD frame of caller audio; returns the barge-in on the frame that confirms it."""
        self._frames_seen = True
        end_ms = t_ms + duration_ms
        if speech:
            if self._run_start_ms is None or t_ms - self._last_voiced_end_ms > self.config.max_gap_ms:
                self._run_start_ms = t_ms
                self._run_voiced_ms = 0.0
            self._run_voiced_ms += self._overlap_with_agent(t_ms, end_ms)
            self._last_voiced_end_ms = end_ms
            if self._run_voiced_ms >= self.config.min_speech_ms:
                return self._confirm(end_ms, self._run_start_ms, self._run_voiced_ms)
        elif self._run_start_ms is not None and end_ms - self._last_voiced_end_ms > self.config.max_gap_ms:
            self._run_start_ms = None
            self._run_voiced_ms = 0.0
        return None

    def speech_started(self, t_ms: float) -> None:
        self._event_run_open = True
        self._run_start_ms = t_ms

    def speech_stopped(self, t_ms: float) -> BargeIn | None:
        """Closes the caller's utterance; it confirms a barge-in only if it lasted long enough."""
        result = self._check_event_run(t_ms)
        self._event_run_open = False
        self._run_start_ms = None
        return result

    def poll(self, now_ms: float) -> BargeIn | None:
        """Event mode: confirm once the open utterance has overlapped the agent for `min_speech_ms`."""
        return self._check_event_run(now_ms) if self._event_run_open else None

    def feed(self, item: VadItem) -> BargeIn | None:
        """Take VAD output directly: frames when they come, start/stop decisions only in their absence."""
        if isinstance(item, VadFrame):
            return self.frame(item.t_ms, item.duration_ms, item.speech)
        if self._frames_seen:
            return None
        if isinstance(item, SpeechStarted):
            self.speech_started(item.t_ms)
            return None
        if isinstance(item, SpeechStopped):
            return self.speech_stopped(item.t_ms)
        return None

    def _overlap_with_agent(self, start_ms: float, end_ms: float) -> float:
        if self._agent_started_ms is None:
            return 0.0
        stop_ms = self._agent_stopped_ms if self._agent_stopped_ms is not None else end_ms
        return max(0.0, min(end_ms, stop_ms) - max(start_ms, self._agent_started_ms))

    def _check_event_run(self, until_ms: float) -> BargeIn | None:
        if self._run_start_ms is None or self._agent_started_ms is None:
            return None
        overlap_start_ms = max(self._run_start_ms, self._agent_started_ms)
        confirm_ms = overlap_start_ms + self.config.min_speech_ms
        stop_ms = self._agent_stopped_ms
        if confirm_ms > until_ms or (stop_ms is not None and confirm_ms > stop_ms):
            return None
        return self._confirm(confirm_ms, self._run_start_ms, float(self.config.min_speech_ms))

    def _confirm(self, confirmed_ms: float, speech_started_ms: float, speech_ms: float) -> BargeIn | None:
        if self._confirmed is not None or self._agent_started_ms is None:
            return None
        self._confirmed = BargeIn(
            confirmed_ms=confirmed_ms,
            speech_started_ms=speech_started_ms,
            agent_started_ms=self._agent_started_ms,
            speech_ms=speech_ms,
        )
        return self._confirmed
