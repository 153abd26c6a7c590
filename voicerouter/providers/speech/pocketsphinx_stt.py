"""Offline speech-to-text with pocketsphinx, biased to an agent's domain by a language model built from its
phrases, with the stock English model as a fallback for utterances the domain model cannot place.

Decoding never runs on the event loop (it runs in a `SphinxPool` of worker processes, see there for why) and
nothing is downloaded: the acoustic model, dictionary and stock model ship inside the pocketsphinx wheel.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from voicerouter.providers.speech.base import SpeechError, SpeechStream, SpeechToText, Transcription
from voicerouter.providers.speech.registry import SttService
from voicerouter.providers.speech.sphinx_lm import (
    DomainModel,
    build_domain_model,
    stock_acoustic_model,
    stock_dictionary,
    stock_language_model,
)
from voicerouter.providers.speech.sphinx_pool import SphinxPool
from voicerouter.providers.speech.sphinx_stream_pool import SphinxStream, SphinxStreamPool
from voicerouter.providers.speech.sphinx_stream_worker import StreamSetup
from voicerouter.providers.speech.sphinx_worker import (
    BuildJob,
    DecodeJob,
    DecodeResult,
    DecoderSetup,
    build,
    decode,
    warm_up,
)

log = logging.getLogger(__name__)

MIN_RATE_HZ = 8_000
MAX_RATE_HZ = 48_000
DEFAULT_PAD_MS = 300  # quiet before and after: without it, words at the edges of a clip get lost
DEFAULT_FALLBACK_BELOW = 0.3  # per-word posterior under which the stock model gets a second try
# Below this rate (phone-band audio) the stock model never decodes a whole utterance again: on held-out
# espeak-ng questions at 8 kHz its second opinion did not help (word accuracy 0.307 with it, 0.315 without for
# the clinic; 0.349 and 0.412 for the helpdesk) and took decoding from 0.17x to 0.70-0.78x real time, a second
# or more of silence on a long turn. At 16 kHz it still helps a little (0.577 -> 0.592, 0.592 -> 0.606).
SECOND_OPINION_MIN_RATE_HZ = 16_000
DEFAULT_MAX_AUDIO_S = 60.0  # one caller turn; longer input is a media-layer bug, not an utterance
_MAX_HINT_MODELS = 16


class PocketsphinxSTT:
    """`SpeechToText` over pocketsphinx; one instance serves every call of one agent.

    With a domain model, each utterance is decoded against it first; when its confidence (the geometric
    mean of per-word posteriors) is below `fallback_below`, the stock model decodes it too and the more
    confident answer wins, so an off-script sentence is not forced into domain words (wideband audio only:
    `fallback_for`). `hints` passed to `transcribe` are added to the domain phrases with extra weight, in a
    model built once per distinct hint list (in a worker, cached on disk).
    """

    def __init__(
        self,
        model: DomainModel | None = None,
        *,
        phrases: Sequence[str] = (),
        cache_dir: Path | None = None,
        pool: SphinxPool | None = None,
        fallback_below: float = DEFAULT_FALLBACK_BELOW,
        pad_ms: int = DEFAULT_PAD_MS,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        name: str = "pocketsphinx",
        streams: SphinxStreamPool | None = None,
    ) -> None:
        if not 0.0 <= fallback_below <= 1.0:
            raise ValueError(f"{name}: fallback_below must be within [0, 1], got {fallback_below}")
        if pad_ms < 0 or max_audio_s <= 0:
            raise ValueError(f"{name}: pad_ms must be >= 0 and max_audio_s > 0, got {pad_ms}, {max_audio_s}")
        self.name = name
        self.model = model
        self.phrases = tuple(phrases)
        self.cache_dir = cache_dir
        self.fallback_below = fallback_below
        self.pad_ms = pad_ms
        self.max_audio_s = max_audio_s
        self.setup = DecoderSetup(
            acoustic_model=str(stock_acoustic_model()),
            dictionary=str(stock_dictionary()),
            stock_lm=str(stock_language_model()),
        )
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else SphinxPool(name=name)
        self._hint_models: OrderedDict[tuple[str, ...], DomainModel] = OrderedDict()
        self.streams = streams

    @classmethod
    def for_domain(
        cls,
        phrases: Iterable[str],
        cache_dir: Path | None = None,
        *,
        pool: SphinxPool | None = None,
        fallback_below: float = DEFAULT_FALLBACK_BELOW,
        pad_ms: int = DEFAULT_PAD_MS,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        name: str = "pocketsphinx",
        streams: SphinxStreamPool | None = None,
    ) -> PocketsphinxSTT:
        """A recogniser biased to `phrases` (see `domain_phrases`). Builds the model now, on this thread:
        tens of milliseconds, or none when cached; call it at start-up, not inside a call."""
        phrase_list = tuple(phrases)
        model = build_domain_model(phrase_list, cache_dir)
        return cls(
            model,
            phrases=phrase_list,
            cache_dir=cache_dir,
            pool=pool,
            fallback_below=fallback_below,
            pad_ms=pad_ms,
            max_audio_s=max_audio_s,
            name=name,
            streams=streams,
        )

    async def warm_up(self) -> None:
        """Start the worker, load the decoder and the domain model: the first utterance then skips ~1-4 s."""
        lm, extra = self._model_paths(self.model)
        await self.pool.run(warm_up, self.setup, lm, extra)
        stream = self.open_stream(16_000)
        if stream is not None:  # start the streaming worker and load its decoder with this domain's search
            stream.feed(bytes(3200))
            await stream.finish()

    async def aclose(self) -> None:
        if self._owns_pool:
            await self.pool.aclose()

    async def transcribe(
        self, pcm16: bytes, sample_rate_hz: int, *, hints: Sequence[str] = ()
    ) -> Transcription:
        self._check_audio(pcm16, sample_rate_hz)
        if not pcm16:
            return Transcription(text="", confidence=0.0, audio_ms=0.0, engine=f"{self.name}/none")
        model = await self._model_for(hints)
        try:
            result = await self._decode(pcm16, sample_rate_hz, model, self.fallback_for(sample_rate_hz))
        except (RuntimeError, OSError, ValueError) as exc:  # raised by pocketsphinx inside the worker
            raise SpeechError("engine_failed", f"{self.name}: decoding failed: {exc}") from exc
        log.debug(
            "%s: %.0f ms of audio decoded in %.0f ms by the %s model",
            self.name, result.audio_ms, result.decode_ms, result.search,
        )  # fmt: skip
        return Transcription(
            text=result.text,
            confidence=round(result.confidence, 4),
            audio_ms=result.audio_ms,
            engine=f"{self.name}/{result.search}",
            alternatives=result.alternatives,
        )

    def fallback_for(self, sample_rate_hz: int) -> float:
        """The confidence under which the stock model decodes a whole utterance too: never on phone-band
        audio, where it is slower and no better (see SECOND_OPINION_MIN_RATE_HZ). A stream's one-pass final
        still gets it at every rate: at 8 kHz it lifted streamed word accuracy from 0.24 to 0.33."""
        return self.fallback_below if sample_rate_hz >= SECOND_OPINION_MIN_RATE_HZ else 0.0

    @property
    def saturated(self) -> bool:
        """Every decoding worker is busy (the pool is shared by every agent's recogniser)."""
        return self.pool.saturated

    def open_stream(self, sample_rate_hz: int, *, carry: str | None = None) -> SpeechStream | None:
        """Decode an utterance while it is spoken, with the domain model (None without one, or without a
        free streaming decoder: then `transcribe` it whole)."""
        if self.streams is None or self.model is None or not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
            return None
        lm, extra = self._model_paths(self.model)
        assert lm is not None
        setup = StreamSetup(acoustic_model=self.setup.acoustic_model, dictionary=self.setup.dictionary,
                            lm_path=lm, extra_dict_path=extra, sample_rate_hz=sample_rate_hz,
                            pad_ms=self.pad_ms, cmn=carry)  # fmt: skip
        stream = self.streams.open(setup)
        return None if stream is None else _PocketsphinxStream(self, stream, sample_rate_hz)

    async def _decode(
        self, pcm16: bytes, sample_rate_hz: int, model: DomainModel | None, fallback_below: float
    ) -> DecodeResult:
        """One whole decode in a worker: `model` first (the stock model alone when None)."""
        lm, extra = self._model_paths(model)
        job = DecodeJob(pcm16=bytes(pcm16), sample_rate_hz=sample_rate_hz, setup=self.setup, lm_path=lm,
                        extra_dict_path=extra, fallback_below=fallback_below, pad_ms=self.pad_ms)  # fmt: skip
        result: DecodeResult = await self.pool.run(decode, job)
        return result

    def _check_audio(self, pcm16: bytes, sample_rate_hz: int) -> None:
        if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
            raise SpeechError(
                "bad_input",
                f"{self.name}: sample rate {sample_rate_hz} Hz outside {MIN_RATE_HZ}-{MAX_RATE_HZ}",
            )
        if len(pcm16) % 2:
            raise SpeechError("bad_input", f"{self.name}: {len(pcm16)} bytes is not whole PCM16 samples")
        seconds = len(pcm16) / 2 / sample_rate_hz
        if seconds > self.max_audio_s:
            raise SpeechError(
                "bad_input", f"{self.name}: {seconds:.1f} s of audio exceeds the {self.max_audio_s:g} s limit"
            )

    async def _model_for(self, hints: Sequence[str]) -> DomainModel | None:
        key = tuple(" ".join(h.split()) for h in hints if h.strip())
        if not key:
            return self.model
        cached = self._hint_models.get(key)
        if cached is not None:
            self._hint_models.move_to_end(key)
            return cached
        job = BuildJob(
            phrases=self.phrases, cache_dir=str(self.cache_dir) if self.cache_dir else None, boost=key
        )
        try:
            model: DomainModel = await self.pool.run(build, job)
        except ValueError:  # no hint (and no phrase) has a pronounceable word: decode without hints
            return self.model
        self._hint_models[key] = model
        if len(self._hint_models) > _MAX_HINT_MODELS:
            self._hint_models.popitem(last=False)
        return model

    @staticmethod
    def _model_paths(model: DomainModel | None) -> tuple[str | None, str | None]:
        if model is None:
            return None, None
        return str(model.lm_path), str(model.extra_dict_path)


class _PocketsphinxStream:
    """A `SpeechStream` over a streaming decoder, with the batch recogniser's stock-model second opinion: a
    final result less sure than `fallback_below` is decoded again whole by the stock model, the more
    confident answer winning, as `transcribe` does."""

    def __init__(self, stt: PocketsphinxSTT, stream: SphinxStream, sample_rate_hz: int) -> None:
        self.stt = stt
        self.stream = stream
        self.sample_rate_hz = sample_rate_hz
        self.audio = bytearray()

    def feed(self, pcm16: bytes) -> None:
        if len(self.audio) + len(pcm16) > self.stt.max_audio_s * self.sample_rate_hz * 2:
            return  # past one turn's limit the media layer ends the turn; the rest is not decoded
        self.audio += pcm16
        self.stream.feed(pcm16)

    async def hypothesis(self) -> Transcription:
        text, confidence = await self.stream.hypothesis()
        return Transcription(text=text, confidence=confidence, audio_ms=self._audio_ms(),
                             engine=f"{self.stt.name}/domain-partial")  # fmt: skip

    async def finish(self) -> Transcription:
        result = await self.stream.finish()
        label = "domain-stream"
        if result.confidence < self.stt.fallback_below and self.audio:  # at every rate: see fallback_for
            try:
                stock = await self.stt._decode(bytes(self.audio), self.sample_rate_hz, None, 0.0)
            except SpeechError as exc:  # the stock model's opinion is optional: keep the domain result
                log.info("%s: stock second opinion skipped: %s", self.stt.name, exc)
            else:
                if stock.confidence > result.confidence:
                    result, label = stock, "stock"
        log.debug("%s: %.0f ms streamed, final %.0f ms after the last audio (%s)", self.stt.name,
                  result.audio_ms, result.decode_ms, label)  # fmt: skip
        return Transcription(text=result.text, confidence=round(result.confidence, 4),
                             audio_ms=self._audio_ms(), engine=f"{self.stt.name}/{label}")  # fmt: skip

    @property
    def carry(self) -> str | None:
        """The utterance's cepstral mean, a moment after `finish` (measured once the final has gone)."""
        return self.stream.carry

    def cancel(self) -> None:
        self.stream.cancel()

    def _audio_ms(self) -> float:
        return len(self.audio) / 2 * 1000.0 / self.sample_rate_hz


def stt_service(env: Mapping[str, str]) -> SttService:
    """The `STT` registry's "offline" entry: a recogniser per agent, biased to its domain, built off the event
    loop; all of them share one worker pool."""
    from voicerouter.providers.speech.domain import domain_phrases
    from voicerouter.providers.speech.registry import env_number
    from voicerouter.providers.speech.sphinx_pool import DEFAULT_QUEUE_DEADLINE_S

    deadline_s = env_number(env, "VOICEROUTER_STT_QUEUE_S", float) or DEFAULT_QUEUE_DEADLINE_S
    pool = SphinxPool(name="pocketsphinx", workers=env_number(env, "VOICEROUTER_STT_WORKERS", int),
                      queue_deadline_s=deadline_s)  # fmt: skip
    streaming = env.get("VOICEROUTER_STT_STREAMING", "0").strip().lower() in ("1", "true", "yes", "on")
    streams = SphinxStreamPool(workers=pool.workers, name="pocketsphinx") if streaming else None
    how = "streaming while the caller speaks" if streams else "whole utterances"
    log.info("speech recognition: %d pocketsphinx worker(s), queue deadline %g s, %s", pool.workers,
             pool.queue_deadline_s, how)  # fmt: skip

    async def build(agent: str) -> SpeechToText:
        stt = await asyncio.to_thread(
            lambda: PocketsphinxSTT.for_domain(
                domain_phrases(agent), pool=pool, name=f"pocketsphinx:{agent}", streams=streams
            )
        )
        await stt.warm_up()
        return stt

    async def close() -> None:
        await pool.aclose()
        if streams is not None:
            await streams.aclose()

    return SttService(build, close)
