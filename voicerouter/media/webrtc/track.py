"""The agent's voice as a WebRTC audio track: queued 20 ms frames, paced against their own timestamps.

Frame n is due at `start + n × 20 ms`, computed from the integer sample count, so scheduling jitter never
accumulates into drift over a long call. It plays what the call queued and silence otherwise; it never
decides what to say or when to stop (the call's pipeline does), and `clear()` drops queued audio at once.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicerouter.audio.pcm import FrameBuffer, frame_samples

log = logging.getLogger(__name__)

RATE_HZ = 48_000  # Opus runs at 48 kHz; the pipeline resamples the agent's voice to it once
FRAME_MS = 20
FRAME_SAMPLES = frame_samples(RATE_HZ, FRAME_MS)  # 960
FRAME_BYTES = FRAME_SAMPLES * 2
RESYNC_LATE_S = 0.2  # a track this far behind restarts its timeline rather than burst the backlog out
MAX_QUEUED_FRAMES = 500  # 10 s: the pipeline paces its frames, so a longer queue means nobody is reading


class FramePacer:
    """When each frame is due. `next_pts()` waits for the next slot and returns its timestamp in samples.

    Due times come from `start + (pts - origin) / rate`, recomputed from integers for every frame, so a
    ten-minute call ends within one sleep's overshoot of ten minutes. A frame a little late is sent at
    once (the next ones catch up to the timeline); after a stall longer than `resync_s` the timeline
    restarts at now, so the receiver gets no burst of stale frames. Timestamps stay contiguous either way.
    """

    def __init__(
        self,
        *,
        rate_hz: int = RATE_HZ,
        frame_samples: int = FRAME_SAMPLES,
        now_s: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        resync_s: float = RESYNC_LATE_S,
    ) -> None:
        self.rate_hz = rate_hz
        self.frame_samples = frame_samples
        self._now_s = now_s
        self._sleep = sleep
        self._resync_s = resync_s
        self._start_s: float | None = None
        self._origin_pts = 0
        self.pts = -frame_samples  # the first frame gets 0
        self.resyncs = 0

    def due_s(self, pts: int) -> float:
        """The monotonic time frame `pts` is due (the timeline starts with the first frame)."""
        if self._start_s is None:
            raise RuntimeError("FramePacer.due_s: the timeline starts with the first next_pts()")
        return self._start_s + (pts - self._origin_pts) / self.rate_hz

    async def next_pts(self) -> int:
        self.pts += self.frame_samples
        if self._start_s is None:
            self._start_s = self._now_s()
            self._origin_pts = self.pts
            return self.pts
        wait_s = self.due_s(self.pts) - self._now_s()
        if wait_s > 0:
            await self._sleep(wait_s)
        elif -wait_s > self._resync_s:
            self._start_s = self._now_s()
            self._origin_pts = self.pts
            self.resyncs += 1
        return self.pts


class PlayoutQueue:
    """Agent frames waiting for their slot (sans-I/O: one `pop()` per slot, no clock).

    The pipeline and the track each pace 20 ms frames on their own timelines; if a talkspurt started the
    moment its first frame arrived, a millisecond of scheduling jitter could cut a 20 ms gap into speech.
    So a talkspurt starts only with a frame in hand beyond the one played, or once its first frame has
    waited a whole slot: one frame (20 ms) of extra latency buys gap-free speech.
    """

    def __init__(self, *, max_frames: int = MAX_QUEUED_FRAMES) -> None:
        self._frames: deque[bytes] = deque()
        self._max_frames = max_frames
        self._playing = False
        self._waited_slots = 0
        self.dropped_frames = 0  # by clear() or overflow

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def playing(self) -> bool:
        return self._playing

    def push(self, frame: bytes) -> None:
        if len(self._frames) >= self._max_frames:
            self._frames.popleft()
            self.dropped_frames += 1
        self._frames.append(frame)

    def pop(self) -> bytes | None:
        """The frame for this slot, or None for silence."""
        if not self._frames:
            self._playing = False
            self._waited_slots = 0
            return None
        if not self._playing:
            if len(self._frames) < 2 and self._waited_slots < 1:
                self._waited_slots += 1
                return None
            self._playing = True
            self._waited_slots = 0
        return self._frames.popleft()

    def clear(self) -> int:
        """Drop every queued frame now; returns how many were dropped."""
        dropped = len(self._frames)
        self._frames.clear()
        self._playing = False
        self._waited_slots = 0
        self.dropped_frames += dropped
        return dropped


class AgentAudioTrack(MediaStreamTrack):
    """Outbound mono PCM16 at 48 kHz in 20 ms frames; aiortc's sender pulls it through `recv()`."""

    kind = "audio"

    def __init__(self, pacer: FramePacer | None = None, *, max_frames: int = MAX_QUEUED_FRAMES) -> None:
        super().__init__()
        self.pacer = pacer or FramePacer()
        self.queue = PlayoutQueue(max_frames=max_frames)
        self._framer = FrameBuffer(FRAME_BYTES)
        self._silence = bytes(FRAME_BYTES)
        self._time_base = fractions.Fraction(1, RATE_HZ)
        self.frames_sent = 0
        self.speech_frames_sent = 0

    def enqueue(self, pcm16: bytes) -> None:
        """Queue agent audio (mono PCM16 at 48 kHz, any length) to play after what is queued."""
        if self.readyState != "live":
            return
        for frame in self._framer.push(pcm16):
            self.queue.push(frame)

    def clear(self) -> int:
        """Barge-in: drop every frame not yet played, including a partial one."""
        self._framer.clear()
        return self.queue.clear()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self.pacer.next_pts()
        if self.readyState != "live":  # stopped while waiting for the slot
            raise MediaStreamError
        pcm16 = self.queue.pop()
        self.frames_sent += 1
        if pcm16 is None:
            pcm16 = self._silence
        else:
            self.speech_frames_sent += 1
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm16)
        frame.pts = pts
        frame.sample_rate = RATE_HZ
        frame.time_base = self._time_base
        return frame

    def stop(self) -> None:
        self.clear()
        super().stop()
