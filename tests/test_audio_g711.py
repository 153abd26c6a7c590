"""G.711 µ-law and A-law: bit-exact with the ITU reference tables, over every input."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import numpy as np
import pytest

from voicerouter.audio import g711

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def _audioop() -> ModuleType:
    """The stdlib reference (deprecated, removed in 3.13), or the `audioop-lts` backport of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            pytest.skip(
                "no reference: stdlib audioop is gone on this Python and audioop-lts is not installed"
            )


def test_ulaw_encode_matches_audioop_for_every_int16_value() -> None:
    pcm = ALL_INT16.astype("<i2").tobytes()
    assert g711.lin2ulaw(pcm) == _audioop().lin2ulaw(pcm, 2)


def test_alaw_encode_matches_audioop_for_every_int16_value() -> None:
    pcm = ALL_INT16.astype("<i2").tobytes()
    assert g711.lin2alaw(pcm) == _audioop().lin2alaw(pcm, 2)


def test_ulaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert g711.ulaw2lin(ALL_CODES) == _audioop().ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert g711.alaw2lin(ALL_CODES) == _audioop().alaw2lin(ALL_CODES, 2)


def test_known_g711_code_points() -> None:
    # Values from the G.711 tables: zero, the extremes, and the smallest steps.
    assert g711.encode_ulaw(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert g711.encode_alaw(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xD5, 0xAA, 0x2A])
    assert g711.decode_ulaw(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]
    assert g711.decode_alaw(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_decode_then_encode_returns_every_code(law: g711.G711Law) -> None:
    decoded = g711.decode(ALL_CODES, law)
    reencoded = g711.encode(decoded, law)
    if law == "ulaw":  # µ-law has two codes for zero (0x7F and 0xFF); both decode to 0, which encodes as 0xFF
        assert reencoded == ALL_CODES.replace(b"\x7f", b"\xff")
    else:
        assert reencoded == ALL_CODES


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_encoding_error_stays_within_the_segment_step(law: g711.G711Law) -> None:
    decoded = g711.decode(g711.encode(ALL_INT16, law), law).astype(np.int32)
    error = np.abs(decoded - ALL_INT16.astype(np.int32))
    magnitude = np.abs(ALL_INT16.astype(np.int32))
    assert error[magnitude < 256].max() <= 16  # finest segments: steps of 8 (A-law) or 4-8 (µ-law)
    assert (error[magnitude >= 256] <= magnitude[magnitude >= 256] / 16 + 132).all()


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_encoded_silence_decodes_to_near_zero(law: g711.G711Law) -> None:
    assert np.abs(g711.decode(g711.silence(160, law), law)).max() <= 8
    assert len(g711.silence(160, law)) == 160


def test_lookup_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.ULAW_ENCODE[0] = 1
