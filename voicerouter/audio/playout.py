"""What the caller actually heard of an agent utterance: played audio time, and the text prefix it covers.

Sans-I/O bookkeeping from the send times a transport reports; it never paces, sends or reads a clock.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_WORD = re.compile(r"\S+")


class PlayoutTracker:
    """Playback position of one agent utterance from the audio chunks sent to the caller.

    A chunk sent at `t_ms` starts playing `latency_ms` later, or when the previous chunk finishes if audio
    was sent ahead of real time (the far end buffers it). Audio sent but not yet played is not heard, so
    after a barge-in only `played_ms(now)` worth of the utterance belongs in the conversation.
    """

    def __init__(self, rate_hz: int, latency_ms: float = 0.0) -> None:
        if rate_hz <= 0 or latency_ms < 0:
            raise ValueError(
                f"PlayoutTracker: need rate_hz > 0 and latency_ms >= 0, got {rate_hz}, {latency_ms}"
            )
        self.rate_hz = rate_hz
        self.latency_ms = latency_ms
        self.reset()

    def reset(self) -> None:
        """A new utterance: forget everything sent for the previous one."""
        self._starts_ms: list[float] = []
        self._ends_ms: list[float] = []
        self._played_before_ms: list[float] = []  # audio time of all chunks before chunk i
        self._sent_samples = 0

    @property
    def sent_samples(self) -> int:
        return self._sent_samples

    @property
    def sent_ms(self) -> float:
        return self._sent_samples * 1000.0 / self.rate_hz

    def sent(self, num_samples: int, t_ms: float) -> None:
        """`num_samples` of agent audio left for the caller at `t_ms`."""
        if num_samples < 0:
            raise ValueError(f"PlayoutTracker.sent: num_samples must be >= 0, got {num_samples}")
        if num_samples == 0:
            return
        start_ms = t_ms + self.latency_ms
        if self._ends_ms:
            start_ms = max(start_ms, self._ends_ms[-1])
        self._played_before_ms.append(self.sent_ms)
        self._starts_ms.append(start_ms)
        self._ends_ms.append(start_ms + num_samples * 1000.0 / self.rate_hz)
        self._sent_samples += num_samples

    def played_ms(self, now_ms: float) -> float:
        """Audio time of this utterance the caller has heard by `now_ms`."""
        index = bisect.bisect_right(self._starts_ms, now_ms) - 1
        if index < 0:
            return 0.0
        within = min(now_ms, self._ends_ms[index]) - self._starts_ms[index]
        return self._played_before_ms[index] + within

    def played_samples(self, now_ms: float) -> int:
        return int(self.played_ms(now_ms) * self.rate_hz / 1000.0 + 1e-6)

    def played_fraction(self, now_ms: float, total_ms: float | None = None) -> float:
        """Share heard of `total_ms` (the whole utterance's audio; defaults to all audio sent so far)."""
        total = self.sent_ms if total_ms is None else total_ms
        return 1.0 if total <= 0 else min(1.0, self.played_ms(now_ms) / total)


class WordMark(BaseModel):
    """A TTS timing mark: characters [char_start, char_end) of the text are spoken from `start_ms`."""

    model_config = ConfigDict(frozen=True)

    char_start: int = Field(ge=0)
    char_end: int = Field(ge=0)
    start_ms: float = Field(ge=0)
    end_ms: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> WordMark:
        if self.char_end < self.char_start:
            raise ValueError(f"WordMark: char_end {self.char_end} < char_start {self.char_start}")
        if self.end_ms is not None and self.end_ms < self.start_ms:
            raise ValueError(f"WordMark: end_ms {self.end_ms} < start_ms {self.start_ms}")
        return self


class HeardText(BaseModel):
    """The prefix of an utterance the caller heard, cut at a word boundary."""

    model_config = ConfigDict(frozen=True)

    text: str
    words: int
    total_words: int
    method: Literal["marks", "rate", "chars"]


def heard_prefix(
    text: str,
    *,
    played_ms: float | None = None,
    total_ms: float | None = None,
    played_fraction: float | None = None,
    marks: Sequence[WordMark] | None = None,
    words_per_second: float | None = None,
    min_word_fraction: float = 0.5,
) -> HeardText:
    """Estimate what of `text` was heard, preferring the most precise evidence available.

    With TTS `marks` and `played_ms`, a word is heard once `min_word_fraction` of its own time has played;
    with a `words_per_second` rate and `played_ms`, words are assumed evenly paced; otherwise the played
    fraction (given, or `played_ms / total_ms`) is mapped onto characters, which track speech time well.
    """
    if not 0.0 < min_word_fraction <= 1.0:
        raise ValueError(f"heard_prefix: min_word_fraction must be in (0, 1], got {min_word_fraction}")
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if marks:
        if played_ms is None:
            raise ValueError("heard_prefix: marks need played_ms")
        return _cut(text, words, _chars_by_marks(text, marks, played_ms, min_word_fraction), "marks")
    if words_per_second is not None:
        if played_ms is None or words_per_second <= 0:
            raise ValueError("heard_prefix: words_per_second needs played_ms and a positive rate")
        heard_words = played_ms / 1000.0 * words_per_second
        count = sum(1 for i in range(len(words)) if heard_words - i >= min_word_fraction)
        return _cut(text, words, words[count - 1][1] if count else 0, "rate")
    fraction = _fraction(played_ms, total_ms, played_fraction)
    position = fraction * len(text.rstrip())
    heard_end = 0
    for start, end in words:
        if (position - start) / (end - start) < min_word_fraction:
            break
        heard_end = end
    return _cut(text, words, heard_end, "chars")


def _fraction(played_ms: float | None, total_ms: float | None, played_fraction: float | None) -> float:
    if played_fraction is not None:
        return min(1.0, max(0.0, played_fraction))
    if played_ms is None or total_ms is None:
        raise ValueError("heard_prefix: give played_fraction, or played_ms with total_ms, marks or a rate")
    return 1.0 if total_ms <= 0 else min(1.0, max(0.0, played_ms / total_ms))


def _chars_by_marks(text: str, marks: Sequence[WordMark], played_ms: float, min_word_fraction: float) -> int:
    ordered = sorted(marks, key=lambda m: m.start_ms)
    heard_end = 0
    for i, mark in enumerate(ordered):
        if mark.end_ms is not None:
            end_ms = mark.end_ms
        elif i + 1 < len(ordered):
            end_ms = ordered[i + 1].start_ms
        else:
            end_ms = mark.start_ms  # the last word's length is unknown: heard once it starts
        if played_ms < mark.start_ms + min_word_fraction * (end_ms - mark.start_ms) or played_ms <= 0:
            break
        heard_end = min(mark.char_end, len(text))
    return heard_end


def _cut(
    text: str, words: list[tuple[int, int]], heard_end: int, method: Literal["marks", "rate", "chars"]
) -> HeardText:
    """Extend the cut to the end of the word it lands in (marks may stop before trailing punctuation)."""
    count = 0
    end = 0
    for start, word_end in words:
        if start >= heard_end:
            break
        count += 1
        end = word_end
    return HeardText(text=text[:end], words=count, total_words=len(words), method=method)
