"""Streaming sample-rate conversion: a low-latency polyphase FIR for live audio, soxr for synthesised audio.

State carries across chunks, so 20 ms pieces give the samples of one long buffer: no clicks at chunk edges.
`Resampler` holds back only its filter's few milliseconds, which audio arriving in real time (a caller, a
vendor's stream) needs. `BlockResampler` runs libsoxr, several times cheaper per sample and far cleaner, but
it converts in blocks and holds back 10-115 ms: right for audio made faster than real time (espeak-ng).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from voicerouter.audio.pcm import Int16Array, int16_to_pcm16, pcm16_to_int16

Float64Array = npt.NDArray[np.float64]

# The stop band starts at the lower rate's Nyquist, so nothing above it can fold back; the pass band keeps
# 90% of it (7.2 kHz of a 16 kHz stream, 3.6 kHz of telephone audio) flat within a few thousandths of a dB.
PASSBAND_FRACTION = 0.90
STOPBAND_ATTENUATION_DB = 70.0
# Above this up-sampling factor (44.1 kHz <-> 16 kHz has 160 phases) one gather over all outputs is cheaper.
_PER_PHASE_MAX_UP = 8
_GATHER_BLOCK_VALUES = 8192  # 64 KiB of float64 per temporary


def _round_int16(values: Float64Array) -> Int16Array:
    """Round to nearest and saturate: a filter's overshoot on a full-scale step must not wrap around."""
    return np.clip(np.rint(values), -32768, 32767).astype(np.int16)


def _windows(buffer: Float64Array, width: int) -> Float64Array:
    """Read-only view whose row r is buffer[r : r + width]: `sliding_window_view` without its overhead."""
    contiguous = np.ascontiguousarray(buffer)
    step = contiguous.itemsize
    view: Float64Array = np.ndarray(
        (len(contiguous) - width + 1, width), dtype=np.float64, buffer=contiguous, strides=(step, step)
    )
    view.flags.writeable = False
    return view


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's empirical window shape for a stop band `attenuation_db` down (his 1974 formula)."""
    if attenuation_db > 50.0:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db > 21.0:
        return 0.5842 * (attenuation_db - 21.0) ** 0.4 + 0.07886 * (attenuation_db - 21.0)
    return 0.0


@lru_cache(maxsize=32)
def design_filter(up: int, down: int, attenuation_db: float = STOPBAND_ATTENUATION_DB) -> Float64Array:
    """Kaiser-window low-pass FIR at the up-sampled rate, gain `up`, odd length (integer group delay).

    Kaiser's length estimate and a windowed sinc scaled to unit DC gain: the same taps as scipy's
    `kaiserord` + `firwin`, without importing scipy (1.5 s) for two formulas.
    """
    nyquist = 1.0 / max(up, down)  # lower Nyquist, as a fraction of the up-sampled Nyquist
    width = nyquist * (1.0 - PASSBAND_FRACTION)
    numtaps = math.ceil((attenuation_db - 7.95) / 2.285 / (math.pi * width) + 1) | 1
    cutoff = nyquist * (1.0 + PASSBAND_FRACTION) / 2.0
    m = np.arange(numtaps) - (numtaps - 1) / 2.0
    taps = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, kaiser_beta(attenuation_db))
    return np.asarray(taps / taps.sum() * up, dtype=np.float64)


class Resampler:
    """Converts one live mono stream from `in_rate_hz` to `out_rate_hz`, chunk by chunk, with little delay.

    Output sample n is the filtered, up-sampled input at index n*down + delay, the alignment
    `scipy.signal.resample_poly` uses, so `process(...)` over any chunking followed by `flush()` returns
    exactly `resample_poly(x, up, down, window=taps)`. Live, the stream lags by `delay_ms` (2.7 ms for
    48 -> 16 kHz, 5.4 ms between 8 and 16 kHz), the price of a linear-phase filter.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"Resampler: rates must be positive, got {in_rate_hz} -> {out_rate_hz}")
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        divisor = math.gcd(in_rate_hz, out_rate_hz)
        self.up = out_rate_hz // divisor
        self.down = in_rate_hz // divisor
        self.passthrough = self.up == self.down == 1
        taps = design_filter(self.up, self.down) if not self.passthrough else np.ones(1)
        self.taps = taps
        self._delay = (len(taps) - 1) // 2  # in up-sampled samples
        self._taps_per_phase = -(-len(taps) // self.up)
        padded = np.zeros(self._taps_per_phase * self.up)
        padded[: len(taps)] = taps
        # phases[p][k] = taps[k*up + p], reversed so a dot with input[i-K+1 .. i] is the convolution.
        self._phases = np.ascontiguousarray(padded.reshape(self._taps_per_phase, self.up).T[:, ::-1])
        self.reset()

    @property
    def delay_ms(self) -> float:
        return self._delay / (self.in_rate_hz * self.up) * 1000.0

    def reset(self) -> None:
        """Forget all history, as if the stream started again."""
        self._history = np.zeros(self._taps_per_phase - 1)  # inputs just before index _in_count
        self._in_count = 0
        self._out_count = 0

    def _input_index(self, n: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return (n * self.down + self._delay) // self.up

    def _run(self, chunk: Float64Array, available: int, out_end: int) -> Float64Array:
        """Outputs up to `out_end` (exclusive) using `chunk`, whose last valid input index is available-1."""
        start_index = self._in_count - len(self._history)
        buffer = np.concatenate((self._history, chunk)) if len(self._history) else chunk
        out_start = self._out_count
        result = np.empty(max(0, out_end - out_start))
        if out_end > out_start:
            windows = _windows(buffer, self._taps_per_phase)
            row_offset = start_index + self._taps_per_phase - 1
            if self.up <= _PER_PHASE_MAX_UP:
                self._filter_per_phase(windows, row_offset, out_start, result)
            else:
                self._filter_gathered(windows, row_offset, out_start, result)
            self._out_count = out_end
        keep = self._taps_per_phase - 1
        self._in_count = available
        self._history = buffer[len(buffer) - keep :].copy() if keep else buffer[:0].copy()
        return result

    def _filter_per_phase(
        self, windows: Float64Array, row_offset: int, out_start: int, result: Float64Array
    ) -> None:
        """Outputs n, n+up, n+2up, ... share one phase and step `down` inputs apart: one matrix-vector
        product per phase instead of gathering a filter per output (the common 8/16/24/48 kHz case)."""
        count = len(result)
        for q in range(min(self.up, count)):
            m = (out_start + q) * self.down + self._delay
            first_row = m // self.up - row_offset
            rows = first_row + self.down * np.arange(len(range(q, count, self.up)))
            result[q :: self.up] = windows[rows] @ self._phases[m % self.up]

    def _filter_gathered(
        self, windows: Float64Array, row_offset: int, out_start: int, result: Float64Array
    ) -> None:
        """Many phases (e.g. 44.1 kHz): gather each output's inputs and filter, in blocks small enough that
        the temporary arrays stay in cache instead of being mapped and faulted in on every call."""
        block = max(1, _GATHER_BLOCK_VALUES // self._taps_per_phase)
        for first in range(0, len(result), block):
            n = np.arange(out_start + first, out_start + min(first + block, len(result)), dtype=np.int64)
            m = n * self.down + self._delay
            rows = m // self.up - row_offset
            result[first : first + len(n)] = np.vecdot(windows[rows], self._phases[m % self.up])

    def _ready_outputs(self, available: int) -> int:
        """Number of outputs whose newest input index is below `available`."""
        # largest n with (n*down + delay)//up <= available - 1, plus one.
        limit = available * self.up - 1 - self._delay
        return max(self._out_count, limit // self.down + 1) if limit >= 0 else self._out_count

    def process_float(self, samples: npt.NDArray[np.number]) -> Float64Array:
        """Float samples in any scale; returns the outputs this chunk completes."""
        chunk = np.asarray(samples, dtype=np.float64).reshape(-1)
        if self.passthrough:
            self._in_count += len(chunk)
            self._out_count += len(chunk)
            return chunk.copy()
        available = self._in_count + len(chunk)
        return self._run(chunk, available, self._ready_outputs(available))

    def process(self, samples: Int16Array) -> Int16Array:
        """int16 in, int16 out (rounded, saturating)."""
        if self.passthrough:
            self._in_count += len(samples)
            self._out_count += len(samples)
            return np.array(samples, dtype=np.int16)
        return _round_int16(self.process_float(samples))

    def process_pcm16(self, data: bytes | bytearray | memoryview) -> bytes:
        return int16_to_pcm16(self.process(pcm16_to_int16(data)))

    def flush_float(self) -> Float64Array:
        """End of stream: emit the tail held back by the filter delay, then reset.

        The total output over the stream is ceil(inputs * up / down) samples, as in `resample_poly`.
        """
        if self.passthrough:
            self.reset()
            return np.zeros(0)
        total = -(-self._in_count * self.up // self.down)
        last_index = self._input_index(np.array([max(total - 1, 0)], dtype=np.int64))[0]
        zeros = np.zeros(max(0, int(last_index) + 1 - self._in_count))
        tail = self._run(zeros, self._in_count + len(zeros), total)
        self.reset()
        return tail

    def flush(self) -> Int16Array:
        return _round_int16(self.flush_float())

    def flush_pcm16(self) -> bytes:
        return int16_to_pcm16(self.flush())


def resample(samples: Int16Array, in_rate_hz: int, out_rate_hz: int) -> Int16Array:
    """One-shot conversion of a whole int16 buffer, aligned and sized like `scipy.signal.resample_poly`."""
    resampler = Resampler(in_rate_hz, out_rate_hz)
    if resampler.passthrough:
        return np.array(samples, dtype=np.int16)
    head = resampler.process_float(samples)
    return _round_int16(np.concatenate((head, resampler.flush_float())))


def resample_pcm16(data: bytes | bytearray | memoryview, in_rate_hz: int, out_rate_hz: int) -> bytes:
    return int16_to_pcm16(resample(pcm16_to_int16(data), in_rate_hz, out_rate_hz))


class BlockResampler:
    """Converts audio made faster than real time (a synthesised sentence) with libsoxr's high-quality filter.

    Same calls as `Resampler`; output is time-aligned (no added delay once flushed), but soxr works in blocks
    and keeps up to ~115 ms (8 <-> 16 kHz) until more input or `flush()` arrives, so live audio uses
    `Resampler` instead. soxr is imported on first use, never by a command that does not convert audio.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"BlockResampler: rates must be positive, got {in_rate_hz} -> {out_rate_hz}")
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self.passthrough = in_rate_hz == out_rate_hz
        self._stream: Any = None
        self.reset()

    def reset(self) -> None:
        """Forget all history, as if the stream started again."""
        if self.passthrough:
            return
        import soxr

        self._stream = soxr.ResampleStream(
            self.in_rate_hz, self.out_rate_hz, 1, dtype="float64", quality="HQ"
        )

    def process(self, samples: Int16Array) -> Int16Array:
        """int16 in, int16 out (rounded, saturating): whatever soxr has finished so far."""
        if self.passthrough:
            return np.array(samples, dtype=np.int16)
        chunk = np.asarray(samples, dtype=np.float64).reshape(-1)
        return _round_int16(self._stream.resample_chunk(chunk))

    def process_pcm16(self, data: bytes | bytearray | memoryview) -> bytes:
        return int16_to_pcm16(self.process(pcm16_to_int16(data)))

    def flush(self) -> Int16Array:
        """End of stream: everything still held back, then reset."""
        if self.passthrough:
            return np.zeros(0, dtype=np.int16)
        tail = _round_int16(self._stream.resample_chunk(np.zeros(0), last=True))
        self.reset()
        return tail

    def flush_pcm16(self) -> bytes:
        return int16_to_pcm16(self.flush())
