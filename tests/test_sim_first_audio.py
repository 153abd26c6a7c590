"""First audio as the caller hears it, in the simulator: end of speech, endpoint, transcript, first audio."""

from __future__ import annotations

from pathlib import Path

from sim.faults import Faults
from sim.gate import compare
from sim.replay import RunOptions, _Context
from sim.report import build_report
from sim.runner import SPEECH_CHARS_PER_S
from sim.script import CallScript, UserTurn
from sim.stages import STREAM_FINAL_TAIL_MS, TTS_START_MS, caller_stages, stt_decode_ms
from voicerouter import events as ev
from voicerouter.audio.settings import AudioConfig, EndpointConfig
from voicerouter.audio.turn_cues import classify_turn_text
from voicerouter.config import GatePolicy

COMPLAINT = (
    "the order system has been down since this morning and I've got forty orders waiting, this is ridiculous"
)


def _score(*texts: str) -> tuple[object, list[ev.Event]]:
    script = CallScript(call_id="fa1", agent="helpdesk", turns=[UserTurn(text=t) for t in texts],
                        faults=Faults(), source="test")  # fmt: skip
    score = _Context(RunOptions(seed=0, keep_events=True, stt_streaming=False)).run(script)
    return score, score.events


def test_reasoning_turn_is_acknowledged_at_end_of_turn_and_the_answer_audio_follows_the_acknowledgement() -> (
    None
):
    score, events = _score(COMPLAINT)
    turn = score.turns[0]  # type: ignore[attr-defined]
    assert turn.tier_routed == "reasoning" and turn.model == "claude-opus"
    # the final transcript (end of turn or the end of the decode, the later), then the acknowledgement's audio
    stages = caller_stages(COMPLAINT, AudioConfig(), speech_ms=UserTurn(text=COMPLAINT).duration_ms())
    assert stages.end_of_turn_ms >= EndpointConfig().silence_ms  # a neutral ending, held for its words
    assert turn.first_audio_ms == round(stages.transcript_ms + TTS_START_MS)
    ack = next(e.text for e in events if isinstance(e, ev.AgentText) and e.turn_id == 1 and not e.final)
    ack_ms = (len(ack) + 1) / SPEECH_CHARS_PER_S * 1000
    assert turn.first_answer_audio_ms >= turn.first_audio_ms + ack_ms - 1  # queued behind it, never over it
    assert turn.first_answer_audio_ms > turn.first_token_ms  # the model's wait is hidden behind the line


def test_unfinished_turn_waits_the_hold_silence_and_the_report_gives_first_audio_by_tier() -> None:
    score, _events = _score("my employee ID is E one oh six", "thanks bye")
    held = score.turns[0]  # type: ignore[attr-defined]
    assert held.first_audio_ms >= EndpointConfig().hold_silence_ms + TTS_START_MS
    report = build_report([score])  # type: ignore[list-item]
    assert report["p95_first_audio_ms"] is not None and report["p95_first_answer_audio_ms"] is not None
    for tier in {t.tier_routed for t in score.turns}:  # type: ignore[attr-defined]
        assert report["per_tier"][tier]["p95_first_audio_ms"] is not None


def test_gate_on_first_audio_judges_latency_by_what_the_caller_hears() -> None:
    base = {"p95_first_token_ms": 1000.0, "p95_first_audio_ms": 2000.0, "tool_arg_accuracy": 0.9,
            "refusal_on_missing_rate": 0.9, "cost_per_session_usd": 0.01}  # fmt: skip
    acknowledged = {**base, "p95_first_token_ms": 1500.0, "p95_first_audio_ms": 900.0}
    assert not compare(base, acknowledged, GatePolicy()).passed  # first token 500 ms worse: past the margin
    verdict = compare(base, acknowledged, GatePolicy(latency="first_audio"))
    assert verdict.passed and verdict.metrics[0].metric == "p95_first_audio_ms"


def test_streaming_recogniser_has_the_words_before_the_vad_stop_and_the_final_right_after_it() -> None:
    speech_ms = UserTurn(text=COMPLAINT).duration_ms()
    audio = AudioConfig(endpoint=EndpointConfig(silence_ms=500))  # a neutral pause shorter than the decode
    batch = caller_stages(COMPLAINT, audio, speech_ms=speech_ms)
    streaming = caller_stages(COMPLAINT, audio, speech_ms=speech_ms, streaming=True)
    assert streaming.hypothesis_ms < streaming.vad_stop_ms < batch.hypothesis_ms  # decoded as it was heard
    assert streaming.transcript_ms == max(
        streaming.end_of_turn_ms, streaming.vad_stop_ms + STREAM_FINAL_TAIL_MS
    )
    # a long utterance no longer delays its own transcript: the end of turn is what the words call for
    assert streaming.end_of_turn_ms == audio.endpoint.silence_ms < batch.transcript_ms


def test_streaming_recogniser_brings_a_reasoning_turns_first_audio_to_the_end_of_turn(tmp_path: Path) -> None:
    script = CallScript(call_id="fa2", agent="helpdesk", turns=[UserTurn(text=COMPLAINT)], faults=Faults(),
                        source="test")  # fmt: skip
    config = tmp_path / "short-neutral.toml"  # a neutral pause shorter than the whole decode of this turn
    config.write_text("[audio.endpoint]\nsilence_ms = 500\n", encoding="utf-8")
    batch = _Context(RunOptions(seed=0, stt_streaming=False, config_path=str(config))).run(script).turns[0]
    streaming = _Context(RunOptions(seed=0, stt_streaming=True, config_path=str(config))).run(script).turns[0]
    assert streaming.tier_routed == batch.tier_routed == "reasoning"
    assert streaming.first_audio_ms == 500 + TTS_START_MS < batch.first_audio_ms
    assert streaming.first_answer_audio_ms < batch.first_answer_audio_ms


def test_a_streamed_finished_turn_ends_when_its_whole_decode_settles_it_or_at_the_neutral_silence() -> None:
    endpoint, vad_stop_ms = EndpointConfig(), AudioConfig().vad.hangover_ms
    short = "thank you very much"
    short_ms = UserTurn(text=short).duration_ms()
    stages = caller_stages(short, AudioConfig(), speech_ms=short_ms, streaming=True)
    # the running hypothesis alone may not shorten it: the whole decode from the VAD stop settles it
    assert stages.end_of_turn_ms == max(endpoint.complete_silence_ms, vad_stop_ms + stt_decode_ms(short_ms))
    assert endpoint.complete_silence_ms < stages.end_of_turn_ms < endpoint.silence_ms
    long_thanks = (
        "thank you so much for all of your help with the order system today, it has been a really long "
        "week and you have made it so much easier for me and for my whole team, thank you very much"
    )
    long_ms = UserTurn(text=long_thanks).duration_ms()
    assert vad_stop_ms + stt_decode_ms(long_ms) > endpoint.silence_ms
    assert classify_turn_text(long_thanks, endpoint).kind == "complete"
    stages = caller_stages(long_thanks, AudioConfig(), speech_ms=long_ms, streaming=True)
    assert stages.end_of_turn_ms == endpoint.silence_ms  # never longer than a turn that says neither way
