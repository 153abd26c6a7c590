"""One side of a call's audio saved as a PCM16 WAV file, written incrementally and crash-safely.

The header is written first and its sizes are patched after every flush, so the file on disk is a valid WAV
holding all audio up to the last flush even if the process dies. File I/O runs in a worker thread, never on
the event loop; between flushes audio waits in memory.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO

from voicerouter.audio.wav import wav_header


class WavTrack:
    """Appends mono PCM16 at `sample_rate_hz`; `pad_to()` inserts silence to keep the track on the call's
    timeline when audio is sent in bursts (the agent's side)."""

    def __init__(self, path: Path, sample_rate_hz: int) -> None:
        self.path = path
        self.sample_rate_hz = sample_rate_hz
        self._pending = bytearray()
        self._written_bytes = 0
        self._file: BinaryIO | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def samples(self) -> int:
        return (self._written_bytes + len(self._pending)) // 2

    def append(self, pcm16: bytes) -> None:
        if not self._closed:
            self._pending += pcm16

    def pad_to(self, total_samples: int) -> None:
        """Silence up to `total_samples` from the start of the track (nothing if already that long)."""
        missing = total_samples - self.samples
        if missing > 0 and not self._closed:
            self._pending += bytes(2 * missing)

    async def flush(self) -> None:
        async with self._lock:
            if self._closed or (not self._pending and self._file is not None):
                return
            data = bytes(self._pending)
            self._pending.clear()
            await asyncio.to_thread(self._write, data)

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            data = bytes(self._pending)
            self._pending.clear()
            await asyncio.to_thread(self._write, data, True)

    async def abandon(self) -> None:
        """Stop after a write error: drop the audio waiting in memory and close the file without writing."""
        async with self._lock:
            self._closed = True
            self._pending.clear()
            handle, self._file = self._file, None
        if handle is not None:
            await asyncio.to_thread(_close_quietly, handle)

    def _write(self, data: bytes, final: bool = False) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
            self._file.write(wav_header(self.sample_rate_hz, 0))
        handle = self._file
        handle.write(data)
        self._written_bytes += len(data)
        handle.seek(0)
        handle.write(wav_header(self.sample_rate_hz, self._written_bytes))
        handle.seek(0, os.SEEK_END)
        handle.flush()
        if final:
            os.fsync(handle.fileno())
            handle.close()
            self._file = None


def _close_quietly(handle: BinaryIO) -> None:
    try:
        handle.close()
    except OSError:
        pass  # the buffered bytes that failed to write are the ones being given up
