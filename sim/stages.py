"""The caller-side stages between the end of speech and the agent's first audio, as the simulator models them.

A live call waits for the VAD hangover, the end-of-turn silence (held longer on unfinished words, shorter on
clearly finished ones, as the endpointer does), the final transcript and the first synthesised audio. Pure
numbers from the audio config and the transcript; it never schedules anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicerouter.audio.settings import AudioConfig
from voicerouter.audio.turn_cues import classify_turn_text

# The offline recogniser decodes the utterance once the turn has ended: 168-589 ms measured on this class of
# machine for one short phone sentence; 200 ms is its typical figure for the short turns of the corpus.
STT_FINAL_MS = 200.0
# espeak-ng's first audio chunk for a short sentence, resampled and framed.
TTS_START_MS = 80.0


@dataclass(frozen=True, slots=True)
class CallerStages:
    """Offsets from the caller's end of speech (ms): VAD stop, end of turn, final transcript."""

    vad_stop_ms: float
    end_of_turn_ms: float
    transcript_ms: float


def caller_stages(text: str, audio: AudioConfig, *, stt_final_ms: float = STT_FINAL_MS) -> CallerStages:
    """When a caller who just said `text` is heard to stop, to have finished, and is transcribed."""
    endpoint = audio.endpoint
    cue = classify_turn_text(text, endpoint)
    silence_ms = {
        "complete": endpoint.complete_silence_ms,
        "unfinished": endpoint.hold_silence_ms,
    }.get(cue.kind, endpoint.silence_ms)
    vad_stop_ms = float(audio.vad.hangover_ms)
    end_of_turn_ms = max(vad_stop_ms, float(silence_ms))
    return CallerStages(vad_stop_ms, end_of_turn_ms, end_of_turn_ms + stt_final_ms)
