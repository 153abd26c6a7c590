"""The commands themselves: `voicerouter serve` in its own process, called by `voicerouter call`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import wave
from pathlib import Path

from tests.serve_kit import QUESTION, loudness_dbfs, needs_espeak

pytestmark = needs_espeak

VOICEROUTER = [sys.executable, "-c", "from voicerouter.cli import main; main()"]


def test_serve_answers_a_call_placed_with_the_call_command_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    wav = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), QUESTION], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "VOICEROUTER_TOKEN"}
    recordings = tmp_path / "recordings"
    server = subprocess.Popen(
        [*VOICEROUTER, "serve", "--port", "0", "--recordings", str(recordings), "--speech", "offline"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        address = None
        for line in server.stdout:
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if found:
                address = found.group(1)
                break
        assert address, "serve never said where it listens"
        out = tmp_path / "agent.wav"
        call = subprocess.run(
            [*VOICEROUTER, "call", address, "--wav", str(wav), "--out", str(out), "--answer-seconds", "1"],
            capture_output=True, text=True, env=env, timeout=90, check=False,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr
        assert re.search(r"you said: '.*saturday.*'", call.stdout), call.stdout
        assert "[triage -> offline" in call.stdout
        with wave.open(str(out)) as handle:
            agent = handle.readframes(handle.getnframes())
        assert len(agent) / 2 / 16000 > 4.0 and loudness_dbfs(agent) > -45.0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert len(list(recordings.glob("*.jsonl"))) == 1


START_UP_SIGTERM = """
import asyncio, os, signal, sys
from pathlib import Path
from voicerouter.server import ServeSettings, create_app, run_server

settings = ServeSettings(port=0, recordings_dir=Path(sys.argv[1]), speech="offline")
app = create_app(settings)

async def terminate_while_starting(app):
    os.kill(os.getpid(), signal.SIGTERM)  # as a supervisor does to a worker it just restarted

app.on_startup.append(terminate_while_starting)
asyncio.run(run_server(settings, app=app))
print("drained")
"""


def test_a_sigterm_while_the_server_is_still_starting_drains_it_instead_of_killing_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "VOICEROUTER_TOKEN"}
    done = subprocess.run([sys.executable, "-c", START_UP_SIGTERM, str(tmp_path / "recordings")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "drained"
