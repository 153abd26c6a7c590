"""A caller may hang up at any moment of a call: the server ends it within 2 s and finalises its recording.

Twenty moments drawn with a fixed seed from every phase of a call (the greeting's first frame, mid-greeting,
mid-question, while the question is recognised, the answer's first frame, mid-answer), half of them a polite
`stop`, half a dropped connection, over `/ws` and over `/twilio`. After each: `/healthz` says no call is
live within 2 s, the call's WAV headers give the files' real sizes, its JSONL ends with `call.ended`, its
index row is ended, and no recording file is left open.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.serve_kit import QUESTION, ServerHandle, needs_espeak, running_server, spoken
from voicerouter.caller.client import CallerClient

pytestmark = needs_espeak

HANG_UP_TO_IDLE_S = 2.0
PHASES = ("first agent frame", "greeting", "question", "recognising", "answer's first frame", "answer")


@dataclass(frozen=True)
class Moment:
    phase: str
    offset_s: float  # into the phase
    goodbye: bool  # a `stop` message, or the connection just drops

    def __str__(self) -> str:
        how = "stop" if self.goodbye else "drop"
        return f"{how} at {self.phase} +{self.offset_s:.2f}s"


def moments(seed: int, count: int = 20) -> list[Moment]:
    """`count` moments; the first few at the greeting's first frame, where hang-ups used to leak the call."""
    rng = random.Random(seed)
    drawn = [Moment(PHASES[0], 0.0, goodbye=bool(i % 2)) for i in range(3)]
    while len(drawn) < count:
        phase = rng.choice(PHASES)
        offset = 0.0 if "first" in phase else rng.uniform(0.0, 1.5)
        drawn.append(Moment(phase, round(offset, 2), goodbye=rng.random() < 0.5))
    return drawn


async def _first_frame(call: CallerClient, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not call.result.audio_arrivals:
        assert time.monotonic() < deadline, "no agent audio arrived"
        await asyncio.sleep(0.002)


async def _reach(call: CallerClient, moment: Moment, question: bytes) -> None:
    """Play the caller's part of the call up to `moment`."""
    await _first_frame(call)
    if moment.phase == "greeting":
        await asyncio.sleep(moment.offset_s)
        return
    if moment.phase == "first agent frame":
        return
    assert await call.wait_for_agent_silence(0.7, timeout_s=20.0), "the greeting never ended"
    if moment.phase == "question":
        speaking = asyncio.get_running_loop().create_task(call.say(question))
        await asyncio.sleep(moment.offset_s)
        speaking.cancel()
        return
    await call.say(question)
    if moment.phase == "recognising":
        await asyncio.sleep(moment.offset_s / 3)
        return
    assert await call.wait_for_agent_audio(timeout_s=20.0), "no answer came"
    if moment.phase == "answer":
        await asyncio.sleep(moment.offset_s)


async def _active_calls(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/healthz") as response:
        count: int = (await response.json())["active_calls"]
        return count


async def _seconds_until_idle(session: aiohttp.ClientSession, url: str, *, since: float) -> float:
    """Seconds from `since` until `/healthz` reports no live call (polled; gives up after 10 s)."""
    for _ in range(500):
        if await _active_calls(session, url) == 0:
            break
        await asyncio.sleep(0.02)
    return time.monotonic() - since


def _open_recording_files(directory: Path) -> list[str]:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        index_files = (".sqlite3", "-wal", "-shm", "-journal")
        if target.startswith(str(directory)) and not target.endswith(index_files):
            names.append(target)
    return names


def assert_finalised_wav(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) >= 44, f"{path.name}: {len(data)} bytes, no header"
    riff, riff_size, wave_tag = struct.unpack_from("<4sI4s", data, 0)
    data_tag, data_size = struct.unpack_from("<4sI", data, 36)
    assert (riff, wave_tag, data_tag) == (b"RIFF", b"WAVE", b"data"), path.name
    assert riff_size == len(data) - 8 and data_size == len(data) - 44, (
        f"{path.name}: header says {data_size} data bytes, the file holds {len(data) - 44}"
    )


async def assert_finalised(server: ServerHandle, call_id: str) -> None:
    directory = server.recordings
    lines = (directory / f"{call_id}.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line whole: flushed, not torn
    assert events[-1]["type"] == "call.ended", [e["type"] for e in events[-3:]]
    for side in ("caller", "agent"):
        wav = directory / f"{call_id}.{side}.wav"
        if wav.exists():
            assert_finalised_wav(wav)
    store = server.context.services.store
    assert store is not None
    row = await store.get_call(call_id)
    assert row is not None and row.ended is not None, row
    assert _open_recording_files(directory) == []


async def _hang_up_at_moments(tmp_path: Path, *, twilio: bool, seed: int) -> None:
    question = spoken(QUESTION, tmp_path, 8000 if twilio else 16000)
    failures: list[str] = []
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as session:
        for moment in moments(seed):
            before = set(server.recordings.glob("*.jsonl"))
            call = CallerClient(server.url, twilio=twilio)
            await call.__aenter__()
            try:
                await _reach(call, moment, question)
            finally:
                hung_up = time.monotonic()
                await call.hang_up(goodbye=moment.goodbye)
            idle_after_s = await _seconds_until_idle(session, server.url, since=hung_up)
            if idle_after_s > HANG_UP_TO_IDLE_S:
                failures.append(f"{moment}: still live {idle_after_s:.1f} s after the hang-up")
                await server.wait_idle(30.0)
            (recording,) = set(server.recordings.glob("*.jsonl")) - before
            try:
                await assert_finalised(server, recording.name.removesuffix(".jsonl"))
            except AssertionError as exc:
                failures.append(f"{moment}: {exc}")
        tts = server.context.speech.tts
        assert not getattr(tts, "running", set()), "an espeak-ng process outlived its call"
    assert failures == []


@pytest.mark.parametrize("seed", [20261202])
async def test_hanging_up_at_twenty_moments_of_a_ws_call_ends_each_and_finalises_its_recording(
    tmp_path: Path, seed: int
) -> None:
    await _hang_up_at_moments(tmp_path, twilio=False, seed=seed)


@pytest.mark.parametrize("seed", [11])
async def test_hanging_up_at_twenty_moments_of_a_twilio_call_ends_each_and_finalises_its_recording(
    tmp_path: Path, seed: int
) -> None:
    await _hang_up_at_moments(tmp_path, twilio=True, seed=seed)
