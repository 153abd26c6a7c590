"""G.711 µ-law (PCMU) and A-law (PCMA) codecs, bit-exact with the ITU tables, as numpy table look-ups.

Encoding is one index into a 65536-entry table per int16 sample, decoding one into a 256-entry table;
this module never resamples: G.711 is 8 kHz and the caller converts rates first.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from voicerouter.audio.pcm import Int16Array, int16_to_pcm16, pcm16_to_int16

Uint8Array = npt.NDArray[np.uint8]
G711Law = Literal["ulaw", "alaw"]

_ULAW_BIAS = 0x84
_ULAW_CLIP_14BIT = 8159  # largest 14-bit magnitude µ-law codes before it saturates
_SEGMENT_SHIFT = 4
_QUANT_MASK = 0x0F


def _all_int16() -> npt.NDArray[np.int32]:
    return np.arange(-32768, 32768, dtype=np.int32)


def _segment(magnitude: npt.NDArray[np.int32], segment_ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment whose end is >= magnitude (8 when beyond the last)."""
    return np.searchsorted(np.array(segment_ends), magnitude, side="left").astype(np.int32)


def _build_ulaw_encode() -> Uint8Array:
    """µ-law of every int16, indexed by the sample's uint16 bit pattern.

    The 16-bit sample is reduced to the 14 bits G.711 µ-law codes (arithmetic shift by 2), as the ITU
    reference and audioop do, then biased, segmented and inverted.
    """
    pcm = _all_int16() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.where(pcm < 0, -pcm, pcm), _ULAW_CLIP_14BIT) + (_ULAW_BIAS >> 2)
    seg = _segment(magnitude, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = (seg << _SEGMENT_SHIFT) | ((magnitude >> (seg + 1)) & _QUANT_MASK)
    return _by_bit_pattern(np.bitwise_xor(np.where(seg >= 8, 0x7F, code), mask))


def _build_alaw_encode() -> Uint8Array:
    """A-law of every int16: the sample is reduced to 13 bits (shift by 3), then segmented, ones' inverted."""
    pcm = _all_int16() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(magnitude, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, seg)
    code = (seg << _SEGMENT_SHIFT) | ((magnitude >> shift) & _QUANT_MASK)
    return _by_bit_pattern(np.bitwise_xor(np.where(seg >= 8, 0x7F, code), mask))


def _by_bit_pattern(code_by_value: npt.NDArray[np.int32]) -> Uint8Array:
    """Reorder a table built over -32768..32767 so that it is indexed by int16.view(uint16)."""
    table = np.empty(65536, dtype=np.uint8)
    table[_all_int16().astype(np.int16).view(np.uint16)] = code_by_value.astype(np.uint8)
    return table


def _build_ulaw_decode() -> Int16Array:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((code & _QUANT_MASK) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (code & 0x70) >> 4
    t = (code & _QUANT_MASK) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(code & 0x80, t, -t).astype(np.int16)


ULAW_ENCODE = _build_ulaw_encode()
ALAW_ENCODE = _build_alaw_encode()
ULAW_DECODE = _build_ulaw_decode()
ALAW_DECODE = _build_alaw_decode()
for _table in (ULAW_ENCODE, ALAW_ENCODE, ULAW_DECODE, ALAW_DECODE):
    _table.setflags(write=False)

ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def encode_ulaw(samples: Int16Array) -> bytes:
    return ULAW_ENCODE[np.asarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def encode_alaw(samples: Int16Array) -> bytes:
    return ALAW_ENCODE[np.asarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def decode_ulaw(data: bytes | bytearray | memoryview) -> Int16Array:
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def decode_alaw(data: bytes | bytearray | memoryview) -> Int16Array:
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def lin2ulaw(pcm16: bytes | bytearray | memoryview) -> bytes:
    """PCM16 little-endian bytes to µ-law bytes (one byte per sample)."""
    return encode_ulaw(pcm16_to_int16(pcm16))


def ulaw2lin(data: bytes | bytearray | memoryview) -> bytes:
    return int16_to_pcm16(decode_ulaw(data))


def lin2alaw(pcm16: bytes | bytearray | memoryview) -> bytes:
    return encode_alaw(pcm16_to_int16(pcm16))


def alaw2lin(data: bytes | bytearray | memoryview) -> bytes:
    return int16_to_pcm16(decode_alaw(data))


def encode(samples: Int16Array, law: G711Law) -> bytes:
    return encode_ulaw(samples) if law == "ulaw" else encode_alaw(samples)


def decode(data: bytes | bytearray | memoryview, law: G711Law) -> Int16Array:
    return decode_ulaw(data) if law == "ulaw" else decode_alaw(data)


def silence(num_samples: int, law: G711Law) -> bytes:
    """Encoded digital silence, e.g. to fill a gap in an outbound RTP stream."""
    return bytes([ULAW_SILENCE if law == "ulaw" else ALAW_SILENCE]) * num_samples
