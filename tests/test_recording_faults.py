"""Recording never takes a call down: a disk that fills up mid-call, and a recordings folder that cannot be
written at start.

The full disk is real to the server: it runs as its own process under a file-size limit (RLIMIT_FSIZE), so
its writes past the limit fail in the kernel (EFBIG, handled as any ENOSPC/EIO) while the small call index
still fits. Only the server's own files are limited: espeak-ng, which dies of SIGXFSZ under the limit, runs
through a wrapper that lifts it, as it would when the full disk is only the recordings one.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiohttp
import pytest

from tests.serve_kit import QUESTION, needs_espeak, spoken
from tests.serve_process import offline_env, serve_command, serve_process
from voicerouter.call.repair import wav_header_matches
from voicerouter.caller.run import run_call

FILE_LIMIT_BYTES = 96 * 1024  # ~3 s of 16 kHz audio: every call's answer outgrows it, the index does not


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, resource.RLIM_INFINITY))


def _env_with_unlimited_espeak(directory: Path) -> dict[str, str]:
    espeak = shutil.which("espeak-ng")
    assert espeak is not None
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "espeak-ng"
    wrapper.write_text(f'#!/bin/sh\nulimit -S -f unlimited\nexec {espeak} "$@"\n')
    wrapper.chmod(0o755)
    env = offline_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


@needs_espeak
async def test_a_disk_that_fills_up_mid_call_leaves_calls_answered_and_says_recording_failed(
    tmp_path: Path,
) -> None:
    speech = spoken(QUESTION, tmp_path, 16000)
    recordings = tmp_path / "recordings"
    env = _env_with_unlimited_espeak(tmp_path)
    with serve_process(recordings, preexec_fn=_limit_file_size, env=env) as server:
        results = [await run_call(server.url, speech) for _ in range(2)]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/calls") as response:
                rows = (await response.json())["calls"]
            async with http.get(f"{server.url}/metrics") as response:
                metrics = await response.text()
    for result in results:  # both calls, the second placed after the disk was full, were answered
        seconds = len(result.agent_audio) / 2 / result.rate_hz
        assert seconds > 2.0, f"call {result.call_id} got {seconds:.1f} s of answer"
        assert any(e.get("type") == "agent.text" for e in result.events)
    assert {row["call_id"] for row in rows} == {r.call_id for r in results}
    assert all(row["recording"] == "failed" and row["ended"] for row in rows), rows
    assert all(row["end_reason"] == "caller hung up" for row in rows), rows
    errors = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
              if line.startswith("voicerouter_recording_errors_total{")]  # fmt: skip
    assert sum(errors) == 2, metrics
    error_lines = server.log_lines("ERROR")
    assert len(error_lines) == 2, "".join(server.lines)
    assert all("recording stopped, the call goes on unrecorded" in line for line in error_lines)
    assert "Traceback" not in "".join(server.lines)
    for wav in recordings.glob("*.wav"):  # what did reach the disk is a valid file
        assert wav_header_matches(wav), wav
    for jsonl in recordings.glob("*.jsonl"):
        assert jsonl.read_bytes().endswith(b"\n"), jsonl


def _read_only_folder(path: Path) -> str | None:
    """Make `path` read-only for the server; returns how, or None when this machine cannot."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        return "chmod"
    bound = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, check=False)
    if bound.returncode == 0:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True)
        return "mount"
    return None


def test_a_read_only_recordings_folder_at_start_is_one_line_naming_it_and_exit_code_2(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    how = _read_only_folder(folder)
    if how is None:
        pytest.skip("cannot make a read-only folder here (root without mount)")
    try:
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(serve_command(folder / "recordings"), capture_output=True, text=True,
                                  env=offline_env(), cwd=cwd, timeout=120, check=False)  # fmt: skip
    finally:
        if how == "mount":
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o700)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: recordings folder {folder / 'recordings'} is not writable: ")
    assert "Traceback" not in done.stderr
