"""Calls cut off by a crash are closed at the next start: `call.ended {reason: server_restart}` at the time
of their last event, in the recording and the index, and WAV headers that match the audio on disk."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import struct
import wave
from pathlib import Path

import aiohttp

from tests.serve_kit import QUESTION, needs_espeak, spoken
from tests.serve_process import serve_process
from voicerouter import events as ev
from voicerouter.call.reconcile import reconcile_open_calls
from voicerouter.call.repair import repair_wav_header, trim_torn_line, wav_header_matches
from voicerouter.call.wav_track import wav_header
from voicerouter.caller.client import CallerClient
from voicerouter.store import CallStore, read_recording


def _crashed_call(directory: Path, call_id: str) -> None:
    """What kill -9 can leave: no call.ended, a torn last line, WAV headers behind their audio."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        ev.CallStarted(call_id=call_id, t_ms=0, agent="clinic", transport="ws", caller="x"),
        ev.CallAudio(
            call_id=call_id, t_ms=1, track="caller", path=f"{call_id}.caller.wav", sample_rate_hz=8000
        ),
        ev.CallAudio(
            call_id=call_id, t_ms=1, track="agent", path=f"{call_id}.agent.wav", sample_rate_hz=8000
        ),
        ev.TurnStarted(call_id=call_id, t_ms=2400, turn_id=1, text="hello"),
    ]
    text = "".join(ev.dump_event(e) + "\n" for e in lines) + '{"type": "agent.te'
    (directory / f"{call_id}.jsonl").write_text(text, encoding="utf-8")
    (directory / f"{call_id}.caller.wav").write_bytes(wav_header(8000, 1600) + bytes(4000))  # header behind
    (directory / f"{call_id}.agent.wav").write_bytes(wav_header(8000, 0) + bytes(3201))  # plus half a sample


async def test_a_call_without_an_end_is_closed_at_its_last_event_and_its_files_are_repaired(
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    _crashed_call(recordings, "c1")
    store = CallStore(recordings / "calls.sqlite3")
    try:
        assert await store.index_directory(recordings) == 1
        done = await reconcile_open_calls(store, recordings)
        again = await reconcile_open_calls(store, recordings)
        row = await store.get_call("c1")
    finally:
        await store.close()
    assert (done.calls, done.wav_headers, done.torn_lines) == (1, 2, 1)
    assert again.calls == 0
    assert row is not None and row.end_reason == "server_restart" and row.ended is not None
    elapsed = dt.datetime.fromisoformat(row.ended) - dt.datetime.fromisoformat(row.started)
    assert elapsed == dt.timedelta(milliseconds=2400)
    assert row.turns == 1
    recording = read_recording(recordings / "c1.jsonl")
    assert recording.errors == []
    last = recording.events[-1]
    assert isinstance(last, ev.CallEnded) and (last.reason, last.t_ms, last.turns) == (
        "server_restart",
        2400,
        1,
    )
    for side, samples in (("caller", 2000), ("agent", 1600)):
        path = recordings / f"c1.{side}.wav"
        assert wav_header_matches(path)
        with wave.open(str(path)) as handle:
            assert handle.getnframes() == samples


def test_repairs_leave_valid_files_alone_and_skip_what_is_not_ours(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    good.write_bytes(wav_header(16000, 4) + bytes(4))
    assert not repair_wav_header(good) and wav_header_matches(good)
    foreign = tmp_path / "foreign.wav"
    foreign.write_bytes(b"RIFX" + bytes(60))
    assert not repair_wav_header(foreign) and foreign.read_bytes() == b"RIFX" + bytes(60)
    short = tmp_path / "short.wav"
    short.write_bytes(b"RIFF")
    assert not repair_wav_header(short)
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b'{"a": 1}\n')
    assert not trim_torn_line(whole)
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"a": 1}\n{"b"')
    assert trim_torn_line(torn) and torn.read_bytes() == b'{"a": 1}\n'
    header = struct.unpack("<4sI", good.read_bytes()[:8])
    assert header == (b"RIFF", 40)


@needs_espeak
async def test_live_calls_killed_with_sigkill_are_closed_as_server_restart_when_the_server_starts_again(
    tmp_path: Path,
) -> None:
    speech = spoken(QUESTION, tmp_path, 16000)
    recordings = tmp_path / "recordings"
    with serve_process(recordings) as first:
        async with contextlib.AsyncExitStack() as stack:
            calls = [await stack.enter_async_context(CallerClient(first.url)) for _ in range(3)]
            for call in calls:
                await call.wait_for_agent_silence(0.7, timeout_s=30.0)
            await asyncio.gather(*(call.say(speech) for call in calls))
            answered = await asyncio.gather(*(call.wait_for_agent_audio(timeout_s=30.0) for call in calls))
            assert all(answered)
            await asyncio.sleep(1.5)  # mid-answer, audio flushed at least once
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
            call_ids = {call.result.call_id for call in calls}
    assert len(call_ids) == 3 and None not in call_ids
    with serve_process(recordings) as second:
        async with aiohttp.ClientSession() as http, http.get(f"{second.url}/calls") as response:
            rows = {row["call_id"]: row for row in (await response.json())["calls"]}
    assert set(rows) == call_ids
    for call_id, row in rows.items():
        assert row["end_reason"] == "server_restart" and row["ended"], row
        recording = read_recording(recordings / f"{call_id}.jsonl")
        assert recording.errors == []
        last = recording.events[-1]
        assert isinstance(last, ev.CallEnded) and last.reason == "server_restart"
        assert last.t_ms == recording.events[-2].t_ms
        elapsed = dt.datetime.fromisoformat(row["ended"]) - dt.datetime.fromisoformat(row["started"])
        assert abs(elapsed.total_seconds() * 1000 - last.t_ms) < 1
        for side in ("caller", "agent"):
            path = recordings / f"{call_id}.{side}.wav"
            assert wav_header_matches(path), path
            with wave.open(str(path)) as handle:
                assert handle.getnframes() > 0
