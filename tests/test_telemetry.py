"""Traces and logs of a call: the span tree of a real call through the engine, JSON log lines with its ids."""

from __future__ import annotations

import asyncio
import io as stdio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voicerouter import events as ev
from voicerouter import telemetry
from voicerouter.call.session import CallSession
from voicerouter.engine import io
from voicerouter.logs import CallIdsFilter, JsonFormatter
from voicerouter.wiring import build_runtime

OFFLINE_ENV = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}


async def _call(lines: list[str], *, agent: str = "helpdesk", sinks: tuple[object, ...] = ()) -> CallSession:
    """One text call through the real engine, offline model and tools, turn by turn."""
    runtime = build_runtime(None)
    engine, tools = runtime.new_call(agent, transport="text", caller="test")
    done = asyncio.Event()

    def on_turn(event: ev.Event) -> None:
        if isinstance(event, ev.TurnCompleted) and event.turn_id > 0:
            done.set()

    session = CallSession(engine, runtime.providers, tools, on_event=on_turn)
    for sink in sinks:
        session.add_event_sink(sink)  # type: ignore[arg-type]
    session.start()
    for line in lines:
        done.clear()
        session.feed(io.Transcript(text=line))
        await asyncio.wait_for(done.wait(), 30)
    await session.close("caller hung up")
    await runtime.providers.aclose()
    return session


async def test_a_call_is_one_trace_of_turns_with_route_model_and_tool_spans() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = telemetry.call_tracer(provider.get_tracer("test"))
    assert tracer is not None
    await _call(["what's the status of ticket four five nine one", "thanks bye"], sinks=(tracer.on_event,))
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}

    def parent(span: ReadableSpan) -> str | None:
        return by_id[span.parent.span_id].name if span.parent is not None else None

    (call,) = [s for s in spans if s.name == "call"]
    assert call.parent is None and call.attributes["voicerouter.agent"] == "helpdesk"
    assert {s.context.trace_id for s in spans} == {call.context.trace_id}
    turns = [s for s in spans if s.name == "turn"]
    assert len(turns) == 2 and all(parent(t) == "call" for t in turns)
    first = min(turns, key=lambda s: s.start_time or 0)
    children = {s.name: s for s in spans if s.parent and s.parent.span_id == first.context.span_id}
    assert {"route", "llm.request", "tool"} <= set(children)
    route = children["route"].attributes
    assert route["voicerouter.tier"] == "triage" and 0 <= route["voicerouter.confidence"] <= 1
    assert route["voicerouter.reason"]
    tool = children["tool"].attributes
    assert tool["voicerouter.tool"] == "get_ticket" and tool["voicerouter.tool_ok"] is True
    model = children["llm.request"].attributes
    assert model["gen_ai.request.model"] == "offline" and model["gen_ai.usage.input_tokens"] > 0
    assert "voicerouter.ttft_ms" in model
    for span in spans:  # every span closed inside its parent
        if span.parent is not None:
            outer = by_id[span.parent.span_id]
            assert outer.start_time <= span.start_time <= span.end_time <= outer.end_time  # type: ignore[operator]


def test_tracing_is_off_unless_the_environment_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert telemetry.call_tracer() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert telemetry.call_tracer() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert telemetry.call_tracer() is None


def test_chat_prints_spans_with_the_console_exporter_and_imports_no_sdk_without_it() -> None:
    env = {**OFFLINE_ENV, "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "front-desk"}
    run = subprocess.run(
        [sys.executable, "-m", "voicerouter.cli", "chat", "--agent", "clinic"],
        input="what are your hours\nbye\n", capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = [json.loads(block)["name"] for block in _json_blocks(run.stdout)]
    assert names.count("turn") == 2 and names.count("call") == 1 and "route" in names and "tool" in names
    assert '"service.name": "front-desk"' in run.stdout
    probe = (
        "import sys\nfrom voicerouter.cli import main\ntry:\n    main(['chat'], standalone_mode=False)\n"
        "finally:\n    print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    plain = subprocess.run([sys.executable, "-c", probe], input="what are your hours\nbye\n",
                           capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in OFFLINE_ENV.items() if "OTEL" not in k})  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().splitlines()[-1] == "[]"


def _json_blocks(text: str) -> list[str]:
    """The console exporter's pretty-printed JSON objects, one per span."""
    blocks, current = [], []
    for line in text.splitlines():
        if line == "{":
            current = [line]
        elif current:
            current.append(line)
            if line == "}":
                blocks.append("\n".join(current))
                current = []
    return blocks


async def test_json_log_lines_carry_the_call_and_turn_ids() -> None:
    stream = stdio.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CallIdsFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("voicerouter.test_json_logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("before any call")

        def log_turns(event: ev.Event) -> None:
            if isinstance(event, ev.ToolCalled):
                asyncio.get_running_loop().call_soon(log.info, "tool %s asked for", event.name)

        session = await _call(["what's the status of ticket four five nine one"], sinks=(log_turns,))
        log.info("after the call, still in its task")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0] == {**lines[0], "msg": "before any call", "call_id": None, "turn_id": None}
    (tool_line,) = [line for line in lines if line["msg"].startswith("tool get_ticket")]
    assert tool_line["call_id"] == session.engine.call_id and tool_line["turn_id"] == 1
    assert tool_line["level"] == "INFO" and tool_line["logger"] == "voicerouter.test_json_logs"
    assert lines[-1]["call_id"] == session.engine.call_id


def test_serve_with_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "voicerouter.cli", "serve", "--log-format", "json", "--port", "0",
         "--recordings", str(tmp_path / "recordings")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=OFFLINE_ENV,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        first = json.loads(server.stderr.readline())
    finally:
        server.kill()
        server.wait(30)
    assert first["level"] == "INFO" and first["logger"].startswith("voicerouter")
    assert first["call_id"] is None and first["msg"]
