"""Caller and agent audio on the Realtime side of a call: wire formats, conversions and the input gate.

Sans-I/O: plain objects that take bytes and return bytes. It never sends anything, never reads a clock and
never decides turns (the pipeline's listener does); it only knows audio time, counted in samples.
"""

from __future__ import annotations

from voicerouter.audio.g711 import lin2ulaw, ulaw2lin
from voicerouter.audio.resample import Resampler
from voicerouter.providers.realtime.client import AudioFormat
from voicerouter.providers.realtime.requests import BYTES_PER_MS

REALTIME_PCM_RATE_HZ = 24_000  # the only PCM16 rate the Realtime API takes and speaks
TELEPHONY_RATE_HZ = 8_000
GATE_PREROLL_MS = 400  # audio kept ahead of a speech onset (VAD onsets are late; the listener keeps 300 ms)
APPEND_CHUNK_MS = 100  # caller audio goes out in chunks this long: fewer events, no added turn latency
GATE_KEEP_MS = 1_500  # audio remembered while the gate is shut: pre-roll plus a barge-in confirmation window


def session_format(rate_hz: int) -> AudioFormat:
    """Phone-rate calls talk µ-law to the API (no resampling either way); every other rate talks PCM16."""
    return "pcmu" if rate_hz == TELEPHONY_RATE_HZ else "pcm16"


def _wire_rate(fmt: AudioFormat) -> int:
    return REALTIME_PCM_RATE_HZ if fmt == "pcm16" else TELEPHONY_RATE_HZ


class CallerEncoder:
    """Caller PCM16 at the call's rate -> the session's input format, chunk by chunk (stateful filter)."""

    def __init__(self, rate_hz: int, fmt: AudioFormat) -> None:
        if fmt == "pcma":
            raise ValueError("CallerEncoder: A-law input is not used by audio calls")
        self.format: AudioFormat = fmt
        self._resampler = Resampler(rate_hz, _wire_rate(fmt))

    def encode(self, pcm16: bytes) -> bytes:
        pcm = self._resampler.process_pcm16(pcm16)
        return lin2ulaw(pcm) if self.format == "pcmu" else pcm


class VoiceDecoder:
    """The session's output audio -> PCM16 at the call's rate; `flush()` returns the filter's tail."""

    def __init__(self, fmt: AudioFormat, rate_hz: int) -> None:
        if fmt == "pcma":
            raise ValueError("VoiceDecoder: A-law output is not used by audio calls")
        self.format: AudioFormat = fmt
        self._resampler = Resampler(_wire_rate(fmt), rate_hz)

    def decode(self, data: bytes) -> bytes:
        pcm = ulaw2lin(data) if self.format == "pcmu" else data
        return self._resampler.process_pcm16(pcm)

    def flush(self) -> bytes:
        return self._resampler.flush_pcm16()


class InputGate:
    """Which caller audio reaches the Realtime input buffer: each caller turn from just before its speech.

    Streaming everything would bill the silence between turns (and the caller's side of the agent's
    answers) as input audio on every response. The gate opens at a speech onset, replaying the pre-roll it
    kept, and shuts when the turn's buffer is committed or cleared. Times are audio ms since the call
    started, the listener's timeline.
    """

    def __init__(
        self, rate_hz: int, *, preroll_ms: int = GATE_PREROLL_MS, keep_ms: int = GATE_KEEP_MS
    ) -> None:
        if preroll_ms > keep_ms:
            raise ValueError(f"InputGate: preroll_ms ({preroll_ms}) exceeds keep_ms ({keep_ms})")
        self.rate_hz = rate_hz
        self.preroll_ms = preroll_ms
        self._keep_samples = keep_ms * rate_hz // 1000
        self._ring = bytearray()
        self._ring_start = 0  # sample index of the ring's first byte
        self._samples_in = 0
        self.is_open = False

    @property
    def now_ms(self) -> float:
        return self._samples_in * 1000.0 / self.rate_hz

    def push(self, pcm16: bytes) -> bytes:
        """Caller audio in arrival order; returns what to append now (nothing while shut)."""
        self._samples_in += len(pcm16) // 2
        if self.is_open:
            return pcm16
        self._ring += pcm16
        excess = len(self._ring) // 2 - self._keep_samples
        if excess > self._keep_samples // 4:  # trim in steps, not on every frame
            del self._ring[: 2 * excess]
            self._ring_start += excess
        return b""

    def open(self, speech_ms: float) -> bytes:
        """Speech began at `speech_ms`: open, and return the kept audio from the pre-roll before it."""
        if self.is_open:
            return b""
        self.is_open = True
        first = round((speech_ms - self.preroll_ms) * self.rate_hz / 1000.0)
        offset = 2 * max(0, first - self._ring_start)
        replay = bytes(self._ring[offset:])
        self._ring.clear()
        self._ring_start = self._samples_in
        return replay

    def shut(self) -> None:
        """The turn's buffer was committed or cleared: keep audio locally until the next onset."""
        if self.is_open:
            self.is_open = False
            self._ring.clear()
            self._ring_start = self._samples_in


class CallerStream:
    """The caller's side of the session: gated, encoded, and batched into `chunk_ms` append payloads."""

    def __init__(self, rate_hz: int, fmt: AudioFormat, *, chunk_ms: int = APPEND_CHUNK_MS) -> None:
        self.gate = InputGate(rate_hz)
        self._encoder = CallerEncoder(rate_hz, fmt)
        self._chunk_bytes = chunk_ms * BYTES_PER_MS[fmt]
        self._pending = bytearray()

    def push(self, pcm16: bytes) -> bytes:
        """Caller PCM16 at the call's rate; returns a payload to append once a chunk is full."""
        return self._add(self.gate.push(pcm16))

    def speech_started(self, speech_ms: float) -> bytes:
        """An utterance began at `speech_ms` (audio time): the gate opens and replays its pre-roll."""
        return self._add(self.gate.open(speech_ms))

    def end_turn(self) -> bytes:
        """The turn's audio is all in: the gate shuts; returns whatever is still to append."""
        self.gate.shut()
        payload, self._pending = bytes(self._pending), bytearray()
        return payload

    def _add(self, pcm16: bytes) -> bytes:
        if pcm16:
            self._pending += self._encoder.encode(pcm16)
        if len(self._pending) < self._chunk_bytes:
            return b""
        payload, self._pending = bytes(self._pending), bytearray()
        return payload
