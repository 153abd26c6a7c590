"""Streaming resampler: anti-aliasing, pass-band flatness, chunk-size independence, alignment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from tests.audio_signals import tone, voiced_speech
from voicerouter.audio.pcm import level_dbfs
from voicerouter.audio.resample import Resampler, resample, resample_pcm16

RATE_PAIRS = [(48000, 16000), (8000, 16000), (16000, 8000), (16000, 24000), (24000, 16000), (48000, 8000)]


def _tone_gain_db(freq_hz: float, in_rate_hz: int, out_rate_hz: int) -> float:
    """Output level minus input level for a steady tone, measured away from the start-up transient."""
    x = tone(freq_hz, in_rate_hz, 1000, level=0.5)
    y = resample(x, in_rate_hz, out_rate_hz)
    settle = out_rate_hz // 10
    return level_dbfs(y[settle:-settle]) - level_dbfs(x)


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz", "freq_hz"), [
    (48000, 16000, 9000.0),
    (48000, 16000, 12000.0),
    (48000, 16000, 20000.0),
    (16000, 8000, 4200.0),
    (16000, 8000, 6000.0),
    (48000, 8000, 5000.0),
    (24000, 16000, 8500.0),
    (44100, 16000, 10000.0),
])  # fmt: skip
def test_tone_above_new_nyquist_is_attenuated_by_at_least_40_db(
    in_rate_hz: int, out_rate_hz: int, freq_hz: float
) -> None:
    assert _tone_gain_db(freq_hz, in_rate_hz, out_rate_hz) <= -40.0


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz", "freq_hz"), [
    (48000, 16000, 1000.0),
    (48000, 16000, 6500.0),
    (8000, 16000, 300.0),
    (8000, 16000, 3400.0),
    (16000, 8000, 3400.0),
    (16000, 48000, 7000.0),
    (44100, 16000, 5000.0),
])  # fmt: skip
def test_tone_in_band_passes_within_1_db(in_rate_hz: int, out_rate_hz: int, freq_hz: float) -> None:
    assert abs(_tone_gain_db(freq_hz, in_rate_hz, out_rate_hz)) <= 1.0


def test_upsampling_leaves_no_image_above_the_original_band() -> None:
    y = resample(tone(1000.0, 8000, 1000), 8000, 16000)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    image = spectrum[(freqs > 4000) & (freqs < 8000)].max()
    assert 20 * np.log10(image / spectrum.max()) < -60.0  # the 7 kHz image of the 1 kHz tone is gone


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS)
def test_20ms_chunks_give_the_same_samples_as_one_buffer(in_rate_hz: int, out_rate_hz: int) -> None:
    x = voiced_speech(in_rate_hz, 700, seed=4, level=0.9)
    one_shot = resample(x, in_rate_hz, out_rate_hz)
    streaming = Resampler(in_rate_hz, out_rate_hz)
    step = in_rate_hz // 50
    chunks = [streaming.process(x[i : i + step]) for i in range(0, len(x), step)]
    chunked = np.concatenate([*chunks, streaming.flush()])
    assert len(chunked) == len(one_shot)
    assert np.abs(chunked.astype(np.int32) - one_shot).max() <= 1


def test_irregular_chunks_including_empty_and_single_samples_match_one_buffer() -> None:
    x = voiced_speech(48000, 300, seed=5)
    rng = np.random.default_rng(11)
    streaming = Resampler(48000, 16000)
    parts, offset = [], 0
    while offset < len(x):
        size = int(rng.choice([0, 1, 2, 7, 333, 960, 1500]))
        parts.append(streaming.process(x[offset : offset + size]))
        offset += size
    parts.append(streaming.flush())
    assert np.abs(np.concatenate(parts).astype(np.int32) - resample(x, 48000, 16000)).max() <= 1


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), [*RATE_PAIRS, (44100, 16000)])
def test_output_is_aligned_and_sized_like_scipy_resample_poly(in_rate_hz: int, out_rate_hz: int) -> None:
    x = voiced_speech(in_rate_hz, 250, seed=6).astype(np.float64)
    streaming = Resampler(in_rate_hz, out_rate_hz)
    reference = signal.resample_poly(x, streaming.up, streaming.down, window=streaming.taps / streaming.up)
    ours = np.concatenate([streaming.process_float(x), streaming.flush_float()])
    assert ours.shape == reference.shape
    assert np.allclose(ours, reference, atol=1e-6)


def test_full_scale_square_wave_saturates_instead_of_wrapping() -> None:
    square = np.where(np.arange(4800) // 60 % 2 == 0, 32767, -32768).astype(np.int16)
    y = resample(square, 48000, 16000)
    # Gibbs overshoot exceeds int16 near every edge: it must clip there, never wrap to the other sign.
    assert y.max() == 32767 and y.min() == -32768
    half_periods = y.reshape(-1, 20)  # 60 input samples = 20 output samples per half-period
    assert (half_periods[0::2] > 0).all() and (half_periods[1::2, 1:] < 0).all()


def test_equal_rates_pass_samples_through_unchanged() -> None:
    x = voiced_speech(16000, 100, seed=1)
    resampler = Resampler(16000, 16000)
    assert resampler.passthrough
    assert np.array_equal(resampler.process(x), x)
    assert resample_pcm16(x.tobytes(), 16000, 16000) == x.tobytes()


def test_pcm16_bytes_interface_matches_array_interface() -> None:
    x = voiced_speech(8000, 200, seed=2)
    assert resample_pcm16(x.tobytes(), 8000, 16000) == resample(x, 8000, 16000).astype("<i2").tobytes()


def test_reset_starts_a_new_stream_with_no_memory_of_the_old_one() -> None:
    x = voiced_speech(48000, 100, seed=3)
    resampler = Resampler(48000, 16000)
    first = resampler.process(x)
    resampler.process(voiced_speech(48000, 50, seed=9))
    resampler.reset()
    assert np.array_equal(resampler.process(x), first)


def test_delay_is_a_few_milliseconds() -> None:
    assert 0.0 < Resampler(48000, 16000).delay_ms < 10.0
    assert 0.0 < Resampler(8000, 16000).delay_ms < 10.0


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rates must be positive"):
        Resampler(0, 16000)
