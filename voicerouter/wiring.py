"""Assembles the process-wide pieces (config, router, providers) and the per-call ones (engine, tools).

The one place that knows how the parts fit, so the CLI, the server and tests build calls the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from voicerouter import workers
from voicerouter.agent import AgentSpec, load_agent
from voicerouter.clock import Clock, RealClock
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.engine import CallEngine
from voicerouter.providers.factory import ProviderPool, key_availability
from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Availability, Router, always_available
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
        return build_call(
            spec,
            config,
            classifier=self.router.classifier,
            health=self.router.health,
            availability=self.router.availability,
            clock=self.clock,
            call_id=call_id or new_call_id(),
            transport=transport,
            caller=caller,
            instant_playback=instant_playback,
        )


def build_call(
    agent: AgentSpec,
    config: VoicerouterConfig,
    *,
    classifier: TriageClassifier,
    health: HealthBoard,
    clock: Clock,
    call_id: str,
    availability: Availability = always_available,
    transport: str = "text",
    caller: str = "",
    instant_playback: bool = True,
) -> tuple[CallEngine, ToolRegistry]:
    """One call's engine and the tools it runs, for `agent` under `config` (the agent's routing applied).

    Live calls share the process's classifier, health board and key check; a simulated call brings its own
    health board and virtual clock. The router holds no per-call state, so each call gets one on `config`."""
    tools = agent.create_tools()
    engine = CallEngine(
        call_id=call_id,
        agent=agent,
        config=config,
        router=Router(config, classifier, health, availability),
        tools=tools,
        clock=clock,
        transport=transport,
        caller=caller,
        instant_playback=instant_playback,
    )
    return engine, tools


def new_call_id() -> str:
    """Random and short; a worker's calls carry its index (see voicerouter.workers)."""
    return workers.call_id_prefix() + uuid.uuid4().hex[:12]


def build_router(config: VoicerouterConfig, env: Mapping[str, str] | None = None) -> Router:
    """The process's router: the trained classifier, a fresh health board, the key check over `env`.

    On its own (no providers, so no SDK is imported) for commands that only decide routes."""
    return Router(config, TriageClassifier.load(), HealthBoard(config.health), key_availability(env))


def build_runtime(
    config_path: str | None = None, *, env: Mapping[str, str] | None = None, clock: Clock | None = None
) -> Runtime:
    config = load_config(config_path)
    router = build_router(config, env)
    return Runtime(
        config=config, router=router, providers=ProviderPool(config, env), clock=clock or RealClock()
    )
