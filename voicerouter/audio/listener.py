"""The caller's side of an audio call, sans-I/O: PCM16 in, speech / barge-in / end-of-turn decisions out.

Joins VAD, end-of-turn detection and barge-in confirmation, and keeps the audio of the utterance in progress
(with pre-roll) for the recogniser. Times are audio time (ms of samples received since the call started);
it never reads a clock, never awaits and never talks to the engine itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicerouter.audio.bargein import BargeInDetector
from voicerouter.audio.endpoint import EndpointDecision, Endpointer
from voicerouter.audio.settings import AudioConfig
from voicerouter.audio.vad import VAD_RATES_HZ, SpeechStarted, SpeechStopped, VadFrame, VoiceActivityDetector

ANALYSIS_RATE_HZ = 16_000  # the listening rate for transports faster than this (WebRTC's 48 kHz)
PREROLL_MS = 300  # audio kept before the first voiced frame: VAD onsets are late and recognisers want lead-in
MAX_UTTERANCE_MS = 30_000  # a caller who never pauses still gets an answer
_IDLE_KEEP_MS = 1_500  # audio kept while nobody speaks: pre-roll plus the barge-in confirmation window


def listening_rate_hz(transport_rate_hz: int) -> int:
    """The rate a call's listener runs at: the transport's own when webrtcvad takes it and it is no faster
    than `ANALYSIS_RATE_HZ` (8 kHz telephony needs no per-frame resampling), else `ANALYSIS_RATE_HZ`.
    Recognisers take any rate (they resample the finished utterance once, off the event loop)."""
    if transport_rate_hz in VAD_RATES_HZ and transport_rate_hz <= ANALYSIS_RATE_HZ:
        return transport_rate_hz
    return ANALYSIS_RATE_HZ


@dataclass(frozen=True, slots=True)
class CallerSpeechStarted:
    """The caller began an utterance that counts (outside agent speech, or a confirmed barge-in)."""

    t_ms: float


@dataclass(frozen=True, slots=True)
class BargeInConfirmed:
    """Caller speech over the agent lasted long enough: stop the agent now, then report the speech."""

    t_ms: float
    speech_started_ms: float


@dataclass(frozen=True, slots=True)
class CallerSpeechStopped:
    """A pause: `utterance` is the turn's audio so far (version `version`), worth recognising early."""

    t_ms: float
    utterance: bytes
    version: int


@dataclass(frozen=True, slots=True)
class CallerTurnEnded:
    """The caller's turn is over; its transcript is that of utterance version `version`."""

    decision: EndpointDecision
    utterance: bytes
    version: int


ListenerOutput = CallerSpeechStarted | BargeInConfirmed | CallerSpeechStopped | CallerTurnEnded


class CallerListener:
    """One call's inbound audio at `rate_hz` (see `listening_rate_hz`). The pipeline tells it when the agent
    is busy (speaking or preparing an answer): speech then only counts once a barge-in is confirmed."""

    def __init__(self, config: AudioConfig | None = None, *, rate_hz: int = ANALYSIS_RATE_HZ) -> None:
        self.config = config or AudioConfig()
        self.rate_hz = rate_hz
        self._vad = VoiceActivityDetector(rate_hz, self.config.vad)
        self._endpointer = Endpointer(self.config.endpoint)
        self._bargein = BargeInDetector(self.config.barge_in)
        self._audio = bytearray()
        self._audio_start_sample = 0
        self._samples_in = 0
        self._utterance_start: int | None = None  # sample index where the open utterance's audio begins
        self._version = 0
        self._busy = False
        self._candidate_ms: float | None = None  # speech over the agent, not (yet) a barge-in

    # ---- state the pipeline reads ----

    @property
    def now_ms(self) -> float:
        """Audio time at the end of everything pushed so far."""
        return self._samples_in * 1000.0 / self.rate_hz

    @property
    def agent_busy(self) -> bool:
        return self._busy

    @property
    def utterance_open(self) -> bool:
        return self._utterance_start is not None

    @property
    def version(self) -> int:
        return self._version

    @property
    def deadline_ms(self) -> float | None:
        """Audio time at which the turn ends if the caller stays silent (poll then)."""
        return self._endpointer.deadline_ms

    # ---- inputs ----

    def push(self, pcm16: bytes) -> list[ListenerOutput]:
        """Caller audio at `rate_hz`, in arrival order; returns the decisions it completes."""
        self._audio += pcm16
        self._samples_in += len(pcm16) // 2
        out: list[ListenerOutput] = []
        for item in self._vad.push(pcm16):
            if isinstance(item, VadFrame):
                self._on_frame(item, out)
            elif isinstance(item, SpeechStarted):
                self._on_speech_started(item.t_ms, out)
            elif isinstance(item, SpeechStopped):
                self._on_speech_stopped(item.t_ms, out)
        out.extend(self.poll(self.now_ms))
        self._trim()
        return out

    def poll(self, now_ms: float) -> list[ListenerOutput]:
        """End-of-turn check at `now_ms` (audio time; a timer may extrapolate it when audio pauses)."""
        if self._utterance_start is None:
            return []
        if self._vad.onset_pending:
            # the caller may be speaking again: the VAD confirms an onset only after start_speech_ms of
            # voice, so the pause is not ended on silence that has already stopped (bounded by the window)
            return []
        decision = self._endpointer.poll(now_ms)
        if decision is None and now_ms - self._utterance_start * 1000.0 / self.rate_hz >= MAX_UTTERANCE_MS:
            decision = self._forced_end(now_ms)
        if decision is None:
            return []
        ended = CallerTurnEnded(decision=decision, utterance=self._utterance_audio(), version=self._version)
        self._utterance_start = None
        return [ended]

    def _forced_end(self, now_ms: float) -> EndpointDecision:
        endpointer = self._endpointer
        decision = EndpointDecision(
            t_ms=now_ms,
            turn_started_ms=None,
            speech_stopped_ms=now_ms,
            silence_ms=0.0,
            required_silence_ms=0,
            cue="neutral",
            reason=f"utterance reached {MAX_UTTERANCE_MS} ms without a pause",
            text=endpointer.text,
        )
        endpointer.reset()
        return decision

    def transcript_pending(self, version: int) -> None:
        """The recogniser started on utterance `version`: hold the pause for its words (see Endpointer)."""
        if version == self._version and self._utterance_start is not None:
            self._endpointer.hypothesis_pending()

    def transcript(
        self, text: str, version: int, alternatives: tuple[str, ...] = (), *, settled: bool = True
    ) -> None:
        """What the recogniser heard of utterance `version` (and its other readings; `settled=False` for a
        stream's running hypothesis, see Endpointer.transcript); it tunes how long the pause must last."""
        if version == self._version and self._utterance_start is not None:
            self._endpointer.transcript(text, final=False, alternatives=alternatives, settled=settled)

    def agent_started(self, t_ms: float) -> None:
        """The agent is answering or speaking from `t_ms`: caller speech must now prove it is a barge-in."""
        if not self._busy:
            self._busy = True
            self._bargein.agent_started(t_ms)

    def agent_stopped(self, t_ms: float) -> list[ListenerOutput]:
        """The agent fell silent; speech that began over it and is still going becomes the caller's turn."""
        if not self._busy:
            return []
        self._busy = False
        self._bargein.agent_stopped(t_ms)
        out: list[ListenerOutput] = []
        if self._candidate_ms is not None and self._vad.speaking:
            self._open_utterance(self._candidate_ms)
            out.append(CallerSpeechStarted(t_ms=self._candidate_ms))
        self._candidate_ms = None
        return out

    # ---- VAD decisions ----

    def _on_frame(self, frame: VadFrame, out: list[ListenerOutput]) -> None:
        if not self._busy:
            return
        barge = self._bargein.frame(frame.t_ms, frame.duration_ms, frame.speech)
        if barge is None:
            return
        self._busy = False
        self._bargein.agent_stopped(barge.confirmed_ms)
        self._candidate_ms = None
        self._open_utterance(barge.speech_started_ms)
        out.append(BargeInConfirmed(t_ms=barge.confirmed_ms, speech_started_ms=barge.speech_started_ms))

    def _on_speech_started(self, t_ms: float, out: list[ListenerOutput]) -> None:
        if self._busy:
            self._candidate_ms = t_ms
            return
        self._open_utterance(t_ms)
        out.append(CallerSpeechStarted(t_ms=t_ms))

    def _on_speech_stopped(self, t_ms: float, out: list[ListenerOutput]) -> None:
        if self._utterance_start is None:
            self._candidate_ms = None  # a cough over the agent: never confirmed, never the caller's turn
            return
        self._endpointer.speech_stopped(t_ms)
        out.append(CallerSpeechStopped(t_ms=t_ms, utterance=self._utterance_audio(), version=self._version))

    # ---- audio bookkeeping ----

    def _open_utterance(self, speech_ms: float) -> None:
        self._version += 1
        self._endpointer.speech_started(speech_ms)
        if self._utterance_start is None:
            first = round((speech_ms - PREROLL_MS) * self.rate_hz / 1000.0)
            self._utterance_start = max(self._audio_start_sample, first)

    @property
    def utterance_start_sample(self) -> int | None:
        """Where the open utterance's audio begins (a sample index of this call): which utterance it is."""
        return self._utterance_start

    def utterance_audio_from(self, offset_bytes: int) -> bytes:
        """The open utterance's audio from `offset_bytes` on (empty when none is open): what a recogniser
        streaming it has not had yet."""
        if self._utterance_start is None:
            return b""
        start = 2 * (self._utterance_start - self._audio_start_sample) + offset_bytes
        return bytes(self._audio[start:])

    def _utterance_audio(self) -> bytes:
        assert self._utterance_start is not None
        return self.utterance_audio_from(0)

    def _trim(self) -> None:
        keep_from = self._samples_in - _IDLE_KEEP_MS * self.rate_hz // 1000
        if self._utterance_start is not None:
            keep_from = min(keep_from, self._utterance_start)
        drop = keep_from - self._audio_start_sample
        if drop > _IDLE_KEEP_MS * self.rate_hz // 1000:  # trim in large steps, not on every frame
            del self._audio[: 2 * drop]
            self._audio_start_sample = keep_from
