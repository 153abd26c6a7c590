"""Streaming recognition: pocketsphinx decoders in their own worker process, fed while the caller speaks, and
the call-side streamer that keeps one stream per utterance fed byte for byte with what the listener heard."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voicerouter.audio.listener import CallerListener, CallerSpeechStopped, CallerTurnEnded
from voicerouter.audio.settings import AudioConfig
from voicerouter.call.speech_stream import UtteranceStreamer
from voicerouter.providers.speech.base import SpeechError, StreamingSpeechToText, Transcription
from voicerouter.providers.speech.domain import domain_phrases
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT
from voicerouter.providers.speech.sphinx_stream_pool import SphinxStreamPool

needs_espeak = pytest.mark.skipif(not EspeakTTS.available(), reason="espeak-ng binary not on PATH")
RATE_HZ = 16_000
FRAME = RATE_HZ * 2 * 20 // 1000


async def _speak(text: str) -> bytes:
    tts = EspeakTTS(sample_rate_hz=RATE_HZ)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


@pytest.fixture
async def streaming_stt(tmp_path: Path) -> AsyncIterator[PocketsphinxSTT]:
    streams = SphinxStreamPool(workers=1, streams_per_worker=2, name="test-streams")
    stt = PocketsphinxSTT.for_domain(domain_phrases("clinic"), tmp_path, streams=streams)
    try:
        yield stt
    finally:
        await streams.aclose()
        await stt.aclose()


@needs_espeak
async def test_a_stream_knows_the_words_before_it_ends_and_gives_the_final_after(
    streaming_stt: PocketsphinxSTT,
) -> None:
    assert isinstance(streaming_stt, StreamingSpeechToText)
    pcm = await _speak("what time do you open on saturday")
    stream = streaming_stt.open_stream(RATE_HZ)
    assert stream is not None
    for offset in range(0, len(pcm), FRAME):
        stream.feed(pcm[offset : offset + FRAME])
    partial = await stream.hypothesis()  # the worker decoded while the audio came
    assert "open" in partial.text.split() and partial.engine.endswith("domain-partial")
    final = await stream.finish()
    assert {"open", "saturday"} <= set(final.text.split()), final
    assert final.audio_ms == pytest.approx(len(pcm) / 2 / RATE_HZ * 1000)
    with pytest.raises(SpeechError, match="already finished"):
        await stream.finish()
    # the utterance's own cepstral mean follows, to start the same caller's next utterance from
    for _ in range(200):
        if stream.carry is not None:
            break
        await asyncio.sleep(0.05)
    assert stream.carry is not None and len(stream.carry.split(",")) == 13
    following = streaming_stt.open_stream(RATE_HZ, carry=stream.carry)
    assert following is not None
    for offset in range(0, len(pcm), FRAME):
        following.feed(pcm[offset : offset + FRAME])
    assert {"open", "saturday"} <= set((await following.finish()).text.split())


async def test_with_every_decoder_busy_no_stream_opens_until_one_is_cancelled(
    streaming_stt: PocketsphinxSTT,
) -> None:
    first, second = streaming_stt.open_stream(RATE_HZ), streaming_stt.open_stream(RATE_HZ)
    assert first is not None and second is not None
    assert streaming_stt.open_stream(RATE_HZ) is None  # decode that utterance whole instead
    first.cancel()
    third = streaming_stt.open_stream(RATE_HZ)
    assert third is not None
    third.feed(bytes(FRAME * 10))
    assert (await third.finish()).audio_ms == pytest.approx(200)
    second.cancel()


async def test_a_worker_that_dies_fails_its_streams_and_the_next_stream_gets_a_new_worker(
    streaming_stt: PocketsphinxSTT,
) -> None:
    pool = streaming_stt.streams
    assert pool is not None
    stream = streaming_stt.open_stream(RATE_HZ)
    assert stream is not None
    await stream.hypothesis()  # the worker is up
    pid = pool._workers[0].process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(SpeechError, match="streaming worker died") as caught:
        await asyncio.wait_for(stream.finish(), 10.0)
    assert caught.value.kind == "engine_failed"
    again = streaming_stt.open_stream(RATE_HZ)
    assert again is not None and pool._workers[0].process.pid != pid
    again.feed(bytes(FRAME * 5))
    assert (await asyncio.wait_for(again.finish(), 30.0)).audio_ms == pytest.approx(100)


async def test_without_streaming_decoders_the_recogniser_opens_no_stream(tmp_path: Path) -> None:
    stt = PocketsphinxSTT.for_domain(domain_phrases("clinic"), tmp_path)
    try:
        assert stt.open_stream(RATE_HZ) is None
    finally:
        await stt.aclose()


class _RecordingStream:
    carry: str | None = None

    def __init__(self) -> None:
        self.audio = bytearray()
        self.cancelled = False

    def feed(self, pcm16: bytes) -> None:
        self.audio += pcm16

    async def hypothesis(self) -> Transcription:
        return Transcription(text="so far", confidence=0.0, audio_ms=0.0, engine="test")

    async def finish(self) -> Transcription:
        return Transcription(text="all", confidence=0.5, audio_ms=0.0, engine="test")

    def cancel(self) -> None:
        self.cancelled = True


class _StreamingRecogniser:
    name = "recording"

    def __init__(self) -> None:
        self.streams: list[_RecordingStream] = []

    async def transcribe(self, pcm16: bytes, sample_rate_hz: int, *, hints: object = ()) -> Transcription:
        raise AssertionError("a streamed utterance is not decoded whole")

    def open_stream(self, sample_rate_hz: int, *, carry: str | None = None) -> _RecordingStream:
        self.streams.append(_RecordingStream())
        return self.streams[-1]


def _tone(ms: int, rate_hz: int = 8000, loud: bool = True) -> bytes:
    import numpy as np

    t = np.arange(rate_hz * ms // 1000) / rate_hz
    wave = (8000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))) if loud else 0 * t
    return bytes(np.asarray(wave, dtype="<i2").tobytes())


def test_the_streamer_feeds_each_utterance_exactly_the_audio_its_turn_ends_with() -> None:
    listener = CallerListener(AudioConfig(), rate_hz=8000)
    recogniser = _StreamingRecogniser()
    streamer = UtteranceStreamer(recogniser, listener, "call-1")  # type: ignore[arg-type]
    frame = 8000 * 2 * 20 // 1000
    audio = _tone(600, loud=False) + _tone(1200) + _tone(2500, loud=False)
    ended: list[CallerTurnEnded] = []
    stops = 0
    taken = []
    for offset in range(0, len(audio), frame):
        outputs = listener.push(audio[offset : offset + frame])
        streamer.sync()
        for out in outputs:
            stops += isinstance(out, CallerSpeechStopped)
            if isinstance(out, CallerTurnEnded):
                ended.append(out)
                taken.append(streamer.take(out.utterance))
    assert stops >= 1 and len(ended) == 1 and len(recogniser.streams) == 1
    stream = taken[0]
    assert stream is recogniser.streams[0]
    assert bytes(stream.audio) == ended[0].utterance  # pre-roll, speech and pause: nothing lost or doubled
    assert not streamer.streaming and not stream.cancelled
