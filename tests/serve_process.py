"""`voicerouter serve` as its own process on a free loopback port, for tests that need what only a process
has: resource limits, kill -9, its exit code and log lines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

VOICEROUTER = [sys.executable, "-c", "from voicerouter.cli import main; main()"]


def offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "VOICEROUTER_TOKEN"}


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)  # everything it logged, read on a thread

    def log_lines(self, level: str) -> list[str]:
        return [line for line in list(self.lines) if f" {level} " in line]


def serve_command(recordings: Path, *extra: str) -> list[str]:
    return [*VOICEROUTER, "serve", "--port", "0", "--recordings", str(recordings), "--speech", "offline",
            *extra]  # fmt: skip


@contextmanager
def serve_process(
    recordings: Path,
    *extra: str,
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    start_timeout_s: float = 90.0,
) -> Iterator[ServeProcess]:
    """A running server; on exit it gets SIGTERM (or is gone already after a kill -9 in the test)."""
    process = subprocess.Popen(
        serve_command(recordings, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env or offline_env(), preexec_fn=preexec_fn,
    )  # fmt: skip
    lines: list[str] = []
    found = threading.Event()
    address: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if match and not address:
                address.append(match.group(1))
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        found.wait(start_timeout_s)
        assert address, "serve never said where it listens:\n" + "".join(lines)
        yield ServeProcess(process=process, url=address[0], lines=lines)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
