"""RIFF/WAVE framing for PCM16, the project's one reader and one writer: an incremental reader for streamed
WAV (as `espeak-ng --stdout` writes it) and the header every writer uses (uploads, saved audio, call tracks).

Framing only: it never resamples, never converts sample formats other than checking them, and never does I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_RIFF_HEADER = struct.Struct("<4sI4s")
_CHUNK_HEADER = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")
_PCM_FORMAT = 1
_EXTENSIBLE_FORMAT = 0xFFFE
# Streaming writers cannot know the data length when they write the header: they put 0, 0xFFFFFFFF or a
# huge placeholder (espeak-ng writes 0x7FFFF000). Any of these means "until end of stream".
_STREAMING_SIZE_FLOOR = 0x7FFF0000
_MAX_HEADER_BYTES = 64 * 1024  # a header larger than this is not a WAV stream we should keep buffering


class WavError(ValueError):
    """Bytes that are not a PCM16 WAV stream, with what was expected where."""


@dataclass(frozen=True)
class WavFormat:
    """What a WAV header says about its samples."""

    sample_rate_hz: int
    channels: int
    bits_per_sample: int


class WavStreamReader:
    """Feed WAV bytes as they arrive; get the PCM payload out as soon as the header has been read.

    Chunks before `data` (fmt, LIST, fact) are parsed or skipped; the payload is returned in whole
    sample frames, so a caller never sees half a sample.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.format: WavFormat | None = None
        self._in_data = False
        self._data_left: int | None = None  # None: stream until end
        self._frame_bytes = 2

    @property
    def header_done(self) -> bool:
        return self._in_data

    def feed(self, data: bytes) -> bytes:
        """Append bytes; return the payload they complete (possibly empty)."""
        self._buffer += data
        if not self._in_data:
            self._parse_header()
            if not self._in_data:
                if len(self._buffer) > _MAX_HEADER_BYTES:
                    raise WavError(f"wav: no data chunk within the first {_MAX_HEADER_BYTES} bytes")
                return b""
        usable = len(self._buffer)
        if self._data_left is not None:
            usable = min(usable, self._data_left)
        usable -= usable % self._frame_bytes
        payload = bytes(self._buffer[:usable])
        del self._buffer[:usable]
        if self._data_left is not None:
            self._data_left -= usable
            if self._data_left < self._frame_bytes:
                self._buffer.clear()  # chunks after the payload (LIST, id3) are of no interest
        return payload

    def finish(self) -> None:
        """End of stream: raise if the header never completed (a partial trailing sample is dropped)."""
        if not self._in_data:
            raise WavError(f"wav: stream ended after {len(self._buffer)} bytes, before the data chunk")
        self._buffer.clear()

    def _parse_header(self) -> None:
        buffer = self._buffer
        if len(buffer) < _RIFF_HEADER.size:
            return
        riff, _size, wave = _RIFF_HEADER.unpack_from(buffer, 0)
        if riff != b"RIFF" or wave != b"WAVE":
            raise WavError(f"wav: expected RIFF....WAVE at byte 0, got {bytes(buffer[:12])!r}")
        offset = _RIFF_HEADER.size
        while len(buffer) >= offset + _CHUNK_HEADER.size:
            chunk_id, chunk_size = _CHUNK_HEADER.unpack_from(buffer, offset)
            body = offset + _CHUNK_HEADER.size
            if chunk_id == b"data":
                if self.format is None:
                    raise WavError("wav: data chunk before the fmt chunk")
                streaming = chunk_size == 0 or chunk_size >= _STREAMING_SIZE_FLOOR
                self._data_left = None if streaming else chunk_size
                del buffer[:body]
                self._in_data = True
                return
            padded = chunk_size + (chunk_size & 1)
            if len(buffer) < body + padded:
                return  # wait for the rest of this chunk
            if chunk_id == b"fmt ":
                self.format = self._read_format(bytes(buffer[body : body + chunk_size]))
            offset = body + padded

    def _read_format(self, body: bytes) -> WavFormat:
        if len(body) < _FMT.size:
            raise WavError(f"wav: fmt chunk is {len(body)} bytes, expected at least {_FMT.size}")
        tag, channels, rate, _byte_rate, _align, bits = _FMT.unpack_from(body, 0)
        if tag not in (_PCM_FORMAT, _EXTENSIBLE_FORMAT) or bits != 16:
            raise WavError(f"wav: only 16-bit PCM is supported, got format tag {tag} with {bits} bits")
        if channels < 1 or rate <= 0:
            raise WavError(f"wav: invalid fmt: {channels} channels at {rate} Hz")
        self._frame_bytes = 2 * channels
        return WavFormat(sample_rate_hz=rate, channels=channels, bits_per_sample=bits)


def read_wav(data: bytes) -> tuple[WavFormat, bytes]:
    """A whole WAV file: its format and its PCM payload."""
    reader = WavStreamReader()
    payload = reader.feed(data)
    reader.finish()
    assert reader.format is not None  # set before header_done
    return reader.format, payload


def wav_header(sample_rate_hz: int, data_bytes: int, channels: int = 1) -> bytes:
    """The canonical 44-byte header of a PCM16 WAV whose data chunk holds `data_bytes`.

    A file written incrementally puts 0 first and rewrites the header with the real size after each flush.
    """
    byte_rate = sample_rate_hz * channels * 2
    fmt = _FMT.pack(_PCM_FORMAT, channels, sample_rate_hz, byte_rate, channels * 2, 16)
    chunks = _CHUNK_HEADER.pack(b"fmt ", len(fmt)) + fmt + _CHUNK_HEADER.pack(b"data", data_bytes)
    return _RIFF_HEADER.pack(b"RIFF", 4 + len(chunks) + data_bytes, b"WAVE") + chunks


WAV_HEADER_BYTES = len(wav_header(8000, 0))  # 44


def encode_wav(pcm16: bytes, sample_rate_hz: int, channels: int = 1) -> bytes:
    """PCM16 little-endian samples wrapped in a canonical 44-byte WAV header."""
    if len(pcm16) % (2 * channels):
        raise WavError(f"wav: {len(pcm16)} bytes is not a whole number of {channels}-channel PCM16 frames")
    return wav_header(sample_rate_hz, len(pcm16), channels) + pcm16
