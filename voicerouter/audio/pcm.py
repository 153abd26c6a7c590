"""PCM16 little-endian audio as bytes and as numpy arrays: conversion, down-mix, level, exact framing.

Pure functions and one small buffer; nothing here reads a clock, touches a socket or resamples.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]

SAMPLE_WIDTH_BYTES = 2
FULL_SCALE = 32768.0
# Level reported for digital silence: below the quietest non-zero 16-bit signal (one LSB is about -90 dBFS).
DBFS_FLOOR = -120.0
_PCM16_LE = np.dtype("<i2")


def frame_samples(rate_hz: int, frame_ms: int | float) -> int:
    """Samples in one frame; the frame must hold a whole number of samples (20 ms at 8 kHz = 160)."""
    if rate_hz <= 0 or frame_ms <= 0:
        raise ValueError(f"frame_samples: rate_hz and frame_ms must be positive, got {rate_hz}, {frame_ms}")
    exact = rate_hz * frame_ms / 1000.0
    count = round(exact)
    if abs(exact - count) > 1e-9:
        raise ValueError(f"frame_samples: {frame_ms} ms at {rate_hz} Hz is not a whole number of samples")
    return count


def frame_bytes(rate_hz: int, frame_ms: int | float, channels: int = 1) -> int:
    """Bytes in one PCM16 frame of `frame_ms` at `rate_hz` (20 ms at 16 kHz mono = 640)."""
    if channels < 1:
        raise ValueError(f"frame_bytes: channels must be >= 1, got {channels}")
    return frame_samples(rate_hz, frame_ms) * SAMPLE_WIDTH_BYTES * channels


def duration_ms(num_samples: int, rate_hz: int) -> float:
    return num_samples * 1000.0 / rate_hz


def pcm16_to_int16(data: bytes | bytearray | memoryview) -> Int16Array:
    """A read-only int16 view of little-endian PCM16 bytes (no copy; copy it before writing)."""
    if len(data) % SAMPLE_WIDTH_BYTES:
        raise ValueError(f"pcm16_to_int16: {len(data)} bytes is not a whole number of 16-bit samples")
    samples = np.frombuffer(data, dtype=_PCM16_LE)
    if samples.dtype != np.int16:  # big-endian host: convert to native order
        samples = samples.astype(np.int16)
    return samples


def int16_to_pcm16(samples: npt.NDArray[np.integer]) -> bytes:
    """Little-endian PCM16 bytes; values outside int16 are rejected rather than wrapped."""
    array = np.asarray(samples)
    if array.dtype != np.int16:
        if array.size and (array.min() < -32768 or array.max() > 32767):
            raise ValueError("int16_to_pcm16: sample values fall outside the int16 range")
        array = array.astype(np.int16)
    return array.astype(_PCM16_LE, copy=False).tobytes()


def int16_to_float32(samples: Int16Array) -> Float32Array:
    """Scale to [-1.0, 1.0) by 1/32768, the convention every DSP library here shares."""
    return samples.astype(np.float32) * np.float32(1.0 / FULL_SCALE)


def float_to_int16(samples: npt.NDArray[np.floating]) -> Int16Array:
    """Round to nearest and clip to int16, so an overshooting filter saturates instead of wrapping."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * FULL_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def pcm16_to_float32(data: bytes | bytearray | memoryview) -> Float32Array:
    return int16_to_float32(pcm16_to_int16(data))


def float32_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    return int16_to_pcm16(float_to_int16(samples))


def to_mono(samples: Int16Array, channels: int) -> Int16Array:
    """Average interleaved channels into one, rounding half away from zero; mono passes through."""
    if channels < 1:
        raise ValueError(f"to_mono: channels must be >= 1, got {channels}")
    if channels == 1:
        return samples
    if samples.size % channels:
        raise ValueError(f"to_mono: {samples.size} samples do not split into {channels} channels")
    total = samples.reshape(-1, channels).sum(axis=1, dtype=np.int32)
    # Integer average with symmetric rounding: a mean of exact ints stays within int16.
    mean = np.sign(total) * ((np.abs(total) + channels // 2) // channels)
    return mean.astype(np.int16)


def stereo_to_mono(data: bytes | bytearray | memoryview) -> bytes:
    """Interleaved stereo PCM16 bytes to mono PCM16 bytes."""
    if len(data) % (2 * SAMPLE_WIDTH_BYTES):
        raise ValueError(f"stereo_to_mono: {len(data)} bytes is not a whole number of stereo frames")
    return int16_to_pcm16(to_mono(pcm16_to_int16(data), 2))


def rms(samples: npt.NDArray[np.number]) -> float:
    """Root mean square in the samples' own unit (int16 counts or float full scale); 0.0 for no samples."""
    if samples.size == 0:
        return 0.0
    values = samples.astype(np.float64)
    return math.sqrt(float(np.dot(values, values)) / values.size)


def level_dbfs(samples: npt.NDArray[np.number]) -> float:
    """RMS level relative to full scale (a full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS).

    Integer input is taken as int16 counts, float input as [-1, 1); silence reports `DBFS_FLOOR`.
    """
    value = rms(samples)
    if np.issubdtype(samples.dtype, np.integer):
        value /= FULL_SCALE
    if value <= 0.0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 20.0 * math.log10(value))


def is_silence(samples: npt.NDArray[np.number], threshold_dbfs: float = -60.0) -> bool:
    """True when the frame's RMS level is below `threshold_dbfs` (all-zero frames always are)."""
    return level_dbfs(samples) < threshold_dbfs


class FrameBuffer:
    """Re-chunks PCM bytes of any size into exact frames, copying each byte once.

    A network packet rarely matches the frame a VAD or codec needs; whole frames are sliced straight out of
    the input and only the tail shorter than a frame is kept for the next call.
    """

    __slots__ = ("_frame_size", "_pending")

    def __init__(self, frame_size_bytes: int) -> None:
        if frame_size_bytes <= 0:
            raise ValueError(f"FrameBuffer: frame_size_bytes must be positive, got {frame_size_bytes}")
        self._frame_size = frame_size_bytes
        self._pending = bytearray()

    @property
    def frame_size_bytes(self) -> int:
        return self._frame_size

    @property
    def pending_bytes(self) -> int:
        """Bytes held back because they do not make a whole frame yet."""
        return len(self._pending)

    def push(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Append `data` and return every frame it completes, oldest first."""
        view = memoryview(data).cast("B")
        size = self._frame_size
        frames: list[bytes] = []
        offset = 0
        if self._pending:
            need = size - len(self._pending)
            if len(view) < need:
                self._pending += view
                return frames
            self._pending += view[:need]
            frames.append(bytes(self._pending))
            self._pending.clear()
            offset = need
        end = offset + (len(view) - offset) // size * size
        frames.extend(bytes(view[i : i + size]) for i in range(offset, end, size))
        if end < len(view):
            self._pending += view[end:]
        return frames

    def flush(self, pad: bool = False) -> bytes | None:
        """Hand back the partial tail (zero-padded to a full frame when `pad`); None when empty."""
        if not self._pending:
            return None
        tail = bytes(self._pending)
        self._pending.clear()
        if pad:
            tail += bytes(self._frame_size - len(tail))
        return tail

    def clear(self) -> None:
        self._pending.clear()
