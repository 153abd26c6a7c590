"""The SIP endpoint's Prometheus metrics: calls by outcome, refused messages, RTP packets and their pacing.

Registered on the server's one registry beside the media metrics, so `GET /metrics` shows them together.
It only counts; it never acts on a call.
"""

from __future__ import annotations

from voicerouter.metrics import Registry

RTP_LATENESS_BUCKETS_MS = (1, 2, 5, 10, 20, 40, 80, 160)
LATE_RTP_MS = 20.0  # an RTP packet sent more than one packet time after its slot is an audible glitch


class SipMetrics:
    def __init__(self, registry: Registry) -> None:
        r = registry
        self.calls = r.counter(
            "voicerouter_sip_calls_total",
            "SIP INVITEs by outcome (answered, or the status we refused with).",
            ("outcome",),
        )
        self.rejected_messages = r.counter(
            "voicerouter_sip_messages_rejected_total",
            "SIP messages refused or dropped (malformed, oversized, not allowed), by status (drop = none).",
            ("status",),
        )
        self.active_calls = r.gauge("voicerouter_sip_active_calls", "SIP calls holding an RTP port.")
        self.rtp_packets_sent = r.counter("voicerouter_sip_rtp_packets_sent_total", "RTP packets sent.")
        self.rtp_packets_received = r.counter(
            "voicerouter_sip_rtp_packets_received_total", "RTP datagrams received on call ports."
        )
        self.rtp_packets_late = r.counter(
            "voicerouter_sip_rtp_packets_late_total",
            f"RTP packets sent more than {LATE_RTP_MS:.0f} ms after their slot, or skipped as too late.",
        )
        self.rtp_lateness_ms = r.histogram(
            "voicerouter_sip_rtp_lateness_ms",
            "How long after its slot on the RTP timeline each packet left.",
            RTP_LATENESS_BUCKETS_MS,
        )
        self.rtp_max_lateness_ms = r.gauge(
            "voicerouter_sip_rtp_max_lateness_ms", "The latest any RTP packet left since the server started.",
            multiprocess_mode="max",
        )
        self.dtmf_digits = r.counter("voicerouter_sip_dtmf_digits_total", "RFC 4733 key presses received.")
        self.transfers = r.counter(
            "voicerouter_sip_transfers_total", "REFER transfers by result.", ("result",)
        )

    def rtp_sent(self, lateness_ms: float) -> None:
        lateness_ms = max(0.0, lateness_ms)
        self.rtp_packets_sent.inc()
        self.rtp_lateness_ms.observe(lateness_ms)
        if lateness_ms > LATE_RTP_MS:
            self.rtp_packets_late.inc()
        if lateness_ms > self.rtp_max_lateness_ms.value:
            self.rtp_max_lateness_ms.set(lateness_ms)
