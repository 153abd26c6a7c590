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
from voicerouter.config import VoicerouterConfig
from voicerouter.providers.base import ChatProvider, ChatRequest, StreamChunk
from voicerouter.providers.factory import ProviderPool
from voicerouter.providers.realtime.client import OpenAIRealtimeProvider
from voicerouter.toolkit import ToolSpec
from voicerouter.wiring import Runtime


class RealtimeVoiceModel:
    """The voice as the call's runtime sees a model: a `ChatProvider` bound to this one call (the request
    says which turn it serves)."""

    def __init__(self, voice: RealtimeVoice) -> None:
        self.name = voice.model
        self._voice = voice

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        return self._voice.answer(request)


class CallProviders:
    """The process's providers, except that this call's Realtime model is its voice. A lookup only: it
    changes nothing (a voiced stretch ends where the runtime starts a generation)."""

    def __init__(self, shared: ProviderPool, voice: RealtimeVoice) -> None:
        self._shared = shared
        self._voice_model = RealtimeVoiceModel(voice)

    def get(self, model: str, agent: AgentSpec) -> ChatProvider:
        if model == self._voice_model.name:
            return self._voice_model
        return self._shared.get(model, agent)


def realtime_model(config: VoicerouterConfig, runtime: Runtime) -> str | None:
    """The first Realtime model of the call's speech chain that can serve in this process, if any."""
    for name in config.routing.speech:
        entry = config.models[name]
        if entry.provider == "openai_realtime" and runtime.router.availability(name, entry) is None:
            return name
    return None


def realtime_voice_for(
    runtime: Runtime,
    outbound: VoicedOutbound,
    *,
    call_id: str,
    agent: AgentSpec,
    config: VoicerouterConfig,
    tools: tuple[ToolSpec, ...],
    rate_hz: int,
) -> RealtimeVoice | None:
    """A voice for this call, unopened (its `run()` opens it), or None when no Realtime model can serve.
    `config` is the call's (the agent's routing applied), `tools` the specs of the call's tools."""
    name = realtime_model(config, runtime)
    if name is None:
        return None
    provider = runtime.providers.get(name, agent)
    if not isinstance(provider, OpenAIRealtimeProvider):
        return None
    entry = config.models[name]
    return RealtimeVoice(provider, model=name, model_id=entry.model, call_id=call_id,
                         instructions=agent.prompt, tools=tools, outbound=outbound,
                         rate_hz=rate_hz)  # fmt: skip
