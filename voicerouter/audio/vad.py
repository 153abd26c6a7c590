"""Voice activity over webrtcvad: any-size PCM16 chunks in, timed per-frame flags and smoothed decisions out.

Sans-I/O: times are derived from sample counts anchored at timestamps the caller passes; never reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

from voicerouter.audio.pcm import FrameBuffer, frame_bytes, level_dbfs, pcm16_to_int16
from voicerouter.audio.settings import VadConfig

VAD_RATES_HZ = (8000, 16000, 32000, 48000)


@dataclass(frozen=True, slots=True)
class VadFrame:
    """One analysed frame: `speech` is webrtcvad's flag, forced False when `level_dbfs` is under the floor."""

    t_ms: float
    duration_ms: float
    speech: bool
    level_dbfs: float

    @property
    def end_ms(self) -> float:
        return self.t_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began at `t_ms` (first voiced frame of the run); known only at `decided_ms`."""

    t_ms: float
    decided_ms: float


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Speech ended at `t_ms` (end of the last voiced frame); known at `decided_ms`, after the hangover."""

    t_ms: float
    decided_ms: float


VadItem = VadFrame | SpeechStarted | SpeechStopped


class VoiceActivityDetector:
    """One caller's stream: feed PCM16 mono with `push`, read frames and decisions in time order."""

    def __init__(self, rate_hz: int, config: VadConfig | None = None, start_ms: float = 0.0) -> None:
        if rate_hz not in VAD_RATES_HZ:
            raise ValueError(
                f"VoiceActivityDetector: rate_hz {rate_hz} unsupported, use one of {VAD_RATES_HZ}"
            )
        self.rate_hz = rate_hz
        self.config = config or VadConfig()
        self._frame_ms = float(self.config.frame_ms)
        self._vad = webrtcvad.Vad(self.config.aggressiveness)
        self._buffer = FrameBuffer(frame_bytes(rate_hz, self.config.frame_ms))
        self._window: deque[VadFrame] = deque(
            maxlen=max(1, -(-self.config.start_window_ms // self.config.frame_ms))
        )
        self._next_frame_ms = start_ms
        self._speaking = False
        self._last_voiced_end_ms = start_ms

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def onset_pending(self) -> bool:
        """Voiced frames sit in the start window but do not yet make speech: the caller may be resuming."""
        return not self._speaking and any(f.speech for f in self._window)

    def push(self, pcm16: bytes | bytearray | memoryview, t_ms: float | None = None) -> list[VadItem]:
        """Analyse every frame `pcm16` completes.

        `t_ms`, when given, is the time of this chunk's first sample and re-anchors the timeline (use media
        timestamps, so a lost packet does not shift every later frame); otherwise samples run on from the
        previous chunk.
        """
        if t_ms is not None:
            held_ms = self._buffer.pending_bytes / 2 * 1000.0 / self.rate_hz
            self._next_frame_ms = t_ms - held_ms
        items: list[VadItem] = []
        for frame in self._buffer.push(pcm16):
            self._analyse(frame, items)
        return items

    def finish(self) -> list[VadItem]:
        """End of stream: close speech still open at its last voiced frame; the partial frame is dropped."""
        self._buffer.clear()
        items: list[VadItem] = []
        if self._speaking:
            items.append(SpeechStopped(t_ms=self._last_voiced_end_ms, decided_ms=self._next_frame_ms))
            self._speaking = False
        self._window.clear()
        return items

    def _analyse(self, frame: bytes, items: list[VadItem]) -> None:
        t_ms = self._next_frame_ms
        self._next_frame_ms = t_ms + self._frame_ms
        level = level_dbfs(pcm16_to_int16(frame))
        # webrtcvad sees every frame so its noise model keeps adapting; the gate only overrules its answer,
        # since it flags low hiss and the zeros after speech (its own hangover) as speech.
        vad_speech = bool(self._vad.is_speech(frame, self.rate_hz))
        speech = vad_speech and level >= self.config.energy_floor_dbfs
        result = VadFrame(t_ms, self._frame_ms, speech, level)
        items.append(result)
        if result.speech:
            self._last_voiced_end_ms = result.end_ms
        if self._speaking:
            silent_ms = result.end_ms - self._last_voiced_end_ms
            if not result.speech and silent_ms >= self.config.hangover_ms:
                self._speaking = False
                self._window.clear()
                items.append(SpeechStopped(t_ms=self._last_voiced_end_ms, decided_ms=result.end_ms))
            return
        self._window.append(result)
        voiced = [f for f in self._window if f.speech]
        if voiced and len(voiced) * self._frame_ms >= self.config.start_speech_ms:
            self._speaking = True
            items.append(SpeechStarted(t_ms=voiced[0].t_ms, decided_ms=result.end_ms))
