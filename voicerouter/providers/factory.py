"""Builds the provider for each row of the model table, and says which rows can serve in this process.

A row whose API key is not in the environment is unavailable (the route reason says so) and the chain
falls through to the next model, ending at the offline agent model: the default config works offline.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping

from voicerouter.agent import AgentSpec
from voicerouter.config import ModelEntry, VoicerouterConfig
from voicerouter.providers.base import ChatProvider

_ADAPTER_MODULES = {
    "openai": "voicerouter.providers.openai_chat",
    "anthropic": "voicerouter.providers.anthropic_messages",
    "openai_realtime": "voicerouter.providers.realtime.client",
    "offline": "voicerouter.providers.offline.model",
}


def key_availability(env: Mapping[str, str] | None = None) -> Callable[[str, ModelEntry], str | None]:
    """An availability check for the router: a model needs its API key to be set."""
    environ = os.environ if env is None else env

    def check(name: str, entry: ModelEntry) -> str | None:
        if entry.provider == "offline":
            return None
        if entry.api_key_env and environ.get(entry.api_key_env):
            return None
        if entry.base_url and not entry.api_key_env:
            return None  # a local OpenAI-compatible server (vLLM, Ollama, llama.cpp) needs no key
        return f"{entry.api_key_env or 'api key'} not set"

    return check


class ProviderPool:
    """One provider object per model row, shared by every call of the process; offline ones per agent."""

    def __init__(self, config: VoicerouterConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._env = os.environ if env is None else env
        self._providers: dict[tuple[str, str], ChatProvider] = {}
        self._import_adapters()

    def _import_adapters(self) -> None:
        """Import the SDKs of usable models now: an import inside a live call would stall the event loop."""
        check = key_availability(self._env)
        for name, entry in self.config.models.items():
            if check(name, entry) is None and entry.provider in _ADAPTER_MODULES:
                importlib.import_module(_ADAPTER_MODULES[entry.provider])

    def get(self, model: str, agent: AgentSpec) -> ChatProvider:
        """The provider of a model row of the config, built on first use and reused by later calls."""
        entry = self.config.models[model]
        key = (model, agent.name if entry.provider == "offline" else "")
        provider = self._providers.get(key)
        if provider is None:
            provider = self._build(entry, agent)
            self._providers[key] = provider
        return provider

    def _build(self, entry: ModelEntry, agent: AgentSpec) -> ChatProvider:
        api_key = self._env.get(entry.api_key_env, "") if entry.api_key_env else ""
        if entry.provider == "offline":
            from voicerouter.providers.offline.model import OfflineAgentModel

            return OfflineAgentModel(agent, model_id=entry.model)
        if entry.provider == "openai":
            from voicerouter.providers.openai_chat import OpenAIChatProvider

            return OpenAIChatProvider(api_key=api_key or "not-needed", base_url=entry.base_url)
        if entry.provider == "anthropic":
            from voicerouter.providers.anthropic_messages import AnthropicMessagesProvider

            return AnthropicMessagesProvider(api_key=api_key, base_url=entry.base_url)
        if entry.provider == "openai_realtime":
            from voicerouter.providers.realtime.client import OpenAIRealtimeProvider

            return OpenAIRealtimeProvider(api_key=api_key, base_url=entry.base_url)
        raise ValueError(f"unknown provider kind {entry.provider!r}")

    async def aclose(self) -> None:
        """Close every provider built so far (their HTTP clients and sockets); the pool is empty after."""
        for provider in self._providers.values():
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                await closer()
        self._providers.clear()
