"""The caller's WebRTC audio as mono PCM16 at 48 kHz: decoded frames in, bytes for the pipeline out.

aiortc's Opus decoder yields packed s16 stereo 48 kHz frames of 960 samples; those take the fast path (an
integer down-mix). Anything else (another codec, rate or layout) goes through PyAV's resampler. It never
buffers, judges or drops audio: what arrives is handed on, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from voicerouter.audio.pcm import int16_to_pcm16, pcm16_to_int16, to_mono
from voicerouter.media.webrtc.track import RATE_HZ

log = logging.getLogger(__name__)


class CallerAudio:
    """Converts one inbound track's frames; keeps a resampler only if the fast path does not apply."""

    def __init__(self) -> None:
        self._resampler: AudioResampler | None = None
        self.frames = 0

    def convert(self, frame: AudioFrame) -> bytes:
        self.frames += 1
        channels = frame.layout.nb_channels
        if frame.format.name == "s16" and frame.sample_rate == RATE_HZ and channels <= 2:
            data = bytes(frame.planes[0])[: frame.samples * channels * 2]  # planes may carry padding
            return data if channels == 1 else int16_to_pcm16(to_mono(pcm16_to_int16(data), channels))
        if self._resampler is None:
            log.info("caller audio arrives as %s %s %d Hz: resampling", frame.format.name,
                     frame.layout.name, frame.sample_rate)  # fmt: skip
            self._resampler = AudioResampler(format="s16", layout="mono", rate=RATE_HZ)
        out = bytearray()
        for converted in self._resampler.resample(frame):
            out += bytes(converted.planes[0])[: converted.samples * 2]
        return bytes(out)


async def pump_caller_audio(track: MediaStreamTrack, deliver: Callable[[bytes], None]) -> int:
    """Hand every frame of `track` to `deliver` until the track ends; returns the frames read."""
    audio = CallerAudio()
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return audio.frames
        if not isinstance(frame, AudioFrame):
            raise TypeError(f"caller track {track.id}: expected audio frames, got {type(frame).__name__}")
        pcm16 = audio.convert(frame)
        if pcm16:
            deliver(pcm16)
