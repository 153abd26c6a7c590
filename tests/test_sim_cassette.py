"""Cassettes round trip: a live run against the local Anthropic, OpenAI and Realtime protocol servers (real
SDKs) records every exchange; replaying the cassette offline, with the servers gone, gives the same answers
with no miss, the same way every time; a request the cassette never saw is reported as a miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cassette import Cassette, Exchange
from sim.live import run_scripts_live_async
from sim.replay import RunOptions, run_scripts
from sim.report import build_report
from sim.script import CallScript, UserTurn
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.openai_server import OpenAIServer
from tests.servers.realtime_server import RealtimeServer
from tests.servers.scripted import text, tool_call

TURNS = (
    "hello",  # speech tier: the Realtime model
    "what's the status of ticket four five nine one",  # triage: Anthropic, with a tool round trip
    "my laptop died before the board meeting and the backup drive is corrupted too, what are my options "
    "for recovering the slides and should I escalate",  # reasoning: OpenAI chat
    "thanks, bye",  # speech again
)


def _config(path: Path, anthropic: AnthropicServer, openai: OpenAIServer, realtime: RealtimeServer) -> Path:
    realtime_http = realtime.ws_base_url.replace("ws://", "http://")
    path.write_text(
        f"""
[models.claude-haiku]
base_url = "{anthropic.base_url}"
[models.gpt]
base_url = "{openai.base_url}"
[models.gpt-realtime]
base_url = "{realtime_http}"
[routing]
triage = ["claude-haiku"]
reasoning = ["gpt"]
speech = ["gpt-realtime"]
""",
        encoding="utf-8",
    )
    return path


def _script() -> CallScript:
    turns = [UserTurn(text=t) for t in TURNS]
    return CallScript(call_id="cassette-1", agent="helpdesk", caller="test", turns=turns, source="test")


def _answers(report: dict) -> list[tuple[str | None, str]]:  # type: ignore[type-arg]
    call = report["per_call"][0]
    return list(zip(call["models"], call["answers"], strict=True))


async def test_a_live_run_recorded_on_a_cassette_replays_offline_with_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    cassette_dir = tmp_path / "cassette"
    async with AnthropicServer() as anthropic, OpenAIServer() as openai, RealtimeServer() as realtime:
        anthropic.script(
            tool_call("get_ticket", {"ticket_id": "4591"}), text("Ticket 4591 is open and assigned to IT.")
        )
        openai.script(text("First, don't write anything more to the backup drive. Yes, let's escalate."))
        realtime.reply_text("Hi there! How can I help?")
        realtime.reply_text("You're welcome. Goodbye!")
        config = _config(tmp_path / "live.toml", anthropic, openai, realtime)
        options = RunOptions(config_path=str(config), cassette=str(cassette_dir))
        live = build_report(await run_scripts_live_async([_script()], options))
    exchanges = [Exchange.model_validate_json(p.read_text()) for p in sorted(cassette_dir.glob("*.json"))]
    assert {e.model for e in exchanges} == {"claude-haiku", "gpt", "gpt-realtime"}
    assert len(exchanges) == 5 and all(e.first_token_ms is not None for e in exchanges)
    assert live["per_call"][0]["models"] == ["gpt-realtime", "claude-haiku", "gpt", "gpt-realtime"]

    # the servers are gone: only the cassette can answer. The live run feeds each transcript at once, with no
    # caller stages; with the whole-utterance recogniser's timing the replayed caller also lets every answer
    # finish, so each request (history included) is the one the cassette holds.
    replay = RunOptions(config_path=str(config), cassette=str(cassette_dir), stt_streaming=False)
    offline = [build_report(run_scripts([_script()], replay)) for _ in range(2)]
    assert offline[0]["cassette"] == {"hits": 5, "misses": 0, "missed": []}
    assert _answers(offline[0]) == _answers(live)
    assert offline[0]["per_call"] == offline[1]["per_call"]  # deterministic
    ticket = offline[0]["per_call"][0]
    assert ticket["first_token_ms"][1] is not None


def test_a_request_the_cassette_never_saw_is_a_reported_miss(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    report = build_report(run_scripts([_script()], RunOptions(cassette=str(empty))))
    assert report["cassette"]["hits"] == 0 and report["cassette"]["misses"] >= len(TURNS)
    assert "cassette-1 (seed 0) turn 1: " in report["cassette"]["missed"][0]
    assert len(Cassette(empty)) == 0
