"""OpenTelemetry traces: one trace per call, a span per turn with its route, model, tool and TTS spans.

Configured only by the standard `OTEL_*` environment variables (`OTEL_TRACES_EXPORTER=console|otlp|none`,
`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`). Off by default, and then free: no
SDK import, no sink on the call. Spans are built from the call's events, so the live server, `chat` and the
simulator trace the same way, and the span times are the event times (the virtual clock's, in the simulator).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from voicerouter import events as ev

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

_provider_installed = False


def tracing_enabled() -> bool:
    """True when the environment asks for traces (an exporter other than `none`, SDK not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    return exporters not in ("", "none")


def _install_provider() -> None:
    """The process's tracer provider, from `OTEL_*` (once; a provider set by the host program is kept)."""
    global _provider_installed
    if _provider_installed:
        return
    _provider_installed = True
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": _service_name()}))
    for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(","):
        name = name.strip().lower()
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name not in ("", "none"):
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (use console, otlp or none)")
    trace.set_tracer_provider(provider)


def _service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or "voicerouter"


def call_tracer(tracer: Tracer | None = None) -> CallTracer | None:
    """A tracer for one call when tracing is on (or when a tracer is given, as tests do), else None."""
    if tracer is None:
        if not tracing_enabled():
            return None
        _install_provider()
        from opentelemetry import trace

        tracer = trace.get_tracer("voicerouter")
    return CallTracer(tracer)


class CallTracer:
    """An event sink that turns one call's events into spans: call → turn → route, model, tool, tts."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._base_ns: int | None = None
        self._call: Span | None = None
        self._turns: dict[int, Span] = {}
        self._models: dict[int, Span] = {}
        self._tools: dict[tuple[int, str], list[Span]] = {}
        self._tts: dict[int, Span] = {}
        self._turns_ending: dict[int, Span] = {}  # answered, its audio still playing

    def _ns(self, event: ev.Event) -> int:
        if self._base_ns is None:
            self._base_ns = time.time_ns() - event.t_ms * 1_000_000
        return self._base_ns + event.t_ms * 1_000_000

    def _child(self, parent: Span | None, name: str, event: ev.Event, **attributes: Any) -> Span:
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        attrs = {k: v for k, v in attributes.items() if v is not None}
        return self._tracer.start_span(name, context=context, start_time=self._ns(event), attributes=attrs)

    def on_event(self, event: ev.Event) -> None:
        """Feed every event of the call, in order."""
        handler = getattr(self, "_on_" + event.type.replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def _on_call_started(self, event: ev.CallStarted) -> None:
        self._call = self._child(None, "call", event, **{
            "voicerouter.call_id": event.call_id, "voicerouter.agent": event.agent,
            "voicerouter.transport": event.transport,
        })  # fmt: skip

    def _on_turn_started(self, event: ev.TurnStarted) -> None:
        self._turns[event.turn_id] = self._child(self._call, "turn", event, **{
            "voicerouter.turn_id": event.turn_id, "voicerouter.user_text": event.text,
        })  # fmt: skip

    def _on_route_decided(self, event: ev.RouteDecided) -> None:
        turn = self._turns.get(event.turn_id)
        attributes: dict[str, Any] = {
            "voicerouter.tier": event.tier, "voicerouter.model": event.model,
            "voicerouter.provider": event.provider,
            "voicerouter.reason": event.reason, "voicerouter.confidence": event.confidence,
            "voicerouter.est_cost_usd": event.est_cost_usd,
        }  # fmt: skip
        route = self._child(turn, "route", event, **attributes)
        route.end(end_time=self._ns(event))
        if turn is not None:
            turn.set_attributes(attributes)
        self._open_model(event, event.model, event.provider)

    def _open_model(self, event: ev.Event, model: str, provider: str | None) -> None:
        turn_id = getattr(event, "turn_id", 0)
        self._models[turn_id] = self._child(self._turns.get(turn_id), "llm.request", event, **{
            "gen_ai.request.model": model, "gen_ai.system": provider,
        })  # fmt: skip

    def _on_llm_first_token(self, event: ev.LlmFirstToken) -> None:
        span = self._models.get(event.turn_id)
        if span is not None:
            span.set_attribute("voicerouter.ttft_ms", event.ttft_ms)
            span.add_event("first_token", timestamp=self._ns(event))

    def _on_provider_failed(self, event: ev.ProviderFailed) -> None:
        span = self._models.pop(event.turn_id, None)
        if span is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, event.error))
            span.set_attribute("voicerouter.fallback_to", event.fallback_to or "")
            span.end(end_time=self._ns(event))
        if event.fallback_to:
            self._open_model(event, event.fallback_to, None)

    def _on_tool_called(self, event: ev.ToolCalled) -> None:
        span = self._child(self._turns.get(event.turn_id), "tool", event, **{
            "voicerouter.tool": event.name, "voicerouter.tool_args": _json(event.args),
        })  # fmt: skip
        self._tools.setdefault((event.turn_id, event.name), []).append(span)

    def _on_tool_result(self, event: ev.ToolResult) -> None:
        spans = self._tools.get((event.turn_id, event.name))
        if not spans:
            return
        span = spans.pop(0)
        span.set_attributes({"voicerouter.tool_ok": event.ok, "voicerouter.tool_latency_ms": event.latency_ms,
                             "voicerouter.tool_timed_out": event.timed_out})  # fmt: skip
        if not event.ok:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, event.error or "failed"))
        span.end(end_time=self._ns(event))

    def _on_agent_audio_started(self, event: ev.AgentAudioStarted) -> None:
        parent = self._turns.get(event.turn_id, self._call)
        self._tts[event.turn_id] = self._child(parent, "tts", event, **{"voicerouter.turn_id": event.turn_id})

    def _on_agent_audio_stopped(self, event: ev.AgentAudioStopped) -> None:
        for spans in (self._tts, self._turns_ending):
            span = spans.pop(event.turn_id, None)
            if span is not None:
                span.end(end_time=self._ns(event))

    def _on_turn_interrupted(self, event: ev.TurnInterrupted) -> None:
        turn = self._turns.get(event.turn_id)
        if turn is not None:
            turn.set_attribute("voicerouter.interrupted", True)
            heard = {"voicerouter.heard_text": event.heard_text}
            turn.add_event("interrupted", heard, timestamp=self._ns(event))

    def _on_turn_completed(self, event: ev.TurnCompleted) -> None:
        end = self._ns(event)
        model = self._models.pop(event.turn_id, None)
        usage = {
            "gen_ai.usage.input_tokens": event.tokens_in, "gen_ai.usage.output_tokens": event.tokens_out,
            "voicerouter.cost_usd": event.cost_usd, "voicerouter.first_token_ms": event.first_token_ms,
        }  # fmt: skip
        if model is not None:
            model.set_attributes({k: v for k, v in usage.items() if v is not None})
            model.end(end_time=end)
        for key in [key for key in self._tools if key[0] == event.turn_id]:
            for span in self._tools.pop(key):
                span.end(end_time=end)
        turn = self._turns.pop(event.turn_id, None)
        if turn is not None:
            turn.set_attributes({k: v for k, v in usage.items() if v is not None})
            turn.set_attribute("voicerouter.total_ms", event.total_ms)
            if event.turn_id not in self._tts:
                turn.end(end_time=end)
            else:
                self._turns_ending[event.turn_id] = turn

    def _on_call_ended(self, event: ev.CallEnded) -> None:
        end = self._ns(event)
        for span in [*self._tts.values(), *self._models.values(), *self._turns.values(),
                     *self._turns_ending.values()]:  # fmt: skip
            span.end(end_time=end)
        self._tts.clear()
        self._models.clear()
        self._turns.clear()
        self._turns_ending.clear()
        if self._call is not None:
            self._call.set_attributes({
                "voicerouter.end_reason": event.reason, "voicerouter.turns": event.turns,
                "voicerouter.cost_usd": event.cost_usd,
            })  # fmt: skip
            self._call.end(end_time=end)
            self._call = None


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)
