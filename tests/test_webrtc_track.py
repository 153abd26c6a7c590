"""The WebRTC audio parts on a fake clock: frame pacing without drift, the playout queue, the outbound track
and the conversion of the caller's decoded frames."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voicerouter.audio.pcm import int16_to_pcm16, pcm16_to_int16
from voicerouter.media.webrtc.inbound import CallerAudio
from voicerouter.media.webrtc.track import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    RATE_HZ,
    AgentAudioTrack,
    FramePacer,
    PlayoutQueue,
)

FRAME_S = FRAME_SAMPLES / RATE_HZ


class FakeTime:
    """Monotonic seconds that move only when slept on; each sleep overshoots like a busy event loop does."""

    def __init__(self, overshoot_s: Callable[[], float] = lambda: 0.0) -> None:
        self.now = 1000.0
        self.overshoot_s = overshoot_s
        self.sleeps: list[float] = []

    def now_s(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.overshoot_s()

    def pacer(self) -> FramePacer:
        return FramePacer(now_s=self.now_s, sleep=self.sleep)


def frame_of(value: int) -> bytes:
    return int16_to_pcm16(np.full(FRAME_SAMPLES, value, dtype=np.int16))


# ---- pacing ----


async def test_ten_minutes_of_frames_leave_on_their_timestamps_without_drift() -> None:
    rng = random.Random(7)
    clock = FakeTime(overshoot_s=lambda: rng.uniform(0.0, 0.004))  # up to 4 ms late on every wake-up
    pacer = clock.pacer()
    frames = 10 * 60 * 50
    start = clock.now
    for n in range(frames):
        pts = await pacer.next_pts()
        assert pts == n * FRAME_SAMPLES
        due = start + n * FRAME_S
        assert due <= clock.now <= due + 0.004 + 1e-9, n  # never early, never more late than one wake-up
    assert clock.now - start == pytest.approx((frames - 1) * FRAME_S, abs=0.004)
    assert pacer.resyncs == 0


async def test_a_short_stall_is_caught_up_on_the_same_timeline() -> None:
    clock = FakeTime()
    pacer = clock.pacer()
    start = clock.now
    for _ in range(100):
        await pacer.next_pts()
    clock.now += 0.1  # the loop was blocked for 100 ms: five slots passed
    sleeps_before = len(clock.sleeps)
    for _ in range(5):
        await pacer.next_pts()
    assert len(clock.sleeps) == sleeps_before  # the missed frames go out at once
    pts = await pacer.next_pts()
    assert clock.now == pytest.approx(start + pts / RATE_HZ)  # and the timeline did not move
    assert pacer.resyncs == 0


async def test_a_long_stall_restarts_the_timeline_instead_of_bursting() -> None:
    clock = FakeTime()
    pacer = clock.pacer()
    for _ in range(10):
        await pacer.next_pts()
    clock.now += 1.0
    stalled_pts = await pacer.next_pts()
    restarted_at = clock.now
    times = []
    for _ in range(3):
        await pacer.next_pts()
        times.append(clock.now)
    assert pacer.resyncs == 1
    assert times == pytest.approx([restarted_at + k * FRAME_S for k in (1, 2, 3)])  # no burst after the stall
    assert pacer.pts == stalled_pts + 3 * FRAME_SAMPLES  # timestamps stay contiguous


# ---- playout queue ----


def test_empty_queue_plays_silence() -> None:
    assert PlayoutQueue().pop() is None


def test_a_lone_first_frame_waits_one_slot_so_jitter_cannot_cut_a_gap() -> None:
    queue = PlayoutQueue()
    queue.push(frame_of(1))
    assert queue.pop() is None  # it might be the first of a talkspurt whose next frame is a hair late
    queue.push(frame_of(2))
    assert queue.pop() == frame_of(1)
    assert queue.pop() == frame_of(2)
    assert queue.pop() is None and not queue.playing


def test_a_talkspurt_with_a_frame_in_hand_starts_at_once_and_plays_in_order() -> None:
    queue = PlayoutQueue()
    for value in (1, 2, 3):
        queue.push(frame_of(value))
    assert [queue.pop() for _ in range(3)] == [frame_of(1), frame_of(2), frame_of(3)]


def test_a_single_short_frame_still_plays_after_waiting_a_slot() -> None:
    queue = PlayoutQueue()
    queue.push(frame_of(5))
    assert queue.pop() is None
    assert queue.pop() == frame_of(5)


def test_clear_drops_everything_queued_at_once() -> None:
    queue = PlayoutQueue()
    for value in range(10):
        queue.push(frame_of(value))
    assert queue.pop() == frame_of(0)
    assert queue.clear() == 9
    assert queue.pop() is None and len(queue) == 0 and queue.dropped_frames == 9


def test_a_queue_nobody_reads_keeps_only_the_newest_frames() -> None:
    queue = PlayoutQueue(max_frames=3)
    for value in range(5):
        queue.push(frame_of(value))
    assert len(queue) == 3 and queue.dropped_frames == 2
    assert queue.pop() == frame_of(2)


# ---- outbound track ----


async def test_track_sends_20ms_mono_48khz_frames_with_contiguous_timestamps() -> None:
    track = AgentAudioTrack(FakeTime().pacer())
    frames = [await track.recv() for _ in range(3)]
    for n, frame in enumerate(frames):
        assert (frame.format.name, frame.layout.name, frame.sample_rate) == ("s16", "mono", RATE_HZ)
        assert frame.samples == FRAME_SAMPLES and frame.pts == n * FRAME_SAMPLES
        assert not pcm16_to_int16(bytes(frame.planes[0])[:FRAME_BYTES]).any()  # silence between turns


async def test_track_reframes_agent_audio_and_clear_silences_it_on_the_next_frame() -> None:
    track = AgentAudioTrack(FakeTime().pacer())
    speech = frame_of(1000) * 6
    track.enqueue(speech[:777])  # arbitrary chunk sizes, as resampled TTS arrives
    track.enqueue(speech[777:])
    played = [bytes((await track.recv()).planes[0])[:FRAME_BYTES] for _ in range(3)]
    assert played == [frame_of(1000)] * 3
    assert track.clear() == 3  # barge-in: the rest never plays
    after = bytes((await track.recv()).planes[0])[:FRAME_BYTES]
    assert after == bytes(FRAME_BYTES)
    assert track.speech_frames_sent == 3 and track.frames_sent == 4


async def test_stopped_track_ends_the_senders_loop() -> None:
    track = AgentAudioTrack(FakeTime().pacer())
    await track.recv()
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
    track.enqueue(frame_of(1))
    assert len(track.queue) == 0


# ---- caller audio ----


def audio_frame(samples: np.ndarray, layout: str, rate_hz: int, fmt: str = "s16") -> AudioFrame:
    frame = AudioFrame.from_ndarray(samples, format=fmt, layout=layout)
    frame.sample_rate = rate_hz
    return frame


def test_decoded_opus_stereo_is_mixed_down_to_mono() -> None:
    left = np.full(FRAME_SAMPLES, 1000, dtype=np.int16)
    right = np.full(FRAME_SAMPLES, 3000, dtype=np.int16)
    interleaved = np.stack([left, right], axis=1).reshape(1, -1)
    pcm16 = CallerAudio().convert(audio_frame(interleaved, "stereo", RATE_HZ))
    assert len(pcm16) == FRAME_BYTES
    assert set(pcm16_to_int16(pcm16).tolist()) == {2000}


def test_mono_frames_pass_through_unchanged() -> None:
    samples = np.arange(FRAME_SAMPLES, dtype=np.int16).reshape(1, -1)
    assert CallerAudio().convert(audio_frame(samples, "mono", RATE_HZ)) == int16_to_pcm16(samples[0])


def test_other_formats_and_rates_are_resampled_to_48khz_mono_pcm16() -> None:
    audio = CallerAudio()
    tone = (0.5 * np.sin(np.arange(4410) * 2 * np.pi * 440 / 44100)).astype(np.float32).reshape(1, -1)
    out = bytearray()
    for _ in range(10):  # 1 s of float 44.1 kHz audio, as another codec might decode it
        out += audio.convert(audio_frame(tone, "mono", 44100, fmt="flt"))
    seconds = len(out) / 2 / RATE_HZ
    assert 0.9 <= seconds <= 1.0
    level = np.abs(pcm16_to_int16(bytes(out))[4800:]).max()
    assert 15000 < level < 17500  # the tone's 0.5 amplitude survives as about 16384
