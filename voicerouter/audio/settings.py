"""Validated settings for voice activity detection, end-of-turn detection and barge-in, with defaults.

Plain data: these models hold numbers and word lists and never act on audio themselves.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VadConfig(_Settings):
    """How raw webrtcvad flags become `speech_started` / `speech_stopped` decisions."""

    aggressiveness: int = Field(default=2, ge=0, le=3, description="webrtcvad mode: 3 rejects the most noise")
    frame_ms: Literal[10, 20, 30] = 20
    energy_floor_dbfs: float = Field(
        default=-55.0, le=0.0, description="frames quieter than this are never speech (digital silence, hiss)"
    )
    start_window_ms: int = Field(default=200, gt=0, description="window in which voiced frames are counted")
    start_speech_ms: int = Field(
        default=100, gt=0, description="voiced time within the window that starts speech"
    )
    hangover_ms: int = Field(
        default=120,
        ge=0,
        description="unvoiced time after speech before it counts as stopped: kept short, since the "
        "endpoint's silence rules (read from the words) decide how long a pause must last",
    )

    @model_validator(mode="after")
    def _start_fits_window(self) -> VadConfig:
        if self.start_speech_ms > self.start_window_ms:
            raise ValueError(
                f"vad.start_speech_ms ({self.start_speech_ms}) exceeds vad.start_window_ms "
                f"({self.start_window_ms}): speech could never start"
            )
        return self


DEFAULT_HOLD_WORDS: tuple[str, ...] = (
    "and", "but", "so", "or", "because", "um", "uh", "er", "erm", "hmm", "like",
    "the", "a", "an", "to", "for", "of", "with", "my", "your", "is", "in", "on", "from", "if", "then",
    "near", "into", "about", "than", "our", "their", "are", "was", "were",
)  # fmt: skip
DEFAULT_COMPLETE_PHRASES: tuple[str, ...] = (
    "thanks", "thank you", "thanks a lot", "thank you very much", "bye", "goodbye", "bye bye",
    "thanks so much", "thank you so much", "that's all", "that is all", "that'll be all", "that's it",
    "that is it", "that's everything", "nothing else", "see you", "have a nice day", "have a good day",
)  # fmt: skip
DEFAULT_SHORT_ANSWERS: tuple[str, ...] = (
    "yes", "yeah", "yep", "no", "nope", "correct", "right", "okay", "ok", "sure",
)  # fmt: skip


class EndpointConfig(_Settings):
    """Silence needed to end the caller's turn, stretched or shortened by what the transcript says."""

    silence_ms: int = Field(
        default=800,
        gt=0,
        description="silence that ends a turn when the words say neither way: longer than a 700 ms pause "
        "for thought mid-sentence, as the VAD measures it on phone audio",
    )
    hold_silence_ms: int = Field(
        default=1200, gt=0, description="silence needed when the caller sounds mid-sentence or mid-spelling"
    )
    complete_silence_ms: int = Field(
        default=200, gt=0, description="silence needed when the turn is clearly finished"
    )
    doubt_silence_ms: int = Field(
        default=900,
        gt=0,
        description="silence needed when the words sound finished but another reading the recogniser "
        "weighed sounds unfinished ('... appointment at two' heard beside '... appointment at to')",
    )
    hold_for_words: bool = Field(
        default=True, description="hold a pause while its words are being recognised (up to hold_silence_ms)"
    )
    hold_words: tuple[str, ...] = DEFAULT_HOLD_WORDS
    complete_codes: tuple[str, ...] = Field(
        default=(r"(?:^| )[a-z]\d{4}$", r"\bticket (?:number )?\d{4}$"),
        description="regexes for a whole record code read out, searched in the last words with the code's "
        "letters and digits joined ('... id e1234'): a match ends the hold for digits (the shipped agents' "
        "ids are a letter and four digits, tickets four digits)",
    )
    complete_phrases: tuple[str, ...] = DEFAULT_COMPLETE_PHRASES
    short_answers: tuple[str, ...] = Field(
        default=DEFAULT_SHORT_ANSWERS, description="one-word replies that complete a turn on their own"
    )

    @field_validator("hold_words", "complete_phrases", "short_answers")
    @classmethod
    def _lower_case(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(" ".join(w.lower().replace("\u2019", "'").split()) for w in words)

    @field_validator("complete_codes")
    @classmethod
    def _compiles(cls, shapes: tuple[str, ...]) -> tuple[str, ...]:
        for shape in shapes:
            try:
                re.compile(shape)
            except re.error as exc:
                raise ValueError(f"endpoint.complete_codes: {shape!r} is not a regex: {exc}") from None
        return shapes

    @model_validator(mode="after")
    def _ordered(self) -> EndpointConfig:
        if not self.complete_silence_ms <= self.silence_ms <= self.hold_silence_ms:
            raise ValueError(
                "endpoint: expected complete_silence_ms <= silence_ms <= hold_silence_ms, got "
                f"{self.complete_silence_ms}, {self.silence_ms}, {self.hold_silence_ms}"
            )
        if not self.complete_silence_ms <= self.doubt_silence_ms <= self.hold_silence_ms:
            raise ValueError(
                "endpoint: expected complete_silence_ms <= doubt_silence_ms <= hold_silence_ms, got "
                f"{self.complete_silence_ms}, {self.doubt_silence_ms}, {self.hold_silence_ms}"
            )
        return self


class BargeInConfig(_Settings):
    """When caller speech over the agent's voice counts as an interruption, and how heard text is cut."""

    min_speech_ms: int = Field(
        default=200, gt=0, description="sustained caller speech that confirms a barge-in (a cough is shorter)"
    )
    max_gap_ms: int = Field(
        default=60, ge=0, description="unvoiced gap inside one caller utterance that does not reset the count"
    )
    playout_latency_ms: int = Field(
        default=0, ge=0, description="delay between sending agent audio and the caller hearing it"
    )
    min_word_fraction: float = Field(
        default=0.5, gt=0.0, le=1.0, description="share of a word that must have played to count as heard"
    )


class AudioConfig(_Settings):
    """The `[audio]` settings of one call."""

    vad: VadConfig = VadConfig()
    endpoint: EndpointConfig = EndpointConfig()
    barge_in: BargeInConfig = BargeInConfig()
    media_timeout_s: float = Field(
        default=20.0, gt=0.0, description="no inbound media for this long ends the call (media_timeout)"
    )

    @model_validator(mode="after")
    def _hangover_within_endpoint(self) -> AudioConfig:
        # The endpointer counts silence from the last voiced frame but learns of it only after the VAD
        # hangover; a hangover longer than the shortest end-of-turn silence would silently delay every turn.
        if self.vad.hangover_ms > self.endpoint.complete_silence_ms:
            raise ValueError(
                f"audio: vad.hangover_ms ({self.vad.hangover_ms}) exceeds endpoint.complete_silence_ms "
                f"({self.endpoint.complete_silence_ms})"
            )
        return self
