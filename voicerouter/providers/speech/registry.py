"""The speech engines one server shares across its calls: a recogniser per agent and one voice.

Offline (pocketsphinx biased to each agent's domain, espeak-ng) unless an OpenAI key is set and chosen.
Recognisers are built lazily per agent off the event loop and reused; it never builds one inside a call's
audio path more than once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Literal, TypeVar

from voicerouter.providers.speech.base import SpeechToText, TextToSpeech

log = logging.getLogger(__name__)

SpeechMode = Literal["auto", "offline", "openai"]
TTS_RATE_HZ = 16_000  # synthesised once per sentence, resampled per call to the transport's rate


class SpeechEngines:
    def __init__(
        self,
        tts: TextToSpeech,
        build_stt: Callable[[str], Coroutine[Any, Any, SpeechToText]],
        *,
        closers: tuple[Callable[[], Awaitable[None]], ...] = (),
    ) -> None:
        self.tts = tts
        self._build_stt = build_stt
        self._stt: dict[str, asyncio.Task[SpeechToText]] = {}
        self._closers = closers

    async def stt_for(self, agent: str) -> SpeechToText:
        """The recogniser for `agent`, built on first use (concurrent first calls share one build)."""
        task = self._stt.get(agent)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.get_running_loop().create_task(self._build_stt(agent), name=f"stt for {agent}")
            self._stt[agent] = task
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        closed = {id(getattr(close, "__self__", None)) for close in self._closers}  # closed below
        for task in self._stt.values():
            if not task.done():
                task.cancel()
                continue
            stt = None if task.cancelled() or task.exception() else task.result()
            closer = getattr(stt, "aclose", None)
            if closer is not None and id(stt) not in closed:
                closed.add(id(stt))
                await closer()
        for close in self._closers:
            await close()


def offline_engines(*, workers: int | None = None, queue_deadline_s: float | None = None) -> SpeechEngines:
    """pocketsphinx with a domain language model per agent (one shared worker pool) and espeak-ng.

    `workers` defaults to what the machine affords, `queue_deadline_s` to the pool's (see SphinxPool)."""
    from voicerouter.providers.speech.domain import domain_phrases
    from voicerouter.providers.speech.espeak_tts import EspeakTTS
    from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT
    from voicerouter.providers.speech.sphinx_pool import DEFAULT_QUEUE_DEADLINE_S, SphinxPool

    pool = SphinxPool(name="pocketsphinx", workers=workers,
                      queue_deadline_s=queue_deadline_s or DEFAULT_QUEUE_DEADLINE_S)  # fmt: skip
    log.info("speech recognition: %d pocketsphinx worker(s), queue deadline %g s", pool.workers,
             pool.queue_deadline_s)  # fmt: skip

    async def build(agent: str) -> SpeechToText:
        stt = await asyncio.to_thread(
            lambda: PocketsphinxSTT.for_domain(domain_phrases(agent), pool=pool, name=f"pocketsphinx:{agent}")
        )
        await stt.warm_up()
        return stt

    return SpeechEngines(EspeakTTS(sample_rate_hz=TTS_RATE_HZ), build, closers=(pool.aclose,))


def openai_engines(api_key: str, base_url: str | None = None) -> SpeechEngines:
    from voicerouter.providers.speech.openai_speech import OpenAISpeech, OpenAITranscriber

    transcriber = OpenAITranscriber(api_key=api_key, base_url=base_url)
    speech = OpenAISpeech(api_key=api_key, base_url=base_url, sample_rate_hz=TTS_RATE_HZ)

    async def build(agent: str) -> SpeechToText:
        return transcriber

    return SpeechEngines(speech, build, closers=(transcriber.aclose, speech.aclose))


def choose_engines(mode: SpeechMode, env: Mapping[str, str]) -> SpeechEngines:
    """`auto` uses OpenAI speech when OPENAI_API_KEY is set, offline engines otherwise."""
    key = env.get("OPENAI_API_KEY", "")
    if mode == "openai" and not key:
        raise ValueError("speech engines: --speech openai needs OPENAI_API_KEY to be set")
    if mode == "openai" or (mode == "auto" and key):
        log.info("speech: OpenAI transcription and speech")
        return openai_engines(key, env.get("OPENAI_BASE_URL") or None)
    log.info("speech: offline (pocketsphinx, espeak-ng)")
    return offline_engines(
        workers=_env_number(env, "VOICEROUTER_STT_WORKERS", int),
        queue_deadline_s=_env_number(env, "VOICEROUTER_STT_QUEUE_S", float),
    )


N = TypeVar("N", int, float)


def _env_number(env: Mapping[str, str], name: str, kind: Callable[[str], N]) -> N | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a {kind.__name__} > 0, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: expected a {kind.__name__} > 0, got {raw!r}")
    return value
