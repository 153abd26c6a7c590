"""End to end over `/ws`: a spoken clinic question is transcribed offline, routed, answered and spoken back;
the call is recorded, indexed and counted, and leaves no task or process behind."""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from tests.serve_kit import QUESTION, ServerHandle, loudness_dbfs, needs_espeak, running_server, spoken
from voicerouter.caller.client import CallResult
from voicerouter.caller.run import run_call

pytestmark = [needs_espeak, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class FinishedCall:
    server: ServerHandle
    result: CallResult
    leaked_tasks: list[str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def finished_call(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FinishedCall]:
    directory = tmp_path_factory.mktemp("serve_ws")
    question = spoken(QUESTION, directory, 16000)
    async with running_server(directory) as server:
        before = asyncio.all_tasks()
        result = await run_call(server.url, question, answer_s=1.5)
        await server.wait_idle()
        await asyncio.sleep(0.1)  # let the server's connection handler return
        leaked = [t.get_name() for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
        yield FinishedCall(server, result, leaked)


async def test_question_is_transcribed_routed_to_triage_and_answered_with_audio(
    finished_call: FinishedCall,
) -> None:
    result = finished_call.result
    assert result.call_id
    assert any("saturday" in text and "open" in text for text in result.transcripts), result.transcripts
    assert [route["tier"] for route in result.routes] == ["triage"]
    answer = [e for e in result.of_type("agent.text") if e["turn_id"] == 1 and e["final"]]
    assert answer and "Saturday" in answer[0]["text"]
    question_sent = result.speech_sent[0][1]
    answer_bytes = sum(size for at, size in result.audio_arrivals if at > question_sent)
    assert answer_bytes >= 16000 * 2 * 1.0  # at least a second of the answer arrived
    assert loudness_dbfs(bytes(result.agent_audio[-16000 * 2 :])) > -35.0  # and it is speech, not silence
    assert result.latencies and result.latencies[0]["turn_id"] == 1


async def test_hanging_up_mid_answer_keeps_only_what_was_heard(finished_call: FinishedCall) -> None:
    result = finished_call.result
    interrupted = result.of_type("turn.interrupted")
    answer = next(e["text"] for e in result.of_type("agent.text") if e["turn_id"] == 1 and e["final"])
    assert len(interrupted) == 1 and interrupted[0]["turn_id"] == 1
    heard = interrupted[0]["heard_text"]
    assert heard and answer.startswith(heard) and len(heard) < len(answer)
    assert result.of_type("call.ended")[0]["reason"] == "caller hung up"


async def test_call_is_recorded_with_its_events_and_both_sides_audio(finished_call: FinishedCall) -> None:
    recordings = finished_call.server.recordings
    call_id = finished_call.result.call_id
    lines = [json.loads(line) for line in (recordings / f"{call_id}.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "call.started" and lines[-1]["type"] == "call.ended"
    audio_refs = {e["track"]: e for e in lines if e["type"] == "call.audio"}
    assert set(audio_refs) == {"caller", "agent"}
    for track, ref in audio_refs.items():
        with wave.open(str(recordings / ref["path"])) as handle:
            assert handle.getframerate() == ref["sample_rate_hz"] == 16000
            pcm = handle.readframes(handle.getnframes())
        assert len(pcm) / 2 / 16000 > 5.0, track  # the greeting, the question and part of the answer
        assert loudness_dbfs(pcm) > -45.0, track
    kinds = [e["type"] for e in lines]
    assert (
        kinds.index("agent.audio_started") < kinds.index("user.speech_started") < kinds.index("turn.started")
    )


async def test_calls_index_lists_the_call_with_its_route_decisions(finished_call: FinishedCall) -> None:
    base = finished_call.server.url
    call_id = finished_call.result.call_id
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/calls") as response:
            assert response.status == 200
            calls = (await response.json())["calls"]
        async with session.get(f"{base}/calls/{call_id}") as response:
            assert response.status == 200
            detail = await response.json()
        async with session.get(f"{base}/calls/does-not-exist") as response:
            assert response.status == 404
    row = next(c for c in calls if c["call_id"] == call_id)
    assert row["transport"] == "ws" and row["agent"] == "clinic" and row["ended"] and row["turns"] == 1
    assert [r["tier"] for r in row["routes"]] == ["triage"]
    assert [e["tier"] for e in detail["events"] if e["type"] == "route.decided"] == ["triage"]


async def test_metrics_parse_as_prometheus_text_and_count_the_call(finished_call: FinishedCall) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{finished_call.server.url}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("voicerouter_calls_total", (("transport", "ws"),))] == 1
    assert samples[("voicerouter_active_calls", ())] == 0
    assert samples[("voicerouter_turns_total", (("model", "offline"), ("tier", "triage")))] == 1
    assert samples[("voicerouter_outbound_frames_total", ())] > 100
    assert ("voicerouter_outbound_frames_late_total", ()) in samples
    assert samples[("voicerouter_first_token_ms_count", (("model", "offline"),))] == 1


async def test_no_task_or_speech_process_is_left_after_the_call_ends(finished_call: FinishedCall) -> None:
    assert finished_call.leaked_tasks == []
    assert finished_call.server.context.calls == {}
    tts = finished_call.server.context.speech.tts
    assert not getattr(tts, "running", set())  # no espeak-ng process outlives its sentence


async def test_healthz_answers_while_idle(finished_call: FinishedCall, tmp_path: Path) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{finished_call.server.url}/healthz") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"status": "ok", "active_calls": 0}
