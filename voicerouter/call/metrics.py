"""The metrics `voicerouter serve` exports: calls, turns by tier and model, latency, cost, fallbacks, timing.

Fed from the engine's events and the media pipeline's own measurements; it only counts, never acts on a call.
"""

from __future__ import annotations

from voicerouter import events as ev
from voicerouter.metrics import Registry

LATENCY_BUCKETS_MS = (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
OVERHEAD_BUCKETS_MS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000)
LATENESS_BUCKETS_MS = (1, 2, 5, 10, 20, 40, 80, 160)
LATE_FRAME_MS = 20.0  # an outbound frame sent later than this after its slot is an audible glitch


class ServeMetrics:
    """One set per server process, shared by every call."""

    def __init__(self) -> None:
        self.registry = r = Registry()
        self.active_calls = r.gauge("voicerouter_active_calls", "Calls in progress.")
        self.calls = r.counter("voicerouter_calls_total", "Calls started, by transport.", ("transport",))
        self.call_errors = r.counter(
            "voicerouter_call_errors_total",
            "Calls closed by an internal or protocol error, by cause.",
            ("cause",),
        )
        self.recording_errors = r.counter(
            "voicerouter_recording_errors_total",
            "Recording write errors that left a call unrecorded (the call went on), by errno.",
            ("error",),
        )
        self.turns = r.counter(
            "voicerouter_turns_total", "Caller turns routed, by tier and model.", ("tier", "model")
        )
        self.first_token_ms = r.histogram(
            "voicerouter_first_token_ms",
            "Model time to first token, by model.",
            LATENCY_BUCKETS_MS,
            ("model",),
        )
        self.cost_usd = r.counter(
            "voicerouter_cost_usd_total", "Model cost of completed turns, by model.", ("model",)
        )
        self.fallbacks = r.counter(
            "voicerouter_fallbacks_total", "Provider failures that fell through to another model.", ("model",)
        )
        self.provider_failures = r.counter(
            "voicerouter_provider_failures_total", "Provider failures, by model.", ("model",)
        )
        self.interruptions = r.counter(
            "voicerouter_turn_interruptions_total", "Turns cut short by the caller."
        )
        self.outbound_frames = r.counter("voicerouter_outbound_frames_total", "Agent audio frames sent.")
        self.late_frames = r.counter(
            "voicerouter_outbound_frames_late_total",
            f"Agent audio frames sent more than {LATE_FRAME_MS:.0f} ms after their slot.",
        )
        self.frame_lateness_ms = r.histogram(
            "voicerouter_outbound_frame_lateness_ms", "How late agent audio frames left.", LATENESS_BUCKETS_MS
        )
        self.stt_ms = r.histogram(
            "voicerouter_stt_wait_ms",
            "End of turn to transcript ready (speech recognition left to wait for).",
            LATENCY_BUCKETS_MS,
        )
        self.response_overhead_ms = r.histogram(
            "voicerouter_response_overhead_ms",
            "Transcript ready to first agent audio frame sent (engine, model, tools, TTS, pacing).",
            OVERHEAD_BUCKETS_MS,
        )

    def observe_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.RouteDecided):
            self.turns.inc(1, event.tier, event.model)
        elif isinstance(event, ev.LlmFirstToken):
            self.first_token_ms.observe(event.ttft_ms, event.model)
        elif isinstance(event, ev.TurnCompleted):
            self.cost_usd.inc(event.model_cost_usd, event.model)
        elif isinstance(event, ev.ProviderFailed):
            self.provider_failures.inc(1, event.model)
            if event.fallback_to:
                self.fallbacks.inc(1, event.model)
        elif isinstance(event, ev.TurnInterrupted):
            self.interruptions.inc()

    def frame_sent(self, lateness_ms: float) -> None:
        self.outbound_frames.inc()
        self.frame_lateness_ms.observe(max(0.0, lateness_ms))
        if lateness_ms > LATE_FRAME_MS:
            self.late_frames.inc()

    def render(self) -> str:
        return self.registry.render()
