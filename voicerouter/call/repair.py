"""Bring recording files cut short (by a crash or a failed write) back to valid files: WAV headers that match
the audio on disk, and JSONL files without a torn last line.

Repairs only shrink or rewrite bytes already on disk (a header in place, a truncate), so they work on a full
disk. Blocking file I/O: call them from a worker thread. They never decide anything about the call.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

WAV_HEADER_BYTES = 44
_RIFF = struct.Struct("<4sI4s")
_CHUNK = struct.Struct("<4sI")
_CANONICAL_FMT = struct.Struct("<4sI4s4sIHHIIHH4sI")


def repair_wav_header(path: Path) -> bool:
    """Make the RIFF and data sizes of a canonical 44-byte-header PCM WAV match the bytes on disk.

    Returns True when the header was rewritten. A file too short for its header, or not laid out as the
    recorder writes it (RIFF, fmt, data), is left alone.
    """
    with path.open("r+b") as handle:
        header = handle.read(WAV_HEADER_BYTES)
        if len(header) < WAV_HEADER_BYTES:
            return False
        riff, riff_size, wave, fmt_id, fmt_size, *fmt, data_id, data_size = _CANONICAL_FMT.unpack(header)
        if riff != b"RIFF" or wave != b"WAVE" or fmt_id != b"fmt " or fmt_size != 16 or data_id != b"data":
            return False
        block_align = fmt[4] or 1  # fmt: format tag, channels, rate, byte rate, block align, bits
        on_disk = os.fstat(handle.fileno()).st_size - WAV_HEADER_BYTES
        on_disk -= on_disk % block_align
        if data_size == on_disk and riff_size == 36 + on_disk:
            return False
        handle.seek(4)
        handle.write(struct.pack("<I", 36 + on_disk))
        handle.seek(40)
        handle.write(struct.pack("<I", on_disk))
        handle.truncate(WAV_HEADER_BYTES + on_disk)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def wav_header_matches(path: Path) -> bool:
    """True when a WAV file's RIFF and data sizes agree with its length on disk (what a reader trusts)."""
    with path.open("rb") as handle:
        header = handle.read(WAV_HEADER_BYTES)
        size = os.fstat(handle.fileno()).st_size
    if len(header) < WAV_HEADER_BYTES:
        return False
    riff, riff_size, wave = _RIFF.unpack_from(header, 0)
    data_id, data_size = _CHUNK.unpack_from(header, 36)
    return (
        (riff, wave, data_id) == (b"RIFF", b"WAVE", b"data")
        and riff_size == size - 8
        and (data_size == size - WAV_HEADER_BYTES)
    )


def trim_torn_line(path: Path) -> bool:
    """Cut a JSONL file back to its last complete line; returns True when something was cut."""
    with path.open("r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return False
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return False
        keep = 0
        step = 64 * 1024
        end = size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - step)
            handle.seek(start)
            chunk = handle.read(end - start)
            found = chunk.rfind(b"\n")
            if found >= 0:
                keep = start + found + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return True
