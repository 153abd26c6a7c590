"""Whether an audio call gets a Realtime voice, and how the engine's generations reach it.

Picks the first Realtime model of the call's speech chain that can serve (its key is set, or it points at a
local server); without one nothing changes and the speech tier is served by the rest of the chain. It never
opens a socket itself (the voice's supervised task does) and never changes the process-wide provider pool.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from voicerouter.agent import AgentSpec
from voicerouter.call.realtime.voice import RealtimeVoice
from voicerouter.call.realtime.voiced_outbound import VoicedOutbound
from voicerouter.engine import CallEngine
from voicerouter.providers.base import ChatProvider, ChatRequest, StreamChunk
from voicerouter.providers.factory import ProviderPool
from voicerouter.providers.realtime.client import OpenAIRealtimeProvider
from voicerouter.wiring import Runtime


class RealtimeVoiceModel:
    """The voice as the call's runtime sees a model: a `ChatProvider` bound to this one call."""

    def __init__(self, voice: RealtimeVoice) -> None:
        self.name = voice.model
        self._voice = voice

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        return self._voice.answer(request)


class CallProviders:
    """The process's providers, except that this call's Realtime model is its voice.

    Every generation asks here for its provider, so this is also where a voiced stretch of a turn ends:
    whatever model speaks next in the turn (a tool round, a fallback) starts a new stretch or none.
    """

    def __init__(self, shared: ProviderPool, voice: RealtimeVoice, outbound: VoicedOutbound) -> None:
        self._shared = shared
        self._voice_model = RealtimeVoiceModel(voice)
        self._engine_turn = voice.current_turn_id
        self._outbound = outbound

    def get(self, model: str, agent: AgentSpec) -> ChatProvider:
        turn_id = self._engine_turn()
        if turn_id is not None:
            self._outbound.end_voice(turn_id)
        if model == self._voice_model.name:
            return self._voice_model
        return self._shared.get(model, agent)


def realtime_model(engine: CallEngine, runtime: Runtime) -> str | None:
    """The first Realtime model of the call's speech chain that can serve in this process, if any."""
    config = engine.config
    for name in config.routing.speech:
        entry = config.models[name]
        if entry.provider == "openai_realtime" and runtime.router.availability(name, entry) is None:
            return name
    return None


def realtime_voice_for(
    engine: CallEngine, runtime: Runtime, outbound: VoicedOutbound, *, rate_hz: int
) -> RealtimeVoice | None:
    """A voice for this call, unopened (its `run()` opens it), or None when no Realtime model can serve."""
    name = realtime_model(engine, runtime)
    if name is None:
        return None
    provider = runtime.providers.get(name, engine.agent)
    if not isinstance(provider, OpenAIRealtimeProvider):
        return None
    entry = engine.config.models[name]
    return RealtimeVoice(provider, model=name, model_id=entry.model, engine=engine, outbound=outbound,
                         rate_hz=rate_hz)  # fmt: skip
