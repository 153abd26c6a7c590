"""OpenAI speech-to-text (`/v1/audio/transcriptions`, WAV upload) and text-to-speech (`/v1/audio/speech`, raw
24 kHz PCM streamed) through the official SDK.

Vendor failures become `ProviderError` kinds the router understands; it never retries (the SDK's retries are
off), never falls back to another engine, and never leaves a response open after its consumer stops reading.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import AsyncGenerator, Mapping, Sequence

import httpx2
import openai
from openai.types.audio import Transcription as VendorTranscription

from voicerouter.audio.pcm import FrameBuffer, frame_bytes
from voicerouter.audio.resample import Resampler
from voicerouter.audio.wav import encode_wav
from voicerouter.providers.base import ProviderError
from voicerouter.providers.speech.base import SpeechToText, Transcription
from voicerouter.providers.speech.registry import SttService
from voicerouter.providers.speech.sentences import split_sentences
from voicerouter.providers.vendor_wire import describe_failure, kind_for_status, retry_after_s

PCM_RATE_HZ = 24_000  # `response_format="pcm"` is always 24 kHz, 16-bit, mono, little-endian
MAX_SPEECH_INPUT_CHARS = 4096  # the API rejects longer `input`
# Models that return token log-probabilities (our confidence) when asked with include=["logprobs"].
_LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
# Models that take `keywords` for vocabulary biasing; the others get the hints in `prompt`.
_KEYWORD_MODELS = ("gpt-transcribe",)


def _client(api_key: str, base_url: str | None, timeout_s: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)


def provider_error(exc: BaseException, where: str) -> ProviderError:
    """An SDK or transport failure as a router-facing ProviderError, with its vendor message."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        detail = body.get("message") if isinstance(body, dict) else None
        return ProviderError(
            kind_for_status(exc.status_code),
            f"{where}: HTTP {exc.status_code}: {detail or exc.message}",
            retry_after_s=retry_after_s(exc.response.headers),
        )
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return ProviderError("timeout", f"{where}: no response within the request timeout")
    if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError):
        return ProviderError("connection", f"{where}: {describe_failure(exc)}")
    return ProviderError("server_error", f"{where}: {describe_failure(exc)}")


class OpenAITranscriber:
    """`SpeechToText` over OpenAI's transcription models (default `gpt-4o-mini-transcribe`).

    Confidence is the geometric mean of token probabilities when the model reports log-probabilities; for
    models that report none it is 1.0 for a non-empty text (the vendor is trusted) and 0.0 for silence.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini-transcribe",
        language: str | None = "en",
        request_timeout_s: float = 15.0,
        name: str = "openai",
    ) -> None:
        self.name = name
        self.model = model
        self.language = language
        self._where = f"{name} {model} ({base_url or 'api.openai.com'})"
        self._client = _client(api_key, base_url, request_timeout_s)

    async def aclose(self) -> None:
        await self._client.close()

    async def transcribe(
        self, pcm16: bytes, sample_rate_hz: int, *, hints: Sequence[str] = ()
    ) -> Transcription:
        if sample_rate_hz <= 0 or len(pcm16) % 2:
            raise ProviderError(
                "bad_request",
                f"{self._where}: need whole PCM16 samples at a positive rate, got "
                f"{len(pcm16)} bytes at {sample_rate_hz} Hz",
            )
        audio_ms = len(pcm16) / 2 * 1000.0 / sample_rate_hz
        wants_logprobs = self.model.startswith(_LOGPROB_MODELS)
        words = [" ".join(h.split()) for h in hints if h.strip()]
        uses_keywords = self.model.startswith(_KEYWORD_MODELS)
        try:
            result = await self._client.audio.transcriptions.create(
                file=("utterance.wav", encode_wav(pcm16, sample_rate_hz), "audio/wav"),
                model=self.model,
                response_format="json",
                language=self.language if self.language else openai.omit,
                include=["logprobs"] if wants_logprobs else openai.omit,
                keywords=words if words and uses_keywords else openai.omit,
                prompt=f"Vocabulary: {', '.join(words)}." if words and not uses_keywords else openai.omit,
            )
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise provider_error(exc, self._where) from exc
        text = " ".join(result.text.split())
        return Transcription(
            text=text, confidence=_confidence(result, text), audio_ms=audio_ms, engine=f"openai/{self.model}"
        )


def _confidence(result: VendorTranscription, text: str) -> float:
    if not text:
        return 0.0
    logprobs = [p.logprob for p in result.logprobs or () if p.logprob is not None]
    if not logprobs:
        return 1.0
    return max(0.0, min(1.0, math.exp(sum(logprobs) / len(logprobs))))


class OpenAISpeech:
    """`TextToSpeech` over OpenAI's speech models, streamed as raw PCM while the vendor generates it.

    The API always sends 24 kHz; another `sample_rate_hz` is reached with the streaming resampler, so chunks
    flow at once. Chunks are exactly `chunk_ms` long, the last of a reply possibly shorter. Text longer than
    one request allows is sent as several requests cut at sentence ends.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        instructions: str | None = None,
        speed: float | None = None,
        sample_rate_hz: int = PCM_RATE_HZ,
        chunk_ms: int = 40,
        request_timeout_s: float = 15.0,
        name: str = "openai",
    ) -> None:
        if not 20 <= chunk_ms <= 100:
            raise ValueError(f"{name}: chunk_ms must be within 20-100, got {chunk_ms}")
        self.name = name
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.speed = speed
        self.sample_rate_hz = sample_rate_hz
        self.chunk_ms = chunk_ms
        self.chunk_bytes = frame_bytes(sample_rate_hz, chunk_ms)
        self._where = f"{name} {model} ({base_url or 'api.openai.com'})"
        self._client = _client(api_key, base_url, request_timeout_s)

    async def aclose(self) -> None:
        await self._client.close()

    def at_rate(self, sample_rate_hz: int) -> OpenAISpeech:
        """This voice at another rate, sharing its HTTP client (closing either closes both)."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        voice = copy.copy(self)
        voice.sample_rate_hz = sample_rate_hz
        voice.chunk_bytes = frame_bytes(sample_rate_hz, self.chunk_ms)
        return voice

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield PCM16 chunks as they arrive.

        Iterate it inside `contextlib.aclosing(...)`: then closing it, or cancelling the task iterating it,
        closes the HTTP response before that returns (the vendor stops generating).
        """
        chunker = FrameBuffer(self.chunk_bytes)
        for request_text in _requests(text):
            async with contextlib.aclosing(self._stream(request_text)) as pieces:
                async for pcm in pieces:
                    for chunk in chunker.push(pcm):
                        yield chunk
        tail = chunker.flush()
        if tail:
            yield tail

    async def _stream(self, text: str) -> AsyncGenerator[bytes, None]:
        resampler = Resampler(PCM_RATE_HZ, self.sample_rate_hz)
        odd = b""  # HTTP chunks need not end on a sample boundary
        try:
            async with self._client.audio.speech.with_streaming_response.create(
                model=self.model,
                voice=self.voice,
                input=text,
                response_format="pcm",
                instructions=self.instructions if self.instructions else openai.omit,
                speed=self.speed if self.speed is not None else openai.omit,
            ) as response:
                async for data in response.iter_bytes():
                    data = odd + data
                    whole = len(data) - len(data) % 2
                    odd = data[whole:]
                    pcm = resampler.process_pcm16(data[:whole]) if whole else b""
                    if pcm:
                        yield pcm
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise provider_error(exc, self._where) from exc
        tail = resampler.flush_pcm16()
        if tail:
            yield tail


def _requests(text: str) -> list[str]:
    """`text` in pieces the API accepts, cut at sentence ends; empty text needs no request."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return []
    if len(cleaned) <= MAX_SPEECH_INPUT_CHARS:
        return [cleaned]
    pieces: list[str] = []
    current = ""
    for sentence in _bounded(split_sentences(cleaned, max_chars=MAX_SPEECH_INPUT_CHARS // 4)):
        if current and len(current) + 1 + len(sentence) > MAX_SPEECH_INPUT_CHARS:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def _bounded(sentences: list[str]) -> list[str]:
    """Sentences with no punctuation to cut at are cut between words instead."""
    out: list[str] = []
    for sentence in sentences:
        while len(sentence) > MAX_SPEECH_INPUT_CHARS:
            cut = sentence.rfind(" ", 0, MAX_SPEECH_INPUT_CHARS)
            cut = cut if cut > 0 else MAX_SPEECH_INPUT_CHARS
            out.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if sentence:
            out.append(sentence)
    return out


def stt_service(env: Mapping[str, str]) -> SttService:
    """The `STT` registry's "openai" entry: one transcriber serves every agent."""
    base_url = env.get("OPENAI_BASE_URL") or None
    transcriber = OpenAITranscriber(api_key=env["OPENAI_API_KEY"], base_url=base_url)

    async def build(agent: str) -> SpeechToText:
        return transcriber

    return SttService(build, transcriber.aclose)


def tts_service(env: Mapping[str, str], sample_rate_hz: int) -> OpenAISpeech:
    """The `TTS` registry's "openai" entry."""
    base_url = env.get("OPENAI_BASE_URL") or None
    return OpenAISpeech(api_key=env["OPENAI_API_KEY"], base_url=base_url, sample_rate_hz=sample_rate_hz)
