"""Building blocks for driving the sans-I/O engine by hand in tests: a small agent, tools and a router."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from voicerouter.agent import AgentSpec
from voicerouter.clock import VirtualClock
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.engine import CallEngine, io
from voicerouter.events import Event, Tier
from voicerouter.providers.base import ChatMessage
from voicerouter.router.classifier import Prediction
from voicerouter.router.features import TurnContext
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router
from voicerouter.toolkit import RecordNotFound, Tool, ToolRegistry


class LookupArgs(BaseModel):
    ticket_id: str


def _lookup(args: LookupArgs) -> dict[str, str]:
    if args.ticket_id != "4591":
        raise RecordNotFound(f"no ticket {args.ticket_id}")
    return {"ticket_id": "4591", "status": "open"}


def make_tools() -> ToolRegistry:
    return ToolRegistry([Tool("get_ticket", "Look up a ticket by id.", LookupArgs, _lookup, timeout_ms=1000)])


AGENT = AgentSpec(
    name="testdesk",
    display_name="Test desk",
    prompt_file="-",
    prompt="You are a test agent.",
    greeting="Hello.",
    tools_module="-",
)


@dataclass
class FixedClassifier:
    """Stands in for the trained classifier where a test needs a known tier and confidence."""

    tier: Tier = "triage"
    confidence: float = 0.9

    def predict(self, text: str, context: TurnContext | None = None) -> Prediction:
        return Prediction(
            tier=self.tier, confidence=self.confidence, probabilities={self.tier: self.confidence}
        )


def make_config(**routing: object) -> VoicerouterConfig:
    config = load_config()
    if routing:
        config = config.model_copy(update={"routing": config.routing.model_copy(update=routing)})
    return config


def make_engine(
    *,
    classifier: FixedClassifier | None = None,
    config: VoicerouterConfig | None = None,
    instant_playback: bool = True,
    health: HealthBoard | None = None,
) -> tuple[CallEngine, VirtualClock]:
    clock = VirtualClock()
    config = config or make_config()
    router = Router(config, classifier or FixedClassifier(), health or HealthBoard(config.health))  # type: ignore[arg-type]
    engine = CallEngine(
        call_id="c1",
        agent=AGENT,
        config=config,
        router=router,
        tools=make_tools(),
        clock=clock,
        instant_playback=instant_playback,
        greet=False,
    )
    engine.start()
    return engine, clock


def drain(engine: CallEngine) -> tuple[list[io.Action], list[Event]]:
    return engine.actions_to_send(), engine.events_emitted()


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def closed_history(actions: list[io.Action]) -> tuple[ChatMessage, ...]:
    """The conversation as the engine's last `CloseTurn` among `actions` hands it on."""
    found = [a for a in actions if isinstance(a, io.CloseTurn)]
    assert found, f"no CloseTurn in {actions}"
    return found[-1].history


def start_generation(actions: list[io.Action]) -> io.StartGeneration:
    found = [a for a in actions if isinstance(a, io.StartGeneration)]
    assert found, f"no StartGeneration in {actions}"
    return found[-1]
