"""soxr-backed conversion of synthesised audio: band limits, alignment, chunk independence, saturation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_signals import tone, voiced_speech
from voicerouter.audio.pcm import level_dbfs
from voicerouter.audio.resample import BlockResampler

TTS_PAIRS = [(22050, 48000), (22050, 16000), (22050, 8000), (24000, 48000), (16000, 48000)]


def _convert(x: np.ndarray, in_rate_hz: int, out_rate_hz: int, step: int | None = None) -> np.ndarray:
    resampler = BlockResampler(in_rate_hz, out_rate_hz)
    step = step or len(x) or 1
    parts = [resampler.process(x[i : i + step]) for i in range(0, len(x), step)]
    return np.concatenate([*parts, resampler.flush()])


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), TTS_PAIRS)
def test_40ms_chunks_give_the_same_samples_as_one_buffer_and_the_exact_length(
    in_rate_hz: int, out_rate_hz: int
) -> None:
    x = voiced_speech(in_rate_hz, 700, seed=4, level=0.9)
    whole = _convert(x, in_rate_hz, out_rate_hz)
    chunked = _convert(x, in_rate_hz, out_rate_hz, step=in_rate_hz // 25)
    assert np.array_equal(whole, chunked)
    assert len(whole) == round(len(x) * out_rate_hz / in_rate_hz)


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz", "freq_hz"), [
    (22050, 8000, 4500.0), (22050, 16000, 8500.0), (48000, 16000, 9000.0),
])  # fmt: skip
def test_tone_above_new_nyquist_is_attenuated_by_at_least_60_db(
    in_rate_hz: int, out_rate_hz: int, freq_hz: float
) -> None:
    x = tone(freq_hz, in_rate_hz, 1000, level=0.5)
    y = _convert(x, in_rate_hz, out_rate_hz)
    settle = out_rate_hz // 10  # away from the tone's abrupt start and end, which are broadband
    assert level_dbfs(y[settle:-settle]) - level_dbfs(x) <= -60.0


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz", "freq_hz"), [
    (22050, 48000, 10000.0), (22050, 8000, 3400.0), (22050, 16000, 7000.0),
])  # fmt: skip
def test_tone_in_band_passes_within_half_a_db_and_in_phase(
    in_rate_hz: int, out_rate_hz: int, freq_hz: float
) -> None:
    x = tone(freq_hz, in_rate_hz, 1000, level=0.5)
    y = _convert(x, in_rate_hz, out_rate_hz)
    settle = out_rate_hz // 10
    assert abs(level_dbfs(y[settle:-settle]) - level_dbfs(x)) <= 0.5
    # Time-aligned: output sample n is the input at n / out_rate, no filter delay left in the stream.
    expected = tone(freq_hz, out_rate_hz, 1000, level=0.5)
    middle = slice(settle, -settle)
    error = y[middle].astype(np.float64) - expected[middle]
    assert np.sqrt(np.mean(error**2)) < 0.01 * 0.5 * 32767


def test_full_scale_square_wave_saturates_instead_of_wrapping() -> None:
    square = np.where(np.arange(22050) // 147 % 2 == 0, 32767, -32768).astype(np.int16)
    y = _convert(square, 22050, 48000)
    assert y.max() == 32767 and y.min() == -32768


def test_equal_rates_pass_samples_through_unchanged() -> None:
    x = voiced_speech(16000, 100, seed=1)
    resampler = BlockResampler(16000, 16000)
    assert resampler.passthrough
    assert np.array_equal(resampler.process(x), x) and len(resampler.flush()) == 0


def test_flush_ends_one_sentence_and_the_next_starts_fresh() -> None:
    x = voiced_speech(22050, 300, seed=3)
    resampler = BlockResampler(22050, 48000)
    first = np.concatenate([resampler.process(x), resampler.flush()])
    second = np.concatenate([resampler.process(x), resampler.flush()])
    assert np.array_equal(first, second)


def test_pcm16_bytes_interface_matches_array_interface() -> None:
    x = voiced_speech(22050, 200, seed=2)
    resampler = BlockResampler(22050, 8000)
    data = resampler.process_pcm16(x.astype("<i2").tobytes()) + resampler.flush_pcm16()
    assert data == _convert(x, 22050, 8000).astype("<i2").tobytes()


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rates must be positive"):
        BlockResampler(22050, 0)
