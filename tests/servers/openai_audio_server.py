"""A local server that speaks OpenAI's audio endpoints: `POST /v1/audio/transcriptions` (multipart upload,
JSON answer with optional log-probabilities and usage) and `POST /v1/audio/speech` (raw 24 kHz PCM, chunked).

It checks requests as the real API does (auth, required fields, a readable audio file, input length) and
never reaches the network; each request consumes the next scripted behaviour for its endpoint.
"""

from __future__ import annotations

import asyncio
import io
import math
import wave
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from aiohttp import BodyPartReader, web

from tests.servers.openai_server import http_error
from tests.servers.scripted import HttpError

PCM_RATE_HZ = 24_000
SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}
_AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_SPEECH_INPUT_CHARS = 4096


@dataclass(frozen=True)
class Transcript:
    """A transcription answer; every token gets `logprob` when the client asks for log-probabilities."""

    text: str
    logprob: float = -0.05
    delay_s: float = 0.0


@dataclass(frozen=True)
class SpeechAudio:
    """A speech answer: `pcm` (24 kHz PCM16), or a tone as long as `seconds`, sent in `chunk_bytes` pieces.

    `chunk_bytes` is odd by default, as real chunked bodies are: clients must not assume sample alignment.
    """

    pcm: bytes | None = None
    seconds: float = 1.0
    chunk_bytes: int = 4801
    chunk_delay_s: float = 0.0
    drop_after_chunks: int | None = None  # close the connection mid-body
    stall_after_chunks: int | None = None  # stop sending, keep the connection open

    def body(self) -> bytes:
        if self.pcm is not None:
            return self.pcm
        return tone_pcm(self.seconds)


def tone_pcm(seconds: float, frequency_hz: float = 220.0) -> bytes:
    """A 24 kHz PCM16 sine at about -10 dBFS: easy to check for level and rate on the client side."""
    t = np.arange(round(seconds * PCM_RATE_HZ)) / PCM_RATE_HZ
    return (np.sin(2 * math.pi * frequency_hz * t) * 10000).astype("<i2").tobytes()


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class TranscriptionRequest:
    headers: dict[str, str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    file: UploadedFile | None = None

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


@dataclass
class SpeechRequest:
    headers: dict[str, str]
    body: dict[str, Any]


def rate_limited(retry_after_s: float = 2.0) -> HttpError:
    """429 as the audio endpoints send it: error JSON plus `Retry-After` in seconds."""
    message = "Rate limit reached for gpt-4o-mini-transcribe on requests per min (RPM): Limit 50, Used 50."
    body = {"error": {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    return HttpError(429, body, {"retry-after": f"{retry_after_s:g}", "x-ratelimit-remaining-requests": "0"})


class OpenAIAudioServer:
    """An aiohttp app on 127.0.0.1 and a free port; `base_url` is what the SDK client takes."""

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.transcription_requests: list[TranscriptionRequest] = []
        self.speech_requests: list[SpeechRequest] = []
        self.speech_streams_open = 0
        self.speech_streams_aborted = 0
        self._transcriptions: deque[Transcript | HttpError] = deque()
        self._speech: deque[SpeechAudio | HttpError] = deque()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=25 * 1024 * 1024)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/audio/speech", self._speak)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("OpenAIAudioServer is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def unconsumed(self) -> int:
        return len(self._transcriptions) + len(self._speech)

    def script_transcriptions(self, *behaviours: Transcript | HttpError) -> None:
        self._transcriptions.extend(behaviours)

    def script_speech(self, *behaviours: SpeechAudio | HttpError) -> None:
        self._speech.extend(behaviours)

    async def wait_until_speech_idle(self, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.speech_streams_open:  # noqa: ASYNC110 - aiohttp has no close signal to await
                await asyncio.sleep(0.01)

    # -- transcriptions --

    async def _transcribe(self, request: web.Request) -> web.Response:
        recorded = TranscriptionRequest(headers=dict(request.headers))
        failure = self._auth_error(request)
        if failure is None:
            failure = await self._read_multipart(request, recorded)
        self.transcription_requests.append(recorded)
        failure = failure or self._transcription_error(recorded)
        if failure is not None:
            return _error_response(failure)
        behaviour = self._transcriptions.popleft() if self._transcriptions else _unscripted()
        if isinstance(behaviour, HttpError):
            return _error_response(behaviour)
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        return web.json_response(
            _transcription_body(behaviour, recorded), headers={"x-request-id": "req_local"}
        )

    async def _read_multipart(self, request: web.Request, recorded: TranscriptionRequest) -> HttpError | None:
        if not request.content_type.startswith("multipart/form-data"):
            return http_error(400, "Expected a multipart/form-data request body.")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read(decode=False)
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                recorded.file = UploadedFile(part.filename, content_type, bytes(data))
            else:
                recorded.fields.setdefault(part.name, []).append(await part.text())
        return None

    def _transcription_error(self, recorded: TranscriptionRequest) -> HttpError | None:
        if recorded.file is None:
            return http_error(400, "Missing required parameter: 'file'.", code="missing_required_parameter")
        if not recorded.one("model"):
            return http_error(400, "you must provide a model parameter")
        extension = recorded.file.filename.rsplit(".", 1)[-1].lower()
        if extension not in _AUDIO_EXTENSIONS:
            formats = ", ".join(f"'{e}'" for e in _AUDIO_EXTENSIONS)
            return http_error(
                400, f"Invalid file format. Supported formats: [{formats}]", code="invalid_value"
            )
        if extension == "wav":
            try:
                with wave.open(io.BytesIO(recorded.file.data)) as wav:
                    seconds = wav.getnframes() / wav.getframerate()
            except (wave.Error, EOFError, ZeroDivisionError):
                return http_error(400, "Audio file might be corrupted or unsupported", code="invalid_value")
            if seconds < 0.1:
                return http_error(
                    400,
                    "Audio file is too short. Minimum audio length is 0.1 seconds.",
                    code="audio_too_short",
                )
        return None

    # -- speech --

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error_response(http_error(400, "We could not parse the JSON body of your request."))
        self.speech_requests.append(SpeechRequest(dict(request.headers), body))
        failure = self._auth_error(request) or _speech_error(body)
        if failure is not None:
            return _error_response(failure)
        behaviour = self._speech.popleft() if self._speech else _unscripted()
        if isinstance(behaviour, HttpError):
            return _error_response(behaviour)
        return await self._stream_audio(request, behaviour)

    async def _stream_audio(self, request: web.Request, audio: SpeechAudio) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "audio/pcm", "x-request-id": "req_local"}
        )
        response.enable_chunked_encoding()
        self.speech_streams_open += 1
        finished = False
        try:
            await response.prepare(request)
            data = audio.body()
            for index, start in enumerate(range(0, len(data), audio.chunk_bytes)):
                if index == audio.stall_after_chunks:
                    await asyncio.sleep(3600)
                if index == audio.drop_after_chunks:
                    assert request.transport is not None
                    request.transport.close()
                    await asyncio.sleep(3600)  # cancelled when aiohttp sees the connection drop
                await response.write(data[start : start + audio.chunk_bytes])
                if audio.chunk_delay_s:
                    await asyncio.sleep(audio.chunk_delay_s)
            await response.write_eof()
            finished = True
            return response
        finally:
            self.speech_streams_open -= 1
            if not finished:
                self.speech_streams_aborted += 1

    def _auth_error(self, request: web.Request) -> HttpError | None:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        message = "Incorrect API key provided: wrong-key. You can find your API key at https://platform.openai.com/account/api-keys."
        return http_error(401, message, code="invalid_api_key")


def _speech_error(body: dict[str, Any]) -> HttpError | None:
    if not body.get("model"):
        return http_error(400, "you must provide a model parameter")
    text = body.get("input")
    if not isinstance(text, str) or not text:
        return http_error(400, "Missing required parameter: 'input'.", code="missing_required_parameter")
    if len(text) > MAX_SPEECH_INPUT_CHARS:
        message = (
            f"[{{'type': 'string_too_long', 'loc': ('body', 'input'), "
            f"'msg': 'String should have at most {MAX_SPEECH_INPUT_CHARS} characters'}}]"
        )
        return http_error(400, message)
    if not body.get("voice"):
        return http_error(400, "Missing required parameter: 'voice'.", code="missing_required_parameter")
    if body.get("response_format", "mp3") not in SPEECH_FORMATS:
        return http_error(
            400,
            f"Invalid value: '{body['response_format']}'. "
            "Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'.",
        )
    if body.get("response_format") != "pcm":
        return http_error(400, "test server: only response_format='pcm' is implemented")
    return None


def _transcription_body(reply: Transcript, recorded: TranscriptionRequest) -> dict[str, Any]:
    tokens = reply.text.split(" ")
    body: dict[str, Any] = {"text": reply.text}
    if "logprobs" in recorded.fields.get("include[]", []):
        body["logprobs"] = [
            {"token": (" " if i else "") + token, "logprob": reply.logprob, "bytes": list(token.encode())}
            for i, token in enumerate(tokens)
            if token
        ]
    audio_tokens = max(1, len(recorded.file.data) // 3200) if recorded.file else 1
    body["usage"] = {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": len(tokens),
        "total_tokens": audio_tokens + len(tokens),
    }
    return body


def _unscripted() -> HttpError:
    return HttpError(
        500,
        {"error": {"message": "test server: no scripted behaviour left", "type": "server_error",
                   "param": None, "code": None}},
    )  # fmt: skip


def _error_response(error: HttpError) -> web.Response:
    return web.json_response(
        error.body, status=error.status, headers={"x-request-id": "req_local", **error.headers}
    )
