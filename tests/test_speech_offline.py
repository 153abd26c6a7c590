"""Offline speech end to end: espeak-ng speaks, pocketsphinx (in its worker process) listens.

Tests that need the espeak-ng binary skip with the install hint when it is missing; the recogniser tests share
one module-wide instance, because starting a worker and loading the stock model costs seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voicerouter.audio.pcm import frame_bytes, level_dbfs, pcm16_to_int16
from voicerouter.providers.speech.base import SpeechError, SpeechToText, TextToSpeech
from voicerouter.providers.speech.domain import domain_phrases
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT
from voicerouter.providers.speech.sphinx_pool import SphinxPool

needs_espeak = pytest.mark.skipif(
    not EspeakTTS.available(),
    reason="espeak-ng binary not on PATH (install it with `apt-get install espeak-ng`)",
)


@pytest.fixture(scope="module")
def clinic_stt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PocketsphinxSTT]:
    """One recogniser (one worker process) for the module; its pool binds no event loop, so it can serve
    every test's own loop."""
    stt = PocketsphinxSTT.for_domain(domain_phrases("clinic"), tmp_path_factory.mktemp("speech-cache"))
    yield stt
    asyncio.run(stt.aclose())


async def _speak(text: str, rate_hz: int) -> bytes:
    tts = EspeakTTS(sample_rate_hz=rate_hz)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


# -- text to speech --


def test_engines_satisfy_the_speech_protocols(clinic_stt: PocketsphinxSTT) -> None:
    assert isinstance(clinic_stt, SpeechToText)
    if EspeakTTS.available():
        assert isinstance(EspeakTTS(), TextToSpeech)


@needs_espeak
@pytest.mark.parametrize("rate_hz", [8000, 16000, 24000, 48000])
async def test_tts_streams_audible_pcm_in_exact_chunks_at_the_requested_rate(rate_hz: int) -> None:
    tts = EspeakTTS(sample_rate_hz=rate_hz, chunk_ms=40)
    chunks = [chunk async for chunk in tts.synthesize("Thanks for calling. We open at nine on Saturday.")]
    size = frame_bytes(rate_hz, 40)
    assert len(chunks) > 10
    assert all(len(chunk) == size for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= size
    samples = pcm16_to_int16(b"".join(chunks))
    seconds = len(samples) / rate_hz
    assert 2.0 < seconds < 6.0  # about 13 syllables at 170 words per minute, plus a pause
    assert level_dbfs(samples) > -35.0
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * rate_hz / len(samples)
    assert 80 < peak_hz < 4000  # voice energy where a voice has it: the rate is what the header claimed


@needs_espeak
async def test_tts_of_empty_text_yields_nothing_and_starts_no_process() -> None:
    tts = EspeakTTS()
    assert [chunk async for chunk in tts.synthesize("  \n ")] == []
    assert not tts.running


@needs_espeak
async def test_cancelling_synthesis_kills_and_reaps_the_espeak_process() -> None:
    tts = EspeakTTS(chunk_ms=20)
    first_chunk = asyncio.Event()
    pids: list[int] = []

    async def play() -> None:
        text = "This sentence is long enough to still be running. " * 40
        async with contextlib.aclosing(tts.synthesize(text)) as stream:
            async for _chunk in stream:
                pids.extend(p.pid for p in tts.running)
                first_chunk.set()
                await asyncio.sleep(3600)  # a slow consumer: playback paced in real time

    task = asyncio.create_task(play())
    await asyncio.wait_for(first_chunk.wait(), 10)
    assert pids and tts.running
    task.cancel()  # barge-in
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not tts.running
    with pytest.raises(ProcessLookupError):  # killed and reaped: not even a zombie keeps the pid
        os.kill(pids[0], 0)


@needs_espeak
async def test_an_abandoned_stream_is_cleaned_up_when_dropped() -> None:
    tts = EspeakTTS()
    stream = tts.synthesize("A consumer that forgets to close its stream. " * 40)
    await anext(stream)
    pid = next(iter(tts.running)).pid
    del stream  # the event loop's async-generator finaliser closes it
    async with asyncio.timeout(5):
        while tts.running:  # noqa: ASYNC110 - cleanup runs in a task the loop schedules
            await asyncio.sleep(0.01)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@needs_espeak
async def test_closing_the_stream_early_kills_the_process() -> None:
    tts = EspeakTTS()
    stream = tts.synthesize("First sentence here. " * 50)
    await anext(stream)
    running = list(tts.running)
    assert running and running[0].returncode is None
    await stream.aclose()
    assert not tts.running and running[0].returncode is not None


@needs_espeak
async def test_a_stream_whose_reader_stopped_mid_sentence_still_closes_and_reaps() -> None:
    """A hang-up while a long sentence is synthesised: the consumer stopped reading, espeak-ng's stdout pipe
    filled and was paused. Closing must still kill and reap it (a bare `wait()` there never returns)."""
    tts = EspeakTTS()
    sentence = "This one sentence runs on and on without a break " + "and then it goes on further " * 30 + "."
    stream = tts.synthesize(sentence)
    await anext(stream)
    process = next(iter(tts.running))
    async with asyncio.timeout(10):  # let espeak-ng fill the stream buffer until reading is paused
        while process.returncode is None and not process.stdout._paused:  # type: ignore[union-attr]  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    async with asyncio.timeout(5):  # a hang here is the bug; a reap takes milliseconds
        await stream.aclose()
    assert not tts.running and process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


def test_missing_binary_is_a_clear_unavailable_error() -> None:
    with pytest.raises(SpeechError, match="apt-get install espeak-ng") as caught:
        EspeakTTS(binary="espeak-ng-not-installed")
    assert caught.value.kind == "unavailable"


@needs_espeak
async def test_unknown_voice_fails_with_espeak_message() -> None:
    tts = EspeakTTS(voice="xx-nonexistent")
    with pytest.raises(SpeechError, match="voice does not exist") as caught:
        _ = [chunk async for chunk in tts.synthesize("hello")]
    assert caught.value.kind == "engine_failed" and not tts.running


# -- speech to text --


@needs_espeak
@pytest.mark.parametrize("rate_hz", [8000, 16000, 48000])
async def test_clinic_domain_model_hears_opening_hours_question(
    clinic_stt: PocketsphinxSTT, rate_hz: int
) -> None:
    pcm = await _speak("what time do you open on saturday", rate_hz)
    result = await clinic_stt.transcribe(pcm, rate_hz)
    words = result.text.split()
    assert "open" in words and "saturday" in words, result
    assert result.engine == "pocketsphinx/domain"
    assert 0.3 < result.confidence <= 1.0
    assert result.audio_ms == pytest.approx(len(pcm) / 2 / rate_hz * 1000)


@needs_espeak
async def test_transcription_runs_off_the_event_loop(clinic_stt: PocketsphinxSTT) -> None:
    pcm = await _speak("i would like to book an appointment with doctor chen next monday morning", 16000)
    await clinic_stt.transcribe(pcm[:3200], 16000)  # worker and decoder loaded before we count
    ticks = 0
    decoding = asyncio.create_task(clinic_stt.transcribe(pcm, 16000))
    started = time.perf_counter()
    while not decoding.done():
        await asyncio.sleep(0.005)
        ticks += 1
    elapsed_s = time.perf_counter() - started
    result = decoding.result()
    assert "appointment" in result.text.split()
    # Decoding this utterance takes a few hundred ms of CPU; on the loop there would be one tick at most.
    assert ticks >= 5, f"{ticks} ticks in {elapsed_s:.3f} s"


@needs_espeak
async def test_a_result_does_not_depend_on_what_the_worker_decoded_before(
    clinic_stt: PocketsphinxSTT,
) -> None:
    question = await _speak("can i book an appointment for tuesday", 16000)
    other_call = await _speak("my laptop will not turn on and the screen is black", 16000)
    first = await clinic_stt.transcribe(question, 16000)
    await clinic_stt.transcribe(other_call, 16000)
    again = await clinic_stt.transcribe(question, 16000)
    assert again == first


@needs_espeak
async def test_hints_build_a_biased_model_and_still_transcribe(clinic_stt: PocketsphinxSTT) -> None:
    assert clinic_stt.cache_dir is not None
    cache = Path(clinic_stt.cache_dir)
    before = set(await asyncio.to_thread(lambda: list(cache.glob("*.arpa"))))
    pcm = await _speak("what time do you open on saturday", 16000)
    result = await clinic_stt.transcribe(pcm, 16000, hints=["open on saturday", "saturday morning"])
    assert {"open", "saturday"} <= set(result.text.split())
    after = set(await asyncio.to_thread(lambda: list(cache.glob("*.arpa"))))
    assert len(after - before) == 1


@needs_espeak
async def test_a_transcription_carries_the_other_readings_the_recogniser_weighed(
    clinic_stt: PocketsphinxSTT,
) -> None:
    # a sentence cut at a pause ends in a short word the recogniser is unsure of: its N-best list says so
    pcm = await _speak("can you move my appointment to", 8000)
    result = await clinic_stt.transcribe(pcm, 8000)
    assert result.text.startswith("can you move my appointment"), result
    assert 1 <= len(result.alternatives) <= 4, result
    assert result.text not in result.alternatives
    assert len(set(result.alternatives)) == len(result.alternatives)
    assert all(reading.startswith("can you move my") for reading in result.alternatives), result


async def test_silence_transcribes_to_nothing(clinic_stt: PocketsphinxSTT) -> None:
    result = await clinic_stt.transcribe(bytes(32000), 16000)
    assert result.text == "" and result.confidence == 0.0 and result.audio_ms == 1000.0
    assert result.alternatives == ()
    empty = await clinic_stt.transcribe(b"", 16000)
    assert empty.text == "" and empty.audio_ms == 0.0


async def test_malformed_audio_is_rejected_before_reaching_the_worker(clinic_stt: PocketsphinxSTT) -> None:
    with pytest.raises(SpeechError, match="whole PCM16 samples") as odd:
        await clinic_stt.transcribe(b"\x00\x01\x02", 16000)
    with pytest.raises(SpeechError, match="sample rate 4000 Hz") as slow:
        await clinic_stt.transcribe(bytes(800), 4000)
    with pytest.raises(SpeechError, match="exceeds the 60 s limit") as long:
        await clinic_stt.transcribe(bytes(16000 * 2 * 61), 16000)
    assert odd.value.kind == slow.value.kind == long.value.kind == "bad_input"


@needs_espeak
async def test_without_a_domain_model_the_stock_model_answers(tmp_path: Path) -> None:
    stt = PocketsphinxSTT(None, pool=SphinxPool(name="stock-only"))
    try:
        pcm = await _speak("good morning", 16000)
        result = await stt.transcribe(pcm, 16000)
    finally:
        await stt.aclose()
    assert result.engine == "pocketsphinx/stock"
    assert "morning" in result.text.split()


async def test_phone_band_audio_gets_no_stock_second_opinion(
    clinic_stt: PocketsphinxSTT, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 8 kHz the stock model is slower and no better, so it is never asked; at 16 kHz it still is."""
    asked: list[tuple[int, float]] = []
    decode = clinic_stt._decode

    async def spy(pcm16: bytes, rate_hz: int, model: object, fallback_below: float) -> object:
        asked.append((rate_hz, fallback_below))
        return await decode(pcm16, rate_hz, model, fallback_below)  # type: ignore[arg-type]

    monkeypatch.setattr(clinic_stt, "_decode", spy)
    for rate_hz in (8000, 16000):
        await clinic_stt.transcribe(bytes(rate_hz), rate_hz)  # half a second of silence
    assert asked == [(8000, 0.0), (16000, clinic_stt.fallback_below)]
    assert clinic_stt.fallback_below > 0.0


# -- the worker pool --


async def test_pool_refuses_work_beyond_its_bound_instead_of_queueing_it() -> None:
    pool = SphinxPool(workers=1, max_queued=1, queue_deadline_s=60.0, name="bounded")  # the bound, not time
    try:
        first = asyncio.create_task(pool.run(time.sleep, 0.5))
        second = asyncio.create_task(pool.run(time.sleep, 0.0))
        await asyncio.sleep(0)
        with pytest.raises(SpeechError, match="capacity 2") as caught:
            await pool.run(time.sleep, 0.0)
        assert caught.value.kind == "overloaded"
        await asyncio.gather(first, second)
        assert pool.pending == 0
        await pool.run(time.sleep, 0.0)  # room again once the queue drained
    finally:
        await pool.aclose()


async def test_a_job_that_cannot_start_within_the_queue_deadline_is_overloaded_and_leaves_the_queue() -> None:
    pool = SphinxPool(workers=1, queue_deadline_s=0.2, name="deadline")
    try:
        await pool.run(abs, -1)  # worker started
        busy = asyncio.create_task(pool.run(time.sleep, 1.0))
        await asyncio.sleep(0)
        with pytest.raises(SpeechError, match=r"no worker free within 0.2 s \(0 jobs ahead") as caught:
            await pool.run(abs, -2)
        assert caught.value.kind == "overloaded"
        assert pool.pending == 1  # the given-up job holds nothing
        await busy
        assert await pool.run(abs, -3) == 3  # the slot came back
        assert pool.pending == 0
    finally:
        await pool.aclose()


async def test_waiting_jobs_start_in_arrival_order() -> None:
    pool = SphinxPool(workers=1, queue_deadline_s=60.0, name="order")
    try:
        await pool.run(abs, -1)
        busy = asyncio.create_task(pool.run(time.sleep, 0.3))
        await asyncio.sleep(0)
        started = await asyncio.gather(*(pool.run(time.time) for _ in range(4)))
        await busy
        assert started == sorted(started)
    finally:
        await pool.aclose()


def test_the_default_pool_leaves_a_core_for_the_event_loop() -> None:
    cores = len(os.sched_getaffinity(0))
    assert SphinxPool().workers == max(1, min(4, cores - 1))


async def test_cancelled_caller_keeps_its_slot_until_the_worker_finishes() -> None:
    pool = SphinxPool(workers=1, max_queued=0, name="cancel")
    try:
        await pool.run(time.sleep, 0.0)  # worker started
        job = asyncio.create_task(pool.run(time.sleep, 0.3))
        await asyncio.sleep(0.05)
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        assert pool.pending == 1  # the decoder cannot be interrupted: its slot stays taken
        async with asyncio.timeout(5):
            while pool.pending:  # noqa: ASYNC110 - the slot frees on the executor's thread
                await asyncio.sleep(0.01)
    finally:
        await pool.aclose()


async def test_a_crashed_worker_is_reported_and_replaced() -> None:
    pool = SphinxPool(workers=1, max_queued=0, name="crash")
    try:
        with pytest.raises(SpeechError, match="worker process died") as caught:
            await pool.run(os._exit, 3)
        assert caught.value.kind == "engine_failed"
        assert await pool.run(abs, -4) == 4
    finally:
        await pool.aclose()
