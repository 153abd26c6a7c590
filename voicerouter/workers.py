"""`voicerouter serve --workers N`: N serving processes on one machine, sharing the HTTP and SIP ports.

The parent only supervises: it reserves the ports, starts the workers (each a full `serve` on one core),
restarts one that dies, forwards SIGTERM/SIGINT so every worker drains its calls, and exits when they have.
How traffic is shared:
- HTTP and SIP listen with SO_REUSEPORT: the kernel spreads new connections over the workers, and hashes UDP
  datagrams on the peer's address and port, so a SIP peer (a trunk, a phone) keeps talking to the worker that
  has its dialogs for as long as the set of workers is stable;
- each worker takes its own slice of the RTP port range, so a call's media reaches the worker that owns it;
- call ids carry the worker (`w1-…`), so a restarted worker closes just the calls its predecessor left open;
- `/metrics` adds up every worker (prometheus-client's multiprocess mode, in a folder the parent owns) and
  `/healthz` reports each worker from the heartbeat file it writes beside the recordings.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORKER_ENV = "VOICEROUTER_WORKER"  # this process's index, 0 … N-1, when it is one of N workers
WORKERS_ENV = "VOICEROUTER_WORKERS"  # N
STATUS_DIR_ENV = "VOICEROUTER_WORKER_STATUS_DIR"
RESTART_BACKOFF_S = 1.0
HEARTBEAT_S = 1.0
_PR_SET_PDEATHSIG = 1


def worker_index() -> int | None:
    """This process's worker index, or None when it serves alone."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value not in (None, "") else None


def worker_count() -> int:
    return int(os.environ.get(WORKERS_ENV) or 1)


def reuse_port() -> bool:
    """Bind the serving ports with SO_REUSEPORT (this process is one of several workers)."""
    return worker_index() is not None


def call_id_prefix() -> str:
    """`w<index>-` for a worker's call ids, so its open calls can be told from its siblings'."""
    index = worker_index()
    return f"w{index}-" if index is not None else ""


def rtp_range(low: int, high: int) -> tuple[int, int]:
    """This worker's slice of the RTP port range `low..high` (even-aligned, as RTP/RTCP pairs need)."""
    index = worker_index()
    if index is None:
        return low, high
    size = (high - low + 1) // worker_count()
    size -= size % 2
    if size < 2:
        raise ValueError(f"[sip] rtp_port_min..rtp_port_max ({low}..{high}) is too small for "
                         f"{worker_count()} workers")
    start = low + index * size
    return start, start + size - 1


def status_path() -> Path | None:
    """Where this worker writes its heartbeat, when it is a worker."""
    folder = os.environ.get(STATUS_DIR_ENV)
    index = worker_index()
    return Path(folder) / f"worker-{index}.json" if folder and index is not None else None


def write_status(active_calls: int) -> None:
    """This worker's heartbeat: pid, calls in progress, when (replaced atomically; any /healthz reads it)."""
    path = status_path()
    if path is None:
        return
    line = {"worker": worker_index(), "pid": os.getpid(), "active_calls": active_calls, "at": time.time()}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(line))
    os.replace(tmp, path)


def read_statuses() -> list[dict[str, Any]]:
    """Every worker's last heartbeat, with whether it is fresh (written in the last 3 heartbeats)."""
    folder = os.environ.get(STATUS_DIR_ENV)
    if not folder:
        return []
    statuses = []
    now = time.time()
    for index in range(worker_count()):
        path = Path(folder) / f"worker-{index}.json"
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            status = {"worker": index, "pid": None, "active_calls": 0, "at": 0.0}
        status["ok"] = now - float(status.get("at", 0)) < 3 * HEARTBEAT_S
        statuses.append(status)
    return statuses


def _die_with_parent() -> None:
    """In a worker (before exec): the kernel sends SIGTERM when the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _reserve(host: str, port: int, kind: int) -> socket.socket:
    """Bind (never listen on) `port` with SO_REUSEPORT: it stays ours for the workers, and 0 picks one."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _replace_option(argv: list[str], option: str, value: str) -> list[str]:
    out, skip = [], False
    for n, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == option:
            skip = n + 1 < len(argv)
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return [*out, option, value]


class Supervisor:
    """Starts, watches and stops the worker processes of one `serve --workers N`."""

    def __init__(self, argv: Sequence[str], workers: int, *, host: str, port: int, sip_port: int | None,
                 drain_seconds: float) -> None:  # fmt: skip
        self.workers = workers
        self.drain_seconds = drain_seconds
        self._held = [_reserve(host, port, socket.SOCK_STREAM)]
        self.port = self._held[0].getsockname()[1]
        self.sip_port = sip_port
        if sip_port:
            udp = _reserve(host, sip_port, socket.SOCK_DGRAM)
            self.sip_port = udp.getsockname()[1]
            self._held += [udp, _reserve(host, self.sip_port, socket.SOCK_STREAM)]
        args = _replace_option(list(argv), "--port", str(self.port))
        if self.sip_port:
            args = _replace_option(args, "--sip-port", str(self.sip_port))
        self._argv = _replace_option(args, "--workers", "1")
        self._own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.metrics_dir = shared or tempfile.mkdtemp(prefix="vr-metrics-")
        self.status_dir = tempfile.mkdtemp(prefix="vr-workers-")
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False

    def _env(self, index: int) -> dict[str, str]:
        return {**os.environ, WORKER_ENV: str(index), WORKERS_ENV: str(self.workers),
                STATUS_DIR_ENV: self.status_dir, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}  # fmt: skip

    def _start(self, index: int) -> None:
        command = [sys.executable, "-m", "voicerouter.cli", *self._argv]
        self._procs[index] = subprocess.Popen(command, env=self._env(index), preexec_fn=_die_with_parent)

    def _stop(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            log.info("serve: %s: draining %d workers", signal.Signals(signum).name, len(self._procs))
        self._stopping = True
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def run(self) -> int:
        """Until SIGTERM/SIGINT and every worker has drained; 0 when all of them exited cleanly."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.workers):
            self._start(index)
        restarts: list[float] = []
        try:
            while not self._stopping:
                time.sleep(0.2)
                for index, proc in list(self._procs.items()):
                    code = proc.poll()
                    if code is None or self._stopping:
                        continue
                    self._mark_dead(proc.pid)
                    restarts = [t for t in restarts if time.monotonic() - t < 60] + [time.monotonic()]
                    if len(restarts) > 5 * self.workers:
                        log.error("serve: workers keep dying (worker %d: exit %s): stopping", index, code)
                        self._stop(signal.SIGTERM, None)
                        break
                    log.error("serve: worker %d (pid %d) exited with %s: restarting", index, proc.pid, code)
                    time.sleep(RESTART_BACKOFF_S)
                    self._start(index)
            return self._drain()
        finally:
            for sock in self._held:
                sock.close()
            shutil.rmtree(self.status_dir, ignore_errors=True)
            if self._own_metrics_dir:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _drain(self) -> int:
        deadline = time.monotonic() + self.drain_seconds + 5.0
        codes = []
        for proc in self._procs.values():
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.error("serve: worker pid %d did not stop in time: killing it", proc.pid)
                proc.kill()
                codes.append(proc.wait())
        return 0 if all(code == 0 for code in codes) else 1

    def _mark_dead(self, pid: int) -> None:
        with contextlib.suppress(Exception):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.metrics_dir)
