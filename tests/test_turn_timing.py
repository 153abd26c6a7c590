"""A live turn's stage times, gathered from its events into one `turn.latency` record."""

from __future__ import annotations

from voicerouter import events as ev
from voicerouter.call.turn_timing import TurnTiming


def test_stages_of_a_turn_are_collected_from_its_events_and_reported_when_it_completes() -> None:
    timing = TurnTiming(vad_hangover_ms=300)
    c = "c1"
    assert timing.observe(ev.UserSpeechStopped(call_id=c, t_ms=1000)) is None
    assert timing.observe(ev.UserSpeechStopped(call_id=c, t_ms=2000)) is None  # the last pause counts
    timing.turn_ended(2200)
    for event in (
        ev.UserTranscript(call_id=c, t_ms=2400, text="hi", final=True),
        ev.TurnStarted(call_id=c, t_ms=2400, turn_id=1, text="hi"),
        ev.AgentAudioStarted(call_id=c, t_ms=2500, turn_id=1),
        ev.LlmFirstToken(call_id=c, t_ms=3500, turn_id=1, model="claude-opus", ttft_ms=1100),
        ev.LlmFirstToken(call_id=c, t_ms=4200, turn_id=1, model="claude-opus", ttft_ms=1800),
    ):
        assert timing.observe(event) is None
    done = ev.TurnCompleted(call_id=c, t_ms=6000, turn_id=1, model="claude-opus", tokens_in=1, tokens_out=1,
                            cost_usd=0.0, first_token_ms=1100, total_ms=3600)  # fmt: skip
    fields = timing.observe(done)
    assert fields == {
        "turn_id": 1,
        "vad_stop_at_ms": 2000,
        "end_of_turn_at_ms": 2200,
        "transcript_at_ms": 2400,
        "first_token_at_ms": 3500,
        "first_audio_at_ms": 2500,
        "first_audio_ms": 800,  # from the end of speech, 300 ms before the VAD said so
    }
    assert ev.TurnLatency(call_id=c, t_ms=6000, **fields).first_audio_ms == 800
