"""Acknowledge, then answer, through a live `/twilio` call: a slow premium model behind a local server.

The server is the real app with offline speech; the routed model is the real Anthropic SDK pointed at a
local server that holds its first token back, as a premium model does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.serve_kit import BARGE_IN, QUESTION, ServerHandle, needs_espeak, spoken
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.fixtures import anthropic_server_fixture  # noqa: F401
from tests.servers.scripted import Reply
from voicerouter.agent import load_agent
from voicerouter.caller.client import CallerClient
from voicerouter.caller.run import fetch_call, run_call
from voicerouter.server import ServeSettings, create_app

pytestmark = needs_espeak

ANSWER = "We open at nine on Saturday mornings."
ACKS = load_agent("clinic").acknowledgements


@asynccontextmanager
async def slow_premium_server(directory: Path, anthropic: AnthropicServer) -> AsyncIterator[ServerHandle]:
    """The app with every non-speech turn sent to claude-opus at the local server (offline speech tier)."""
    config = directory / "voicerouter.toml"
    config.write_text(
        f'[models.claude-opus]\nbase_url = "{anthropic.base_url}"\n'
        '[routing]\ntriage = ["claude-opus", "offline"]\nreasoning = ["claude-opus", "offline"]\n'
        'speech = ["offline"]\nfirst_token_budget_ms_by_tier = { triage = 8000, reasoning = 8000 }\n'
    )
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / "recordings",
                             speech="offline", config_path=str(config))  # fmt: skip
    app = create_app(settings, env={"ANTHROPIC_API_KEY": anthropic.api_key})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield ServerHandle(url=f"http://{host}:{port}", app=app, recordings=settings.recordings_dir)
    finally:
        await runner.cleanup()


def turn_events(events: list[dict[str, Any]], turn_id: int) -> list[dict[str, Any]]:
    return [e for e in events if e.get("turn_id") == turn_id]


async def test_twilio_caller_hears_an_acknowledgement_while_the_premium_model_starts_then_the_answer(
    tmp_path: Path, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Reply(text=ANSWER, first_token_delay_ms=2500))
    question = spoken(QUESTION, tmp_path, 8000)
    async with slow_premium_server(tmp_path, anthropic_server) as server:
        result = await run_call(server.url, question, twilio=True)
        await server.wait_idle()
    turn = turn_events(result.events, 1)
    kinds = [e["type"] for e in turn]
    said = [e["text"] for e in turn if e["type"] == "agent.text" and not e["final"]]
    assert said[0] in ACKS and said[1:] == [ANSWER], said
    final = next(e["text"] for e in turn if e["type"] == "agent.text" and e["final"])
    assert final == f"{said[0]} {ANSWER}"
    # the caller heard the acknowledgement while the model was still silent, then the answer in the same turn
    assert kinds.index("agent.audio_started") < kinds.index("llm.first_token")
    assert kinds.count("agent.audio_started") == 1 and "turn.interrupted" not in kinds
    started = next(e["t_ms"] for e in turn if e["type"] == "turn.started")
    first_token = next(e for e in turn if e["type"] == "llm.first_token")
    audio = next(e["t_ms"] for e in turn if e["type"] == "agent.audio_started")
    assert audio - started < first_token["t_ms"] - started
    # the live record of the caller's wait: stages in order, the acknowledgement's audio before the token
    latency = next(e for e in result.events if e["type"] == "turn.latency" and e["turn_id"] == 1)
    stages = ["vad_stop_at_ms", "end_of_turn_at_ms", "transcript_at_ms", "first_audio_at_ms"]
    assert [latency[k] for k in stages] == sorted(latency[k] for k in stages), latency
    assert latency["first_audio_at_ms"] < latency["first_token_at_ms"]
    assert 0 < latency["first_audio_ms"] < first_token["t_ms"] - started + 1000
    # the agent's audio after the question lasts at least as long as both lines at espeak's pace
    question_sent = result.speech_sent[0][1]
    answer_bytes = sum(size for at, size in result.audio_arrivals if at > question_sent)
    assert answer_bytes / 2 / 8000 > len(final) / 20.0  # under 20 characters a second


async def test_twilio_barge_in_over_the_acknowledgement_cancels_it_and_the_model_request(
    tmp_path: Path, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.script(Reply(text=ANSWER, first_token_delay_ms=6000))
    question, interruption = spoken(QUESTION, tmp_path, 8000), spoken(BARGE_IN, tmp_path, 8000)
    async with slow_premium_server(tmp_path, anthropic_server) as server:
        async with CallerClient(server.url, twilio=True) as call:
            assert await call.wait_for_agent_silence(0.7, timeout_s=20.0), "the greeting never finished"
            await call.say(question)
            assert await call.wait_for_agent_audio(timeout_s=20.0), "no acknowledgement"
            await asyncio.sleep(0.3)
            await call.say(interruption)
            assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer after the interruption"
            await asyncio.sleep(0.3)
        await server.wait_idle()
        assert call.result.call_id is not None
        recorded = await fetch_call(server.url, call.result.call_id)
    await anthropic_server.wait_until_idle()
    assert anthropic_server.streams_aborted >= 1  # the held-back request was cancelled, not left to run
    assert recorded is not None
    turn = turn_events(recorded["events"], 1)
    said = [e["text"] for e in turn if e["type"] == "agent.text" and not e["final"]]
    assert len(said) == 1 and said[0] in ACKS  # the answer never came for the interrupted turn
    assert not any(e["type"] == "llm.first_token" for e in turn)
    interrupted = next(e for e in turn if e["type"] == "turn.interrupted")
    assert said[0].startswith(interrupted["heard_text"]) and len(interrupted["heard_text"]) < len(said[0])
    assert len(call.result.clears) >= 1
