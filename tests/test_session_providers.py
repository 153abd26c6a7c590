"""A live call's session against local Anthropic and OpenAI protocol servers, through the real SDKs:
fallback within the turn when a provider stalls or rate-limits, tool round trips, no leaked tasks."""

from __future__ import annotations

import asyncio

from tests.engine_kit import AGENT, FixedClassifier, make_tools
from tests.servers.anthropic_server import AnthropicServer, rate_limited
from tests.servers.fixtures import anthropic_server_fixture, openai_server_fixture  # noqa: F401
from tests.servers.openai_server import OpenAIServer
from tests.servers.scripted import stall_before_first_token, text, tool_call
from voicerouter import events as ev
from voicerouter.call.session import CallSession
from voicerouter.clock import RealClock
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.engine import CallEngine, io
from voicerouter.providers.factory import ProviderPool, key_availability
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router

ENV = {"ANTHROPIC_API_KEY": "test-key", "OPENAI_API_KEY": "test-key"}


def _config(
    anthropic: AnthropicServer, openai: OpenAIServer, first_token_budget_ms: int = 400
) -> VoicerouterConfig:
    config = load_config()
    models = dict(config.models)
    models["claude-haiku"] = models["claude-haiku"].model_copy(update={"base_url": anthropic.base_url})
    models["gpt-mini"] = models["gpt-mini"].model_copy(update={"base_url": openai.base_url})
    routing = config.routing.model_copy(update={"first_token_budget_ms": first_token_budget_ms})
    return config.model_copy(update={"models": models, "routing": routing})


class _Call:
    def __init__(self, config: VoicerouterConfig) -> None:
        self.events: list[ev.Event] = []
        self.turn_done = asyncio.Event()
        router = Router(config, FixedClassifier("triage"), HealthBoard(config.health), key_availability(ENV))  # type: ignore[arg-type]
        tools = make_tools()
        self.engine = CallEngine(
            call_id="live1",
            agent=AGENT,
            config=config,
            router=router,
            tools=tools,
            clock=RealClock(),
            greet=False,
        )
        self.pool = ProviderPool(config, ENV)
        self.session = CallSession(self.engine, self.pool, tools, on_event=self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        self.events.append(event)
        if isinstance(event, ev.TurnCompleted):
            self.turn_done.set()

    async def say(self, text_: str) -> ev.TurnCompleted:
        self.turn_done.clear()
        self.session.feed(io.Transcript(text=text_))
        await asyncio.wait_for(self.turn_done.wait(), timeout=10)
        return [e for e in self.events if isinstance(e, ev.TurnCompleted)][-1]

    async def close(self) -> None:
        await self.session.close()
        await self.pool.aclose()


async def test_stalled_anthropic_stream_falls_back_to_openai_and_the_turn_completes(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    anthropic_server.script(stall_before_first_token(seconds=30))
    openai_server.script(
        tool_call("get_ticket", {"ticket_id": "4591"}),
        text(lambda body: "Ticket 4591 is open."),
    )
    call = _Call(_config(anthropic_server, openai_server))
    completed = await call.say("status of ticket four five nine one")
    failed = [e for e in call.events if isinstance(e, ev.ProviderFailed)]
    assert [(f.model, f.fallback_to) for f in failed] == [("claude-haiku", "gpt-mini")]
    assert "no first token within 400 ms" in failed[0].error
    assert completed.model == "gpt-mini" and completed.first_token_ms is not None
    assert completed.first_token_ms >= 400  # the budget ran out before the fallback started
    result = next(e for e in call.events if isinstance(e, ev.ToolResult))
    assert result.ok and result.result == {"ticket_id": "4591", "status": "open"}
    final = [e for e in call.events if isinstance(e, ev.AgentText) and e.final][-1]
    assert final.text == "Ticket 4591 is open."
    # the second OpenAI request carried the tool result back in the wire format
    tool_message = openai_server.requests[-1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "4591" in tool_message["content"]
    assert completed.tokens_in > 0 and completed.cost_usd > 0
    await call.close()
    await anthropic_server.wait_until_idle()
    assert anthropic_server.open_connections == 0  # the stalled stream was closed, not leaked
    assert call.session.pending_tasks == 0


async def test_rate_limit_falls_through_in_the_same_turn_and_is_honoured_next_turn(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    anthropic_server.script(rate_limited(retry_after_s=30))
    openai_server.script(text("Hello! How can I help?"), text("Sure."))
    call = _Call(_config(anthropic_server, openai_server))
    first = await call.say("hello")
    assert first.model == "gpt-mini"
    failed = next(e for e in call.events if isinstance(e, ev.ProviderFailed))
    assert "rate_limited" in failed.error
    second = await call.say("can you help me")
    decided = [e for e in call.events if isinstance(e, ev.RouteDecided)][-1]
    assert second.model == "gpt-mini" and "claude-haiku (rate limited, retry after" in decided.reason
    assert len(anthropic_server.requests) == 1  # the rate-limited model was not asked again
    await call.close()


async def test_anthropic_answers_a_turn_with_a_tool_call_through_the_real_sdk(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    anthropic_server.script(
        tool_call("get_ticket", {"ticket_id": "9999"}),
        text("I couldn't find ticket 9999."),
    )
    call = _Call(_config(anthropic_server, openai_server))
    completed = await call.say("what about ticket nine nine nine nine")
    result = next(e for e in call.events if isinstance(e, ev.ToolResult))
    assert not result.ok and result.error and result.error.startswith("not found")
    assert completed.model == "claude-haiku"
    tool_result = anthropic_server.requests[-1].body["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and "not found" in str(tool_result["content"])
    await call.close()


async def test_hanging_up_mid_stream_cancels_every_task(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    anthropic_server.script(stall_before_first_token(seconds=30))
    call = _Call(_config(anthropic_server, openai_server, first_token_budget_ms=5000))
    call.session.feed(io.Transcript(text="hello"))
    await asyncio.sleep(0.2)
    assert call.session.pending_tasks == 1
    await call.close()
    assert call.session.pending_tasks == 0
    assert [e.type for e in call.events][-3:] == ["turn.interrupted", "turn.completed", "call.ended"]
    await anthropic_server.wait_until_idle()
    assert anthropic_server.open_connections == 0
