"""The `voicerouter` command as a user runs it: route decisions, a chat through the engine, bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicerouter.store import read_recording

OFFLINE_ENV = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}


def _voicerouter(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicerouter.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=OFFLINE_ENV,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("what time do you open on saturday", "triage"),
        ("thanks so much bye", "speech"),
        (
            "i need to move both my kids' appointments to next week but only if doctor patel has something "
            "after three and not on friday, otherwise keep them",
            "reasoning",
        ),
    ],
)
def test_route_prints_one_json_decision(text: str, tier: str) -> None:
    result = _voicerouter("route", text, "--agent", "clinic", "--json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["tier"] == tier
    assert {"tier", "model", "provider", "reason", "confidence", "est_cost_usd"} <= decision.keys()
    # offline: the keyed models are skipped, and the reason says why
    assert decision["model"] == "offline" and "API_KEY not set" in decision["reason"]


def test_chat_runs_a_booking_through_the_engine_and_records_it(tmp_path: Path) -> None:
    lines = "i'd like to book an appointment\nsarah smyth\ndecember third at half past two\nyes\nthanks bye\n"
    result = _voicerouter("chat", "--agent", "clinic", "--record", str(tmp_path), stdin=lines)
    assert result.returncode == 0, result.stderr
    assert "book_appointment" in result.stdout and "first token" in result.stdout
    assert "[triage -> offline" in result.stdout
    (path,) = tmp_path.glob("*.jsonl")
    recording = read_recording(path)
    assert not recording.errors
    types = [e.type for e in recording.events]
    assert types[0] == "call.started" and types[-1] == "call.ended"
    assert types.count("turn.completed") == 5
    booked = [e for e in recording.events if e.type == "tool.result" and e.name == "book_appointment"]  # type: ignore[union-attr]
    assert booked and booked[0].ok  # type: ignore[union-attr]


def test_bad_config_names_the_file_the_key_and_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "voicerouter.toml"
    config.write_text('[routing]\ntriage = ["claude-haiku", "gpt-minni"]\n')
    result = _voicerouter("route", "hello", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: routing.triage[1]: unknown model 'gpt-minni'" in result.stderr
    assert "Traceback" not in result.stderr

    config.write_text("[routing\ntriage = 1")
    result = _voicerouter("route", "hello", "--config", str(config))
    assert result.returncode == 2 and f"{config}: not valid TOML" in result.stderr

    config.write_text("[routing]\nfirst_token_budget_ms = -5\n")
    result = _voicerouter("route", "hello", "--config", str(config))
    assert result.returncode == 2
    assert "routing.first_token_budget_ms: Input should be greater than 0" in result.stderr


def test_unknown_agent_is_a_clear_error() -> None:
    result = _voicerouter("route", "hello", "--agent", "dentist")
    assert result.returncode == 2 and "unknown agent 'dentist' (known: clinic, helpdesk)" in result.stderr


def test_agent_names_cannot_reach_outside_the_agents_folder() -> None:
    from voicerouter.agent import AgentError, load_agent

    for name in ("../voicerouter/default", "clinic/../../x", "", "a" * 100):
        with pytest.raises(AgentError, match="bad agent name"):
            load_agent(name)
