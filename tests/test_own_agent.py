"""A team's own agent outside the package: `voicerouter init`, then route, chat, sim replay, its own test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicerouter.agent import AGENTS_DIR_ENV, AgentError, available_agents, load_agent

SIM = "import sys; from sim.cli import main; sys.argv[0] = 'sim'; main()"
REPO = Path(__file__).resolve().parent.parent
OFFLINE_ENV = {
    k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", AGENTS_DIR_ENV)
}


def _run(module: str, *args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module] if module != "sim.cli" else [sys.executable, "-c", SIM]
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, text=True, timeout=180, cwd=cwd,
        env={**OFFLINE_ENV, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def test_init_scaffolds_an_agent_that_routes_chats_and_replays_outside_the_repository(tmp_path: Path) -> None:
    home = tmp_path / "team-agents"
    made = _run("voicerouter.cli", "init", "parcels", "--dir", str(home), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = home / "parcels"
    assert {p.name for p in folder.iterdir()} >= {"agent.toml", "prompt.md", "tools.py", "data.json",
                                                  "test_tools.py", "calls"}  # fmt: skip
    assert len(list((folder / "calls").glob("*.jsonl"))) == 3

    routed = _run("voicerouter.cli", "route", "where is my parcel", "--agent", "parcels", "--agents-dir",
                  str(home), "--json", cwd=tmp_path)  # fmt: skip
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout)["agent"] == "parcels"

    chat = _run("voicerouter.cli", "chat", "--agent", "parcels", "--agents-dir", str(home),
                stdin="hi where is my order one zero zero three\nthanks bye\n", cwd=tmp_path)  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert 'find_order({"order_id": "1003"})' in chat.stdout and "being packed" in chat.stdout

    report = tmp_path / "report.json"
    replay = _run("sim.cli", "replay", str(folder / "calls"), "--agents-dir", str(home), "--quiet",
                  "--json", str(report), cwd=tmp_path)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    scored = json.loads(report.read_text())
    assert scored["calls"] == 3 and scored["tool_arg_accuracy"] == 1.0
    assert scored["refusal_on_missing_rate"] == 1.0 and scored["routing_accuracy"] == 1.0

    own_test = _run("pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_tools.py"), cwd=home)
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    assert "2 passed" in own_test.stdout

    again = _run("voicerouter.cli", "init", "parcels", "--dir", str(home), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_user_folders_come_first_and_the_environment_variable_adds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clinic.md").write_text("A different clinic.")
    (tmp_path / "clinic.toml").write_text(
        'name = "clinic"\ndisplay_name = "Our Own Clinic"\nprompt_file = "clinic.md"\n'
        'tools_module = "tools.clinic"\n'
    )
    monkeypatch.delenv(AGENTS_DIR_ENV, raising=False)
    assert load_agent("clinic").display_name == "Maple Street Family Clinic"
    monkeypatch.setenv(AGENTS_DIR_ENV, str(tmp_path))
    assert load_agent("clinic").display_name == "Our Own Clinic"
    assert load_agent("helpdesk").display_name  # the shipped ones are still found
    assert {"clinic", "helpdesk"} <= set(available_agents())
    with pytest.raises(AgentError, match=str(tmp_path)):
        load_agent("nobody")


def test_agents_dir_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    listed = _run("voicerouter.cli", "agents", "--agents-dir", str(tmp_path / "missing"), cwd=tmp_path)
    assert listed.returncode == 2 and "does not exist" in listed.stderr
