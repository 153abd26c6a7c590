"""True costs: Realtime audio tokens at audio rates, Anthropic prompt caching, STT and TTS on voice calls.

Usage comes from the real SDKs talking to the local Realtime and Messages servers in tests/servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from tests.engine_kit import AGENT, FixedClassifier, make_config, make_tools, start_generation
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.fixtures import anthropic_server_fixture  # noqa: F401  (registers `anthropic_server`)
from tests.servers.realtime_server import RealtimeServer
from tests.servers.realtime_state import tone_bytes
from tests.servers.scripted import UsageSpec, text
from voicerouter import events as ev
from voicerouter.clock import VirtualClock
from voicerouter.config import ModelEntry, load_config
from voicerouter.engine import io
from voicerouter.engine.call import CallEngine
from voicerouter.providers.anthropic_messages import AnthropicMessagesProvider
from voicerouter.providers.base import ChatMessage, ChatRequest, StreamChunk, ToolSpec, Usage
from voicerouter.providers.realtime.client import OpenAIRealtimeProvider
from voicerouter.providers.realtime.outputs import ResponseDone
from voicerouter.router.cost import cost_usd, usage_cost_usd
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router

CONFIG = load_config()
REALTIME = CONFIG.models["gpt-realtime"]
HAIKU = CONFIG.models["claude-haiku"]
TICKET = ToolSpec(
    name="check_ticket",
    description="Status of a helpdesk ticket by its number.",
    parameters={"type": "object", "properties": {"ticket_id": {"type": "string"}}},
)


def test_every_priced_model_row_names_its_prices_date_and_source() -> None:
    for name, entry in CONFIG.models.items():
        if entry.price_in_per_mtok:
            assert entry.prices_taken and entry.prices_source, name
            assert entry.price_cached_in_per_mtok < entry.price_in_per_mtok, name
    assert REALTIME.price_audio_in_per_mtok == 8 * REALTIME.price_in_per_mtok
    assert REALTIME.price_audio_out_per_mtok == 4 * REALTIME.price_out_per_mtok
    assert CONFIG.speech_costs.prices_source and CONFIG.speech_costs.prices_taken


def test_anthropic_rows_use_the_published_cache_multipliers() -> None:
    for name in ("claude-haiku", "claude-sonnet", "claude-opus"):
        entry = CONFIG.models[name]
        assert entry.price_cache_write_per_mtok == pytest.approx(1.25 * entry.price_in_per_mtok)
        assert entry.price_cached_in_per_mtok == pytest.approx(0.1 * entry.price_in_per_mtok)


def test_cost_splits_text_audio_cached_and_written_tokens() -> None:
    entry = ModelEntry(
        provider="openai_realtime",
        model="m",
        price_in_per_mtok=1,
        price_cached_in_per_mtok=0.5,
        price_cache_write_per_mtok=2,
        price_out_per_mtok=3,
        price_audio_in_per_mtok=10,
        price_cached_audio_in_per_mtok=0.25,
        price_audio_out_per_mtok=20,
    )
    # 1000 in: 400 audio (100 cached), 600 text (200 cached, 300 written, 100 plain); 500 out, 300 audio
    usage = Usage(
        input_tokens=1000,
        output_tokens=500,
        cached_input_tokens=300,
        cache_write_input_tokens=300,
        audio_input_tokens=400,
        cached_audio_input_tokens=100,
        audio_output_tokens=300,
    )
    expected = 100 * 1 + 200 * 0.5 + 300 * 2 + 300 * 10 + 100 * 0.25 + 200 * 3 + 300 * 20
    assert usage_cost_usd(entry, usage) == pytest.approx(expected / 1e6)


async def test_a_realtime_turn_with_audio_tokens_is_priced_at_audio_rates() -> None:
    async with RealtimeServer() as server:
        provider = OpenAIRealtimeProvider(api_key="test-key", websocket_base_url=server.ws_base_url)
        session = provider.open_session()
        await session.open(instructions="You are a clinic receptionist.", tools=[])
        try:
            for i in range(20):  # two seconds of caller audio
                await session.append_audio(tone_bytes("audio/pcm", i * 100.0, 100.0, 440.0))
            await session.commit()
            server.reply_audio("Your appointment is at nine tomorrow.", audio_ms=2000)
            await session.create_response()
            done = None
            async with aclosing(session.events()) as outputs:
                async for output in outputs:
                    if isinstance(output, ResponseDone):
                        done = output
                        break
        finally:
            await session.close()
            await provider.aclose()
    assert done is not None
    usage = done.usage.to_usage()
    assert usage.audio_input_tokens > 0 and usage.audio_output_tokens == 40  # 2000 ms at 50 ms a token
    priced = usage_cost_usd(REALTIME, usage)
    at_text_rates = cost_usd(REALTIME, tokens_in=usage.input_tokens, tokens_out=usage.output_tokens)
    audio_part = (
        usage.audio_input_tokens * REALTIME.price_audio_in_per_mtok
        + usage.audio_output_tokens * REALTIME.price_audio_out_per_mtok
    ) / 1e6
    text_part = (
        (usage.input_tokens - usage.audio_input_tokens) * REALTIME.price_in_per_mtok
        + (usage.output_tokens - usage.audio_output_tokens) * REALTIME.price_out_per_mtok
    ) / 1e6
    assert priced == pytest.approx(audio_part + text_part)
    assert priced > 2 * at_text_rates


@pytest.fixture
async def anthropic(anthropic_server: AnthropicServer) -> AsyncIterator[AnthropicMessagesProvider]:
    chat = AnthropicMessagesProvider(api_key=anthropic_server.api_key, base_url=anthropic_server.base_url)
    yield chat
    await chat.aclose()


async def _usage(provider: AnthropicMessagesProvider, request: ChatRequest) -> Usage:
    async with aclosing(provider.stream(request)) as stream:
        chunks: list[StreamChunk] = [c async for c in stream]
    last = chunks[-1]
    assert isinstance(last, Usage)
    return last


async def test_anthropic_requests_mark_the_prefix_for_caching_and_cache_reads_lower_the_cost(
    anthropic_server: AnthropicServer, anthropic: AnthropicMessagesProvider
) -> None:
    system = "You are the IT helpdesk. " * 200
    first_turn = (ChatMessage(role="user", content="Is my ticket done?"),)
    second_turn = (
        *first_turn,
        ChatMessage(role="assistant", content="Which ticket?"),
        ChatMessage(role="user", content="4591"),
    )
    # what the API reports: the first request writes the prefix, the next one reads it
    anthropic_server.script(
        text(
            "Which ticket?", usage=UsageSpec(input_tokens=10, output_tokens=5, cache_write_input_tokens=1600)
        ),
        text(
            "It is in progress.", usage=UsageSpec(input_tokens=12, output_tokens=6, cached_input_tokens=1610)
        ),
    )
    first = await _usage(
        anthropic, ChatRequest(model="claude-haiku-4-5", system=system, messages=first_turn, tools=(TICKET,))
    )
    second = await _usage(
        anthropic, ChatRequest(model="claude-haiku-4-5", system=system, messages=second_turn, tools=(TICKET,))
    )

    for request in anthropic_server.requests:
        body = request.body
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first.cache_write_input_tokens == 1600 and second.cached_input_tokens == 1610
    write_cost = usage_cost_usd(HAIKU, first)
    read_cost = usage_cost_usd(HAIKU, second)
    uncached = cost_usd(HAIKU, tokens_in=second.input_tokens, tokens_out=second.output_tokens)
    assert write_cost == pytest.approx((10 * 1.0 + 1600 * 1.25 + 5 * 5.0) / 1e6)
    assert read_cost == pytest.approx((12 * 1.0 + 1610 * 0.1 + 6 * 5.0) / 1e6)
    assert read_cost < 0.2 * uncached


def _answered_turn(transport: str, audio_ms: float = 0.0) -> list[ev.Event]:
    """One caller turn answered by the triage model (usage reported), then the call ended."""
    config = make_config()
    router = Router(config, FixedClassifier(tier="triage"), HealthBoard(config.health))  # type: ignore[arg-type]
    engine = CallEngine(
        call_id="c1",
        agent=AGENT,
        config=config,
        router=router,
        tools=make_tools(),
        clock=VirtualClock(),
        transport=transport,
        greet=False,
    )
    engine.start()
    engine.receive(io.Transcript(text="what time do you open on saturday", audio_ms=audio_ms))
    gen = start_generation(engine.actions_to_send())
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="We open at nine on Saturdays."))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=1600, output_tokens=9)))
    engine.end()
    return engine.events_emitted()


def test_a_voice_turn_reports_stt_and_tts_costs_and_the_call_total_includes_them() -> None:
    events = _answered_turn("sim", audio_ms=3000)
    (done,) = [e for e in events if isinstance(e, ev.TurnCompleted)]
    (ended,) = [e for e in events if isinstance(e, ev.CallEnded)]
    prices = CONFIG.speech_costs
    assert done.stt_cost_usd == pytest.approx(prices.stt_usd_per_minute * 3000 / 60000)
    spoken = "We open at nine on Saturdays."
    assert done.tts_cost_usd == pytest.approx(prices.tts_usd_per_mchars * len(spoken) / 1e6)
    assert done.model_cost_usd == pytest.approx(
        usage_cost_usd(CONFIG.models[done.model], Usage(input_tokens=1600, output_tokens=9))
    )
    assert done.cost_usd == pytest.approx(done.model_cost_usd + done.stt_cost_usd + done.tts_cost_usd)
    assert ended.cost_usd == pytest.approx(done.cost_usd)
    assert (ended.stt_cost_usd, ended.tts_cost_usd) == (done.stt_cost_usd, done.tts_cost_usd)


def test_a_text_call_pays_no_speech() -> None:
    (done,) = [e for e in _answered_turn("text") if isinstance(e, ev.TurnCompleted)]
    assert done.stt_cost_usd == 0 and done.tts_cost_usd == 0
    assert done.cost_usd == done.model_cost_usd > 0
