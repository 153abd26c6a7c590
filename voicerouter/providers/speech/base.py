"""The shapes every speech engine shows the media layer: PCM16 in, `Transcription` out; text in, PCM16 out.

Engines translate their own failures to `SpeechError` (offline engines) or `ProviderError` (vendor APIs); they
never retry, never fall back to another engine and never touch the network unless they are a vendor adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

SpeechErrorKind = Literal["unavailable", "bad_input", "overloaded", "engine_failed"]


class SpeechError(Exception):
    """An offline speech engine could not do its job.

    `unavailable`: the engine is not installed (binary or model missing); `bad_input`: the audio or text
    cannot be processed as given; `overloaded`: the bounded work queue is full, so the caller should answer
    without this result rather than wait; `engine_failed`: the engine crashed or returned garbage.
    """

    def __init__(self, kind: SpeechErrorKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Transcription(BaseModel):
    """What a recogniser heard in one utterance."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="lower-case words for offline engines; the vendor's text otherwise")
    confidence: float = Field(ge=0.0, le=1.0, description="engine's own estimate; 0.0 when it heard nothing")
    audio_ms: float = Field(ge=0.0, description="length of the audio transcribed")
    engine: str = Field(description="which engine and model produced it, e.g. 'pocketsphinx/domain'")
    alternatives: tuple[str, ...] = Field(
        default=(),
        description="other readings of the same audio, likeliest first (an offline engine's N-best list): "
        "the end of turn holds a pause when one of them sounds unfinished; empty when the engine gives none",
    )


@runtime_checkable
class SpeechToText(Protocol):
    """Turns one finished utterance into text; one instance serves many calls at once."""

    name: str

    async def transcribe(
        self, pcm16: bytes, sample_rate_hz: int, *, hints: Sequence[str] = ()
    ) -> Transcription:
        """Mono PCM16 little-endian audio in; `hints` are words or phrases the caller is likely to say now
        (a name being spelled, the options just offered). Raises SpeechError or ProviderError."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    """Turns agent text into audio as a stream, so playback can start before synthesis ends."""

    name: str
    sample_rate_hz: int

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """Yield mono PCM16 little-endian chunks at `sample_rate_hz`, each as soon as it exists.

        Stopping early (closing the iterator or cancelling the consumer) stops the synthesis and frees its
        resources. Raises SpeechError or ProviderError.
        """
        ...


@runtime_checkable
class AnyRateTextToSpeech(TextToSpeech, Protocol):
    """A voice that can deliver at whatever rate a call's transport runs, so its audio is resampled once."""

    def at_rate(self, sample_rate_hz: int) -> TextToSpeech:
        """The same voice (sharing its processes or client) delivering at `sample_rate_hz`."""
        ...


class SpeechStream(Protocol):
    """One utterance recognised while it is spoken: audio goes in as it arrives, so the words are known at
    the pause and the final result follows the last audio at once."""

    @property
    def carry(self) -> str | None:
        """Soon after `finish`: what this utterance taught the recogniser about the caller's channel, to
        open their next stream with (`StreamingSpeechToText.open_stream(carry=...)`); None until then."""
        ...

    def feed(self, pcm16: bytes) -> None:
        """More of the utterance (mono PCM16 at the stream's rate); never waits."""
        ...

    async def hypothesis(self) -> Transcription:
        """The words so far. Raises SpeechError when the stream broke."""
        ...

    async def finish(self) -> Transcription:
        """End the utterance: its final transcription. Raises SpeechError when the stream broke."""
        ...

    def cancel(self) -> None:
        """Drop the utterance; nothing more will be asked of this stream."""
        ...


@runtime_checkable
class StreamingSpeechToText(SpeechToText, Protocol):
    """A recogniser that can also decode while the caller speaks."""

    def open_stream(self, sample_rate_hz: int, *, carry: str | None = None) -> SpeechStream | None:
        """A stream for a new utterance, or None when none is free now: then `transcribe` the utterance.
        `carry` is the same caller's previous stream's `carry`."""
        ...
