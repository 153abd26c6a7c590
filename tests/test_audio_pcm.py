"""PCM16 conversion, down-mix, levels and exact re-framing."""

from __future__ import annotations

import numpy as np
import pytest

from voicerouter.audio.pcm import (
    DBFS_FLOOR,
    FrameBuffer,
    float32_to_pcm16,
    frame_bytes,
    frame_samples,
    int16_to_pcm16,
    is_silence,
    level_dbfs,
    pcm16_to_float32,
    pcm16_to_int16,
    stereo_to_mono,
    to_mono,
)


def test_pcm16_bytes_are_little_endian_int16() -> None:
    data = bytes([0x01, 0x00, 0xFF, 0x7F, 0x00, 0x80, 0xFF, 0xFF])
    assert pcm16_to_int16(data).tolist() == [1, 32767, -32768, -1]
    assert int16_to_pcm16(np.array([1, 32767, -32768, -1], dtype=np.int16)) == data


def test_pcm16_rejects_odd_byte_counts_and_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="3 bytes"):
        pcm16_to_int16(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="outside the int16 range"):
        int16_to_pcm16(np.array([40000]))


def test_float_conversion_round_trips_every_int16_value() -> None:
    values = np.arange(-32768, 32768, dtype=np.int16)
    floats = pcm16_to_float32(int16_to_pcm16(values))
    assert floats.min() == -1.0 and floats.max() < 1.0
    assert np.array_equal(pcm16_to_int16(float32_to_pcm16(floats)), values)


def test_float_to_pcm16_saturates_instead_of_wrapping() -> None:
    assert pcm16_to_int16(float32_to_pcm16(np.array([1.5, -1.5, 0.99999]))).tolist() == [32767, -32768, 32767]


def test_stereo_down_mix_averages_channels_with_symmetric_rounding() -> None:
    stereo = np.array([100, 200, -100, -201, 32767, 32767, -32768, -32768, 1, 0, -1, 0], dtype=np.int16)
    assert to_mono(stereo, 2).tolist() == [150, -151, 32767, -32768, 1, -1]
    assert pcm16_to_int16(stereo_to_mono(int16_to_pcm16(stereo))).tolist() == [
        150,
        -151,
        32767,
        -32768,
        1,
        -1,
    ]


def test_down_mix_rejects_a_partial_stereo_frame() -> None:
    with pytest.raises(ValueError, match="stereo frames"):
        stereo_to_mono(b"\x00\x00")


def test_level_of_full_scale_sine_is_minus_3_dbfs_and_silence_is_the_floor() -> None:
    t = np.arange(16000) / 16000
    sine = np.rint(32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    assert level_dbfs(sine) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(sine.astype(np.float32) / 32768) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(np.zeros(160, dtype=np.int16)) == DBFS_FLOOR
    assert level_dbfs(np.zeros(0, dtype=np.int16)) == DBFS_FLOOR


def test_silence_check_uses_the_threshold() -> None:
    quiet = np.full(160, 10, dtype=np.int16)  # about -70 dBFS
    assert is_silence(np.zeros(160, dtype=np.int16))
    assert is_silence(quiet, threshold_dbfs=-60.0)
    assert not is_silence(quiet, threshold_dbfs=-80.0)


def test_frame_sizes_for_telephony_and_wideband_rates() -> None:
    assert frame_samples(8000, 20) == 160
    assert frame_bytes(8000, 20) == 320
    assert frame_bytes(16000, 10) == 320
    assert frame_bytes(48000, 20, channels=2) == 3840


def test_frame_size_must_be_a_whole_number_of_samples() -> None:
    with pytest.raises(ValueError, match=r"0.1 ms at 8000 Hz"):
        frame_samples(8000, 0.1)


def test_frame_buffer_rechunks_any_split_into_the_same_exact_frames() -> None:
    data = bytes(range(256)) * 20
    rng = np.random.default_rng(7)
    buffer = FrameBuffer(320)
    frames: list[bytes] = []
    offset = 0
    while offset < len(data):
        size = int(rng.integers(0, 900))
        frames.extend(buffer.push(data[offset : offset + size]))
        offset += size
    assert all(len(frame) == 320 for frame in frames)
    assert b"".join(frames) == data[: len(frames) * 320]
    assert buffer.pending_bytes == len(data) % 320


def test_frame_buffer_flush_returns_the_tail_padded_or_not() -> None:
    buffer = FrameBuffer(4)
    assert buffer.push(b"abcdef") == [b"abcd"]
    assert buffer.flush(pad=True) == b"ef\x00\x00"
    assert buffer.flush() is None
    buffer.push(memoryview(b"xyz"))
    assert buffer.flush() == b"xyz"


def test_frame_buffer_frames_do_not_alias_the_callers_buffer() -> None:
    source = bytearray(b"abcdefgh")
    buffer = FrameBuffer(4)
    frames = buffer.push(source)
    source[:] = b"XXXXXXXX"
    assert frames == [b"abcd", b"efgh"]
