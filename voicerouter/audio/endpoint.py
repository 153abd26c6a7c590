"""End-of-turn detection: ends the caller's turn after enough silence, judged by what the transcript says.

Sans-I/O: speech and transcript updates go in with their times, `poll(now_ms)` answers; never reads a clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from voicerouter.audio.settings import EndpointConfig
from voicerouter.audio.turn_cues import CueKind, TurnCue, classify_turn_text
from voicerouter.audio.vad import SpeechStarted, SpeechStopped, VadItem

EndpointState = Literal["idle", "speaking", "paused", "ended"]

__all__ = ["EndpointConfig", "EndpointDecision", "EndpointState", "Endpointer"]


class EndpointDecision(BaseModel):
    """The caller's turn is over: when, after how much silence, and why that much was enough."""

    model_config = ConfigDict(frozen=True)

    t_ms: float
    turn_started_ms: float | None
    speech_stopped_ms: float
    silence_ms: float
    required_silence_ms: int
    cue: CueKind
    reason: str
    text: str


class Endpointer:
    """One caller's turn boundary, fed by VAD decisions and transcripts.

    The required silence is recomputed from the latest transcript at every poll, so a final transcript
    that arrives during the pause ("... thanks") can end the turn sooner, and one that ends in "and" later.
    The engine schedules its next `poll` at `deadline_ms`.
    """

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._state: EndpointState = "idle"
        self._final_parts: list[str] = []
        self._partial = ""
        self._readings: tuple[str, ...] = ()  # the recogniser's other readings of the newest words
        self._settled = True  # the newest words come from a whole search, not a stream's running partial
        self._stopped_ms: float | None = None
        self._turn_started_ms: float | None = None
        self._hypothesis_pending = False

    @property
    def state(self) -> EndpointState:
        return self._state

    @property
    def text(self) -> str:
        """The turn's transcript so far: the final segments, then the newest partial."""
        return " ".join(part for part in (*self._final_parts, self._partial) if part)

    def speech_started(self, t_ms: float) -> None:
        if self._state == "ended":
            self._new_turn()
        if self._turn_started_ms is None:
            self._turn_started_ms = t_ms
        self._state = "speaking"
        self._stopped_ms = None
        self._hypothesis_pending = False

    def speech_stopped(self, t_ms: float) -> None:
        if self._state in ("idle", "speaking"):
            self._state = "paused"
            self._stopped_ms = t_ms

    def hypothesis_pending(self) -> None:
        """The recogniser is decoding the words up to this pause: until they come (or the hold runs out)
        the pause is held, since the turn cannot be answered before its words are known anyway, and they
        may end in "for" or in digits being read out."""
        if self._state == "paused" and self.config.hold_for_words:
            self._hypothesis_pending = True

    def transcript(
        self, text: str, final: bool, alternatives: tuple[str, ...] = (), *, settled: bool = True
    ) -> None:
        """A partial replaces the previous partial; a final closes that segment and is kept.

        `alternatives` are other readings of the same words the recogniser weighed (its N-best list): when
        the best sounds finished and one of them does not, the pause is in doubt (`doubt_silence_ms`).
        `settled=False` marks a streaming recogniser's running hypothesis: it has no other readings and its
        last words are the least certain, so it may hold a pause but never shortens one on its own; the
        pause lasts the neutral silence until settled words (a whole decode) say it is finished."""
        self._hypothesis_pending = False
        if self._state == "ended":
            return
        self._readings = tuple(a.strip() for a in alternatives if a.strip())
        self._settled = settled or final
        if final:
            if text.strip():
                self._final_parts.append(text.strip())
            self._partial = ""
        else:
            self._partial = text.strip()

    def feed(self, item: VadItem) -> None:
        """Take a VAD output directly; per-frame flags are ignored, only start and stop decisions count."""
        if isinstance(item, SpeechStarted):
            self.speech_started(item.t_ms)
        elif isinstance(item, SpeechStopped):
            self.speech_stopped(item.t_ms)

    def cue(self) -> TurnCue:
        best = classify_turn_text(self.text, self.config)
        if best.kind == "unfinished":
            return best
        doubt = self._doubt()
        return doubt if doubt is not None else best

    def _doubt(self) -> TurnCue | None:
        """The first other reading of the newest words that sounds unfinished, as an 'unfinished' cue."""
        earlier = " ".join(self._final_parts) if self._partial else " ".join(self._final_parts[:-1])
        for reading in self._readings:
            cue = classify_turn_text(f"{earlier} {reading}", self.config)
            if cue.kind == "unfinished":
                return TurnCue("unfinished", f"another reading '{reading}' has {cue.reason}", doubted=True)
        return None

    def required_silence_ms(self, cue: TurnCue | None = None) -> int:
        cue = cue or self.cue()
        if self._hypothesis_pending:
            return self.config.hold_silence_ms
        if cue.kind == "unfinished":
            return self.config.doubt_silence_ms if cue.doubted else self.config.hold_silence_ms
        if cue.kind == "complete" and self._settled:
            return self.config.complete_silence_ms
        return self.config.silence_ms

    @property
    def deadline_ms(self) -> float | None:
        """When the turn ends if nothing changes; None while the caller speaks or once the turn is over."""
        if self._state != "paused" or self._stopped_ms is None:
            return None
        return self._stopped_ms + self.required_silence_ms()

    def poll(self, now_ms: float) -> EndpointDecision | None:
        """The decision, once, when the silence since speech stopped reaches what the transcript requires."""
        if self._state != "paused" or self._stopped_ms is None:
            return None
        cue = self.cue()
        required_ms = self.required_silence_ms(cue)
        silence_ms = now_ms - self._stopped_ms
        if silence_ms < required_ms:
            return None
        self._state = "ended"
        label = {"unfinished": "held", "complete": "shortened", "neutral": "default"}[cue.kind]
        if cue.doubted:
            label = "held in doubt"
        if cue.kind == "complete" and not self._settled:
            label = "default until the words settle"
        if self._hypothesis_pending and cue.kind != "unfinished":
            label = "held for the words"
        return EndpointDecision(
            t_ms=now_ms,
            turn_started_ms=self._turn_started_ms,
            speech_stopped_ms=self._stopped_ms,
            silence_ms=silence_ms,
            required_silence_ms=required_ms,
            cue=cue.kind,
            reason=f"{silence_ms:.0f} ms silence >= {required_ms} ms ({label}: {cue.reason})",
            text=self.text,
        )

    def reset(self) -> None:
        """Start a fresh turn, e.g. after the engine cancelled the previous one."""
        self._state = "idle"
        self._new_turn()

    def _new_turn(self) -> None:
        self._final_parts = []
        self._partial = ""
        self._readings = ()
        self._settled = True
        self._stopped_ms = None
        self._hypothesis_pending = False
        self._turn_started_ms = None
