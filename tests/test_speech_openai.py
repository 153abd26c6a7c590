"""OpenAI transcription and speech through the real SDK, against a local server speaking the audio API."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import socket
import wave
from collections.abc import AsyncIterator

import pytest

from tests.servers.openai_audio_server import (
    OpenAIAudioServer,
    SpeechAudio,
    Transcript,
    rate_limited,
    tone_pcm,
)
from tests.servers.openai_server import http_error, server_error
from voicerouter.audio.pcm import frame_bytes, level_dbfs, pcm16_to_int16
from voicerouter.audio.resample import resample_pcm16
from voicerouter.providers.base import ProviderError
from voicerouter.providers.speech.base import SpeechToText, TextToSpeech
from voicerouter.providers.speech.openai_speech import MAX_SPEECH_INPUT_CHARS, OpenAISpeech, OpenAITranscriber


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[OpenAIAudioServer]:
    async with OpenAIAudioServer() as server:
        yield server
        assert server.unconsumed == 0, f"{server.unconsumed} scripted behaviour(s) were never requested"


def _utterance(seconds: float = 0.5, rate_hz: int = 16000) -> bytes:
    return resample_pcm16(tone_pcm(seconds), 24000, rate_hz)


def _transcriber(server: OpenAIAudioServer, **options: object) -> OpenAITranscriber:
    return OpenAITranscriber(api_key="test-key", base_url=server.base_url, **options)  # type: ignore[arg-type]


def _speech(server: OpenAIAudioServer, **options: object) -> OpenAISpeech:
    return OpenAISpeech(api_key="test-key", base_url=server.base_url, **options)  # type: ignore[arg-type]


# -- transcription --


async def test_transcription_uploads_a_wav_and_returns_text_with_logprob_confidence(
    server: OpenAIAudioServer,
) -> None:
    server.script_transcriptions(Transcript("What time do you open on Saturday?", logprob=-0.1))
    stt = _transcriber(server)
    assert isinstance(stt, SpeechToText)
    result = await stt.transcribe(_utterance(0.5, 16000), 16000)
    await stt.aclose()
    assert result.text == "What time do you open on Saturday?"
    assert result.confidence == pytest.approx(math.exp(-0.1))
    assert result.audio_ms == 500.0 and result.engine == "openai/gpt-4o-mini-transcribe"
    (request,) = server.transcription_requests
    assert request.headers["Authorization"] == "Bearer test-key"
    assert request.one("model") == "gpt-4o-mini-transcribe" and request.one("language") == "en"
    assert request.fields["include[]"] == ["logprobs"] and request.one("response_format") == "json"
    assert request.file is not None and request.file.filename == "utterance.wav"
    assert request.file.content_type == "audio/wav"
    with wave.open(io.BytesIO(request.file.data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (16000, 1, 8000)


async def test_hints_ride_in_the_prompt_or_as_keywords_depending_on_the_model(
    server: OpenAIAudioServer,
) -> None:
    server.script_transcriptions(Transcript("doctor Okafor"), Transcript("doctor Okafor"))
    older = _transcriber(server)
    await older.transcribe(_utterance(), 16000, hints=["Dr. Okafor", "  knee   pain "])
    newer = _transcriber(server, model="gpt-transcribe")
    result = await newer.transcribe(_utterance(), 16000, hints=["Dr. Okafor"])
    await older.aclose()
    await newer.aclose()
    first, second = server.transcription_requests
    assert first.one("prompt") == "Vocabulary: Dr. Okafor, knee pain." and "keywords[]" not in first.fields
    assert second.fields["keywords[]"] == ["Dr. Okafor"] and second.one("prompt") is None
    assert "include[]" not in second.fields  # no log-probabilities from this model: confidence is trusted
    assert result.confidence == 1.0


async def test_empty_transcript_has_zero_confidence(server: OpenAIAudioServer) -> None:
    server.script_transcriptions(Transcript(""))
    stt = _transcriber(server)
    result = await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert result.text == "" and result.confidence == 0.0


async def test_rate_limit_maps_to_rate_limited_with_retry_after_and_no_sdk_retry(
    server: OpenAIAudioServer,
) -> None:
    server.script_transcriptions(rate_limited(retry_after_s=2.5))
    stt = _transcriber(server)
    with pytest.raises(ProviderError) as caught:
        await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert caught.value.kind == "rate_limited" and caught.value.retry_after_s == 2.5
    assert "Rate limit reached" in caught.value.message
    assert len(server.transcription_requests) == 1


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [(server_error(500), "server_error"), (server_error(503), "server_error"),
     (http_error(400, "Invalid file format."), "bad_request")],
)  # fmt: skip
async def test_vendor_failures_map_to_provider_error_kinds(
    server: OpenAIAudioServer, behaviour: object, kind: str
) -> None:
    server.script_transcriptions(behaviour)  # type: ignore[arg-type]
    stt = _transcriber(server)
    with pytest.raises(ProviderError) as caught:
        await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert caught.value.kind == kind and "openai gpt-4o-mini-transcribe" in caught.value.message


async def test_wrong_key_is_an_auth_error(server: OpenAIAudioServer) -> None:
    stt = OpenAITranscriber(api_key="wrong-key", base_url=server.base_url)
    with pytest.raises(ProviderError, match="HTTP 401: Incorrect API key") as caught:
        await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert caught.value.kind == "auth"


async def test_audio_shorter_than_the_api_minimum_is_a_bad_request(server: OpenAIAudioServer) -> None:
    stt = _transcriber(server)
    with pytest.raises(ProviderError, match="too short") as caught:
        await stt.transcribe(_utterance(0.05), 16000)
    await stt.aclose()
    assert caught.value.kind == "bad_request"


async def test_slow_vendor_is_a_timeout(server: OpenAIAudioServer) -> None:
    server.script_transcriptions(Transcript("late", delay_s=2.0))
    stt = _transcriber(server, request_timeout_s=0.2)
    with pytest.raises(ProviderError) as caught:
        await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert caught.value.kind == "timeout"


async def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    stt = OpenAITranscriber(api_key="k", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as caught:
        await stt.transcribe(_utterance(), 16000)
    await stt.aclose()
    assert caught.value.kind == "connection"


# -- speech --


async def test_speech_streams_the_vendor_pcm_in_exact_chunks(server: OpenAIAudioServer) -> None:
    server.script_speech(SpeechAudio(seconds=1.0, chunk_bytes=4801))
    tts = _speech(server, voice="coral", chunk_ms=20)
    assert isinstance(tts, TextToSpeech) and tts.sample_rate_hz == 24000
    chunks = [chunk async for chunk in tts.synthesize("We open at nine on Saturday.")]
    await tts.aclose()
    assert len(chunks) == 50 and all(len(c) == frame_bytes(24000, 20) for c in chunks)
    assert b"".join(chunks) == tone_pcm(1.0)  # odd-sized HTTP chunks re-aligned without losing a byte
    (request,) = server.speech_requests
    assert request.body == {
        "model": "gpt-4o-mini-tts", "voice": "coral", "input": "We open at nine on Saturday.",
        "response_format": "pcm",
    }  # fmt: skip


async def test_speech_is_resampled_on_the_fly_to_the_requested_rate(server: OpenAIAudioServer) -> None:
    server.script_speech(SpeechAudio(seconds=0.6, chunk_bytes=1001))
    tts = _speech(server, sample_rate_hz=8000)
    audio = b"".join([chunk async for chunk in tts.synthesize("Hello.")])
    await tts.aclose()
    assert audio == resample_pcm16(tone_pcm(0.6), 24000, 8000)  # streaming equals one-shot, sample for sample
    assert len(audio) == 2 * 4800 and level_dbfs(pcm16_to_int16(audio)) > -15.0


async def test_text_beyond_the_request_limit_is_sent_as_several_requests(server: OpenAIAudioServer) -> None:
    sentence = "The clinic is open from eight in the morning until six in the evening on weekdays. "
    text = sentence * (2 * MAX_SPEECH_INPUT_CHARS // len(sentence) + 1)
    server.script_speech(SpeechAudio(seconds=0.1), SpeechAudio(seconds=0.1), SpeechAudio(seconds=0.1))
    tts = _speech(server)
    audio = b"".join([chunk async for chunk in tts.synthesize(text)])
    await tts.aclose()
    inputs = [r.body["input"] for r in server.speech_requests]
    assert len(inputs) == 3 and all(len(i) <= MAX_SPEECH_INPUT_CHARS for i in inputs)
    assert " ".join(inputs) == " ".join(text.split())
    assert len(audio) == 3 * len(tone_pcm(0.1))


async def test_empty_text_sends_no_request(server: OpenAIAudioServer) -> None:
    tts = _speech(server)
    assert [chunk async for chunk in tts.synthesize("   ")] == []
    await tts.aclose()
    assert server.speech_requests == []


@pytest.mark.parametrize(
    ("behaviour", "kind", "retry_after_s"),
    [(rate_limited(retry_after_s=7), "rate_limited", 7.0), (server_error(502), "server_error", None),
     (http_error(400, "Invalid value: 'robot'."), "bad_request", None)],
)  # fmt: skip
async def test_speech_failures_map_to_provider_error_kinds(
    server: OpenAIAudioServer, behaviour: object, kind: str, retry_after_s: float | None
) -> None:
    server.script_speech(behaviour)  # type: ignore[arg-type]
    tts = _speech(server)
    with pytest.raises(ProviderError) as caught:
        _ = [chunk async for chunk in tts.synthesize("Hello there.")]
    await tts.aclose()
    assert caught.value.kind == kind and caught.value.retry_after_s == retry_after_s
    assert len(server.speech_requests) == 1


async def test_connection_dropped_mid_audio_is_a_connection_error(server: OpenAIAudioServer) -> None:
    server.script_speech(SpeechAudio(seconds=2.0, drop_after_chunks=2))
    tts = _speech(server)
    received: list[bytes] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in tts.synthesize("Hello there."):
            received.append(chunk)
    await tts.aclose()
    assert caught.value.kind == "connection"
    assert received  # the audio before the drop was already delivered


async def test_stopping_playback_closes_the_vendor_stream(server: OpenAIAudioServer) -> None:
    server.script_speech(SpeechAudio(seconds=30.0, chunk_bytes=4800, chunk_delay_s=0.01))
    tts = _speech(server)
    started = asyncio.Event()

    async def play() -> None:
        async with contextlib.aclosing(tts.synthesize("A very long answer.")) as stream:
            async for _chunk in stream:
                started.set()
                await asyncio.sleep(3600)

    task = asyncio.create_task(play())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()  # barge-in
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await server.wait_until_speech_idle()
    await tts.aclose()
    assert server.speech_streams_aborted == 1
