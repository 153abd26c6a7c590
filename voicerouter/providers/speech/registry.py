"""The speech engines one server shares across its calls: a recogniser per agent and one voice.

One registry per service kind, each a name -> "module:factory" line, imported only when chosen: a new STT
engine is its module (with a `stt_service(env)` factory) plus one line in `STT`. Offline (pocketsphinx biased
to each agent's domain, espeak-ng) unless an OpenAI key is set and chosen. Recognisers are built lazily per
agent off the event loop and reused; it never builds one inside a call's audio path more than once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from voicerouter.providers.speech.base import SpeechToText, TextToSpeech

log = logging.getLogger(__name__)

SpeechMode = Literal["auto", "offline", "openai"]
TTS_RATE_HZ = 16_000  # the shared voice's own rate; each call asks it for its transport's rate instead

_SPEECH = "voicerouter.providers.speech"
STT: dict[str, str] = {
    "offline": f"{_SPEECH}.pocketsphinx_stt:stt_service",
    "openai": f"{_SPEECH}.openai_speech:stt_service",
}
TTS: dict[str, str] = {
    "offline": f"{_SPEECH}.espeak_tts:tts_service",
    "openai": f"{_SPEECH}.openai_speech:tts_service",
}


@dataclass(frozen=True)
class SttService:
    """What an STT registry entry gives: a recogniser builder per agent, and what frees their shared parts."""

    build: Callable[[str], Coroutine[Any, Any, SpeechToText]]
    close: Callable[[], Awaitable[None]] | None = None


def _factory(registry: Mapping[str, str], kind: str, name: str) -> Callable[..., Any]:
    target = registry.get(name)
    if target is None:
        known = ", ".join(sorted(registry))
        raise ValueError(f"speech engines: unknown {kind} engine {name!r}; known: {known}")
    module, _, attribute = target.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return factory


class SpeechEngines:
    """The server's voice and its per-agent recognisers, shared by every call and closed once at shutdown."""

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

    def built(self) -> list[str]:
        """The agents whose recogniser is built and warm (for start-up checks and tests)."""
        return sorted(agent for agent, task in self._stt.items()
                      if task.done() and not task.cancelled() and task.exception() is None)  # fmt: skip

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


def build_engines(stt: str, tts: str, env: Mapping[str, str]) -> SpeechEngines:
    """The engines registered as `stt` and `tts`, configured from `env`."""
    stt_service: SttService = _factory(STT, "STT", stt)(env)
    voice: TextToSpeech = _factory(TTS, "TTS", tts)(env, TTS_RATE_HZ)
    closers = [close for close in (stt_service.close, getattr(voice, "aclose", None)) if close is not None]
    return SpeechEngines(voice, stt_service.build, closers=tuple(closers))


def offline_engines(*, workers: int | None = None, queue_deadline_s: float | None = None) -> SpeechEngines:
    """pocketsphinx with a domain language model per agent (one shared worker pool) and espeak-ng.

    `workers` defaults to what the machine affords, `queue_deadline_s` to the pool's (see SphinxPool)."""
    env = {}
    if workers is not None:
        env["VOICEROUTER_STT_WORKERS"] = str(workers)
    if queue_deadline_s is not None:
        env["VOICEROUTER_STT_QUEUE_S"] = str(queue_deadline_s)
    return build_engines("offline", "offline", env)


def openai_engines(api_key: str, base_url: str | None = None) -> SpeechEngines:
    env = {"OPENAI_API_KEY": api_key, **({"OPENAI_BASE_URL": base_url} if base_url else {})}
    return build_engines("openai", "openai", env)


def choose_engines(mode: SpeechMode, env: Mapping[str, str]) -> SpeechEngines:
    """`auto` uses OpenAI speech when OPENAI_API_KEY is set, offline engines otherwise."""
    key = env.get("OPENAI_API_KEY", "")
    if mode == "openai" and not key:
        raise ValueError("speech engines: --speech openai needs OPENAI_API_KEY to be set")
    if mode == "openai" or (mode == "auto" and key):
        log.info("speech: OpenAI transcription and speech")
        return build_engines("openai", "openai", env)
    log.info("speech: offline (pocketsphinx, espeak-ng)")
    return build_engines("offline", "offline", env)


N = TypeVar("N", int, float)


def env_number(env: Mapping[str, str], name: str, kind: Callable[[str], N]) -> N | None:
    """A positive number from `env[name]`, None when unset; a bad value is an error naming the variable."""
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
