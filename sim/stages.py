"""The caller-side stages between the end of speech and the agent's first audio, as the simulator models them.

A live call waits for the VAD hangover, the end-of-turn silence (held longer on unfinished words, shorter on
clearly finished ones, as the endpointer does), the final transcript and the first synthesised audio. Pure
numbers from the audio config and the transcript; it never schedules anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicerouter.audio.settings import AudioConfig
from voicerouter.audio.turn_cues import classify_turn_text

# The offline recogniser decodes the utterance when the VAD says speech stopped: 0.09x real time with the
# agent's domain model in bench_speech on this class of machine at 16 kHz, about 0.17x at 8 kHz (the
# simulator models the wideband rate; the stock model's second pass on a low-confidence wideband utterance
# is not modelled). The final transcript is ready at the end of turn or when that decode
# finishes, whichever is later (168-589 ms after the end of turn was measured live for phone sentences).
STT_BASE_MS = 30.0
STT_REALTIME_FACTOR = 0.09
# With VOICEROUTER_STT_STREAMING=1 (`--stt streaming`): a recogniser fed frames as they arrive (see
# sphinx_stream_pool) keeps up with the caller (0.06x real time per frame), so its hypothesis of the words so
# far trails the end of speech by one decode step, and the final costs only the tail of the search after the
# last audio: 46 ms p50, 94 ms max, on 20 held-out sentences at 8 kHz (bench_stt_stream --live). As for the
# batch timing, the stock model's second opinion on a low-confidence result is not modelled.
STREAM_HYPOTHESIS_LAG_MS = 60.0
STREAM_FINAL_TAIL_MS = 60.0
# espeak-ng's first audio chunk for a short sentence, resampled and framed.
TTS_START_MS = 80.0


@dataclass(frozen=True, slots=True)
class CallerStages:
    """Offsets from the caller's end of speech (ms): VAD stop, the recogniser's hypothesis of the words so
    far (decoded from the VAD stop), end of turn, final transcript."""

    vad_stop_ms: float
    hypothesis_ms: float
    end_of_turn_ms: float
    transcript_ms: float


def stt_decode_ms(speech_ms: float) -> float:
    """How long the offline recogniser takes over an utterance of `speech_ms`."""
    return STT_BASE_MS + STT_REALTIME_FACTOR * speech_ms


def caller_stages(
    text: str, audio: AudioConfig, *, speech_ms: float, streaming: bool = False
) -> CallerStages:
    """When a caller who just said `text` (for `speech_ms`) is heard to stop, is recognised, is heard to
    have finished, and has a final transcript; `streaming` models a recogniser fed while the caller speaks."""
    endpoint = audio.endpoint
    cue = classify_turn_text(text, endpoint)
    silence_ms = float(
        {"complete": endpoint.complete_silence_ms, "unfinished": endpoint.hold_silence_ms}.get(
            cue.kind, endpoint.silence_ms
        )
    )
    vad_stop_ms = float(audio.vad.hangover_ms)
    whole_decode_ms = vad_stop_ms + stt_decode_ms(speech_ms)
    if streaming:
        hypothesis_ms = STREAM_HYPOTHESIS_LAG_MS
        final_ms = vad_stop_ms + STREAM_FINAL_TAIL_MS
        if cue.kind == "complete":
            # a running hypothesis never shortens a pause on its own: the pause lasts the neutral silence
            # unless the whole decode of its audio, started at the VAD stop, settles the words sooner
            silence_ms = max(silence_ms, min(whole_decode_ms, float(endpoint.silence_ms)))
    else:
        hypothesis_ms = whole_decode_ms
        final_ms = hypothesis_ms
    # the pause is held for its words (up to the hold), then lasts what they call for
    words_known_ms = min(hypothesis_ms, float(endpoint.hold_silence_ms))
    end_of_turn_ms = max(vad_stop_ms, silence_ms, words_known_ms)
    return CallerStages(vad_stop_ms, hypothesis_ms, end_of_turn_ms, max(end_of_turn_ms, final_ms))
