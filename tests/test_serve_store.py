"""The pieces a live call leaves behind: Prometheus text, the SQLite call index, crash-safe WAV tracks."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from voicerouter import events as ev
from voicerouter.call.metrics import ServeMetrics
from voicerouter.call.wav_track import WavTrack
from voicerouter.metrics import Registry
from voicerouter.store import CallRecorder, CallRow, CallStore, RouteSummary, utc_now


def test_registry_renders_counters_gauges_and_histograms_that_the_reference_parser_reads() -> None:
    registry = Registry()
    calls = registry.counter("demo_calls_total", "Calls.", ("transport",))
    active = registry.gauge("demo_active", 'Active "calls".')
    latency = registry.histogram("demo_latency_ms", "Latency.", (10, 100), ("model",))
    calls.inc(2, 'w"s')
    active.set(3)
    for value in (5, 50, 500):
        latency.observe(value, "offline")
    families = {f.name: f for f in text_string_to_metric_families(registry.render())}
    assert families["demo_calls"].samples[0].labels == {"transport": 'w"s'}
    assert families["demo_calls"].samples[0].value == 2
    assert families["demo_active"].samples[0].value == 3
    samples = families["demo_latency_ms"].samples
    buckets = {float(s.labels["le"]): s.value for s in samples if s.name.endswith("_bucket")}
    assert buckets == {10.0: 1, 100.0: 2, float("inf"): 3}
    totals = {s.name.rsplit("_", 1)[1]: s.value for s in samples if s.name.endswith(("_sum", "_count"))}
    assert totals == {"sum": 555, "count": 3}


def test_counters_refuse_to_go_down_and_labels_must_match() -> None:
    registry = Registry()
    counter = registry.counter("demo_total", "Demo.", ("kind",))
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, "a")
    with pytest.raises(ValueError, match="expected labels"):
        counter.inc(1)


def test_serve_metrics_count_turns_by_tier_and_model_fallbacks_and_late_frames() -> None:
    metrics = ServeMetrics()
    metrics.observe_event(
        ev.RouteDecided(
            call_id="c",
            t_ms=1,
            turn_id=1,
            tier="triage",
            model="offline",
            provider="offline",
            reason="r",
            confidence=0.9,
            est_cost_usd=0.0,
        )
    )
    metrics.observe_event(
        ev.ProviderFailed(
            call_id="c",
            t_ms=2,
            turn_id=1,
            provider="openai",
            model="gpt-mini",
            error="429",
            fallback_to="offline",
        )
    )
    metrics.frame_sent(3.0)
    metrics.frame_sent(45.0)
    assert metrics.turns.value("triage", "offline") == 1
    assert metrics.fallbacks.value("gpt-mini") == 1
    assert metrics.outbound_frames.value() == 2
    assert metrics.late_frames.value() == 1
    names = {f.name for f in text_string_to_metric_families(metrics.render())}
    assert {
        "voicerouter_active_calls",
        "voicerouter_turns",
        "voicerouter_first_token_ms",
        "voicerouter_outbound_frames_late",
    } <= names


async def test_call_index_lists_live_calls_and_completes_them_at_the_end(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "calls.sqlite3")
    await store.open()
    try:
        row = CallRow(
            call_id="abc", agent="clinic", transport="ws", started=utc_now(), path=str(tmp_path / "x")
        )
        await store.call_started(row)
        listed = await store.list_calls()
        assert [r.call_id for r in listed] == ["abc"] and listed[0].ended is None
        routes = [RouteSummary(turn_id=1, tier="triage", model="offline")]
        await store.call_ended("abc", turns=1, cost_usd=0.001, end_reason="caller hung up", routes=routes)
        done = await store.get_call("abc")
        assert done is not None and done.ended is not None and done.routes == routes and done.turns == 1
        assert await store.get_call("nope") is None
    finally:
        await store.close()


async def test_recordings_the_index_does_not_know_are_added_from_their_events(tmp_path: Path) -> None:
    recorder = CallRecorder.in_dir(tmp_path, "old1")
    recorder.write(ev.CallStarted(call_id="old1", t_ms=0, agent="helpdesk", transport="twilio"))
    recorder.write(
        ev.RouteDecided(
            call_id="old1",
            t_ms=900,
            turn_id=1,
            tier="reasoning",
            model="offline",
            provider="offline",
            reason="r",
            confidence=0.7,
            est_cost_usd=0.0,
        )
    )
    recorder.write(ev.CallEnded(call_id="old1", t_ms=2000, reason="caller hung up", turns=1, cost_usd=0.0))
    recorder.close()
    (tmp_path / "broken.jsonl").write_text("not json\n")
    store = CallStore(tmp_path / "calls.sqlite3")
    try:
        assert await store.index_directory(tmp_path) == 1
        assert await store.index_directory(tmp_path) == 0  # already known
        row = await store.get_call("old1")
        assert row is not None and row.agent == "helpdesk" and row.transport == "twilio"
        assert [r.tier for r in row.routes] == ["reasoning"] and row.end_reason == "caller hung up"
    finally:
        await store.close()


async def test_wav_track_is_a_valid_wav_after_every_flush_and_pads_gaps_with_silence(tmp_path: Path) -> None:
    track = WavTrack(tmp_path / "agent.wav", 8000)
    track.append(b"\x01\x00" * 800)
    await track.flush()
    with wave.open(str(track.path)) as handle:  # readable mid-call: a crash keeps everything flushed
        assert (handle.getframerate(), handle.getnframes()) == (8000, 800)
    track.pad_to(2000)
    track.append(b"\x02\x00" * 100)
    await track.close()
    with wave.open(str(track.path)) as handle:
        frames = handle.readframes(handle.getnframes())
    assert len(frames) == 2 * 2100
    assert frames[2 * 1999 : 2 * 2000] == b"\x00\x00" and frames[-2:] == b"\x02\x00"


def test_in_multiprocess_mode_the_figures_of_every_worker_add_up(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = (
        "import sys; from voicerouter.call.metrics import ServeMetrics; m = ServeMetrics();"
        "m.calls.inc(int(sys.argv[1]), 'ws'); m.active_calls.inc(1)"
    )
    for calls in (2, 3):
        subprocess.run([sys.executable, "-c", worker, str(calls)], env=env, check=True, timeout=60)
    render = "from voicerouter.call.metrics import ServeMetrics; print(ServeMetrics().registry.render())"
    text = subprocess.run([sys.executable, "-c", render], env=env, check=True, timeout=60,
                          capture_output=True, text=True).stdout  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["voicerouter_calls"].samples[0].value == 5
    assert families["voicerouter_calls"].samples[0].labels == {"transport": "ws"}
