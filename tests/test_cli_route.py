"""`voicerouter route` with a call's history and in batch: the decision follows the conversation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OFFLINE_ENV = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
PLAN = [
    {"role": "agent", "text": "Brightwater IT Service Desk, how can I help?"},
    {
        "role": "user",
        "text": "my vpn drops every time I dock the laptop and then outlook stops syncing until I reboot",
    },
    {
        "role": "agent",
        "text": "That usually means the dock's adapter takes the route. I can set the VPN to prefer "
        "Wi-Fi and restart its service remotely. Shall I go ahead?",
    },
]


def _route(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicerouter.cli", "route", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=OFFLINE_ENV,
    )


def test_a_confirmation_after_a_reasoning_plan_inherits_its_tier(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps(PLAN), encoding="utf-8")
    with_history = _route("yeah commit it", "--agent", "helpdesk", "--history", str(history), "--json")
    assert with_history.returncode == 0, with_history.stderr
    assert json.loads(with_history.stdout)["tier"] == "reasoning"


def test_batch_answers_each_line_in_order_and_reports_bad_lines_without_stopping() -> None:
    lines = [
        {"id": "a", "agent": "helpdesk", "text": "yeah commit it", "history": PLAN},
        {"id": "b", "agent": "clinic", "text": "thanks so much bye", "history": []},
        "not json",
        {"id": "d", "agent": "dentist", "text": "hi"},
        {"id": "e", "agent": "clinic", "text": "what time do you open on saturday"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    result = _route("--batch", stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5
    assert [o.get("id") for o in out] == ["a", "b", None, "d", "e"]
    assert [o.get("tier") for o in out] == ["reasoning", "speech", None, None, "triage"]
    for o in (out[0], out[1], out[4]):
        assert {"tier", "model", "confidence", "reason"} <= o.keys()
    assert out[2]["line"] == 3 and "error" in out[2]
    assert "unknown agent 'dentist'" in out[3]["error"]


def test_a_history_that_is_not_a_list_of_turns_is_named_in_the_error(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "caller", "text": "hi"}]), encoding="utf-8")
    result = _route("hello", "--history", str(history))
    assert result.returncode == 2
    assert str(history) in result.stderr and "Traceback" not in result.stderr


def test_text_and_batch_are_exclusive() -> None:
    result = _route("hello", "--batch")
    assert result.returncode == 2 and "either TEXT or --batch" in result.stderr
