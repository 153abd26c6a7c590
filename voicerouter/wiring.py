"""Assembles the process-wide pieces (config, router, providers) and the per-call ones (engine, tools).

The one place that knows how the parts fit, so the CLI, the server and tests build calls the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from voicerouter.agent import AgentSpec, load_agent
from voicerouter.clock import Clock, RealClock
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.engine import CallEngine
from voicerouter.providers.factory import ProviderPool, key_availability
from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router
from voicerouter.toolkit import ToolRegistry


@dataclass
class Runtime:
    """What every call of one process shares."""

    config: VoicerouterConfig
    router: Router
    providers: ProviderPool
    clock: Clock

    def agent(self, name: str) -> tuple[AgentSpec, VoicerouterConfig]:
        spec = load_agent(name)
        return spec, self.config.with_routing(spec.routing)

    def new_call(
        self,
        agent_name: str,
        *,
        transport: str = "text",
        caller: str = "",
        instant_playback: bool = True,
        call_id: str | None = None,
    ) -> tuple[CallEngine, ToolRegistry]:
        spec, config = self.agent(agent_name)
        tools = spec.create_tools()
        router = (
            self.router
            if config is self.config
            else Router(config, self.router.classifier, self.router.health, self.router.availability)
        )
        engine = CallEngine(
            call_id=call_id or new_call_id(),
            agent=spec,
            config=config,
            router=router,
            tools=tools,
            clock=self.clock,
            transport=transport,
            caller=caller,
            instant_playback=instant_playback,
        )
        return engine, tools


def new_call_id() -> str:
    return uuid.uuid4().hex[:12]


def build_runtime(
    config_path: str | None = None, *, env: Mapping[str, str] | None = None, clock: Clock | None = None
) -> Runtime:
    config = load_config(config_path)
    router = Router(config, TriageClassifier.load(), HealthBoard(config.health), key_availability(env))
    return Runtime(
        config=config, router=router, providers=ProviderPool(config, env), clock=clock or RealClock()
    )
