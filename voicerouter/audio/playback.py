"""What of an agent turn's speech has been played: its sentences, their audio extent and the text heard.

Sans-I/O bookkeeping over `PlayoutTracker` and `heard_prefix`: the outbound sender reports frames as they
leave and the transport reports marks it gets back; this answers "how many characters were heard" and
"is the turn fully played". It never sends, sleeps or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicerouter.audio.playout import PlayoutTracker, heard_prefix

FALLBACK_WORDS_PER_S = 2.7  # speaking rate assumed for a sentence whose audio is still being synthesised


@dataclass
class Sentence:
    """One `Speak` text of a turn, in order; `char_start` is its offset in the turn's spoken text."""

    index: int
    text: str
    char_start: int
    queued_samples: int = 0
    audio_start_samples: int | None = None  # position in the turn's audio where this sentence begins
    synthesized: bool = False
    marked: bool = False  # the far end confirmed it played the whole sentence

    @property
    def char_end(self) -> int:
        return self.char_start + len(self.text)


@dataclass
class TurnPlayback:
    """The audio of one agent turn (turn 0 is the greeting), from the first sentence to the last frame."""

    turn_id: int
    rate_hz: int
    latency_ms: float = 0.0
    marks_authoritative: bool = False
    min_word_fraction: float = 0.5
    sentences: list[Sentence] = field(default_factory=list)
    final_text: str | None = (
        None  # the engine's final agent.text: once the sentences add up to it, no more come
    )
    queued_samples: int = 0
    sent_frames: int = 0
    stopped: bool = False
    finished: bool = False
    last_end_ms: float = 0.0  # when the audio sent so far finishes playing (send-time estimate)

    def __post_init__(self) -> None:
        self.tracker = PlayoutTracker(self.rate_hz, self.latency_ms)

    # ---- what happened ----

    def add_sentence(self, text: str) -> Sentence:
        start = self.sentences[-1].char_end if self.sentences else 0
        sentence = Sentence(index=len(self.sentences), text=text, char_start=start)
        self.sentences.append(sentence)
        return sentence

    def queued(self, sentence: Sentence, num_samples: int) -> None:
        """Audio of `sentence` was synthesised and put in line to be sent."""
        if sentence.audio_start_samples is None:
            sentence.audio_start_samples = self.queued_samples
        sentence.queued_samples += num_samples
        self.queued_samples += num_samples

    def sent(self, num_samples: int, t_ms: float) -> None:
        self.sent_frames += 1
        self.tracker.sent(num_samples, t_ms)
        start_ms = max(t_ms + self.latency_ms, self.last_end_ms)
        self.last_end_ms = start_ms + num_samples * 1000.0 / self.rate_hz

    def mark_echoed(self, index: int) -> None:
        if 0 <= index < len(self.sentences):
            self.sentences[index].marked = True

    # ---- questions ----

    @property
    def started(self) -> bool:
        return self.sent_frames > 0

    @property
    def complete(self) -> bool:
        """Every sentence of the turn is known and synthesised."""
        spoken = "".join(s.text for s in self.sentences).strip()
        return (
            self.final_text is not None
            and spoken == self.final_text.strip()
            and all(s.synthesized for s in self.sentences)
        )

    def all_sent(self) -> bool:
        return self.complete and self.tracker.sent_samples >= self.queued_samples

    def played_out(self, now_ms: float) -> bool:
        """Everything was played: by the far end's marks when it sends them, else by the send times."""
        if not self.all_sent():
            return False
        if self.marks_authoritative:
            return all(s.marked or s.queued_samples == 0 for s in self.sentences)
        return self.tracker.played_samples(now_ms) >= self.tracker.sent_samples

    def heard_chars(self, now_ms: float) -> int:
        """Characters of the turn's spoken text the caller has heard by `now_ms`, cut at a word boundary.

        With authoritative marks (Twilio), a sentence counts in full once its mark came back, and nothing
        after the first unconfirmed sentence counts: audio sent may still sit in the far end's buffer.
        """
        played_samples = self.tracker.played_samples(now_ms)
        heard = 0
        for sentence in self.sentences:
            if self.marks_authoritative and sentence.marked:
                heard = sentence.char_end
                continue
            start = sentence.audio_start_samples
            if start is None or played_samples <= start:
                break
            within = played_samples - start
            if sentence.synthesized and within >= sentence.queued_samples:
                heard = sentence.char_end
                if self.marks_authoritative:
                    break
                continue
            heard = sentence.char_start + _prefix(sentence, within, self.rate_hz, self.min_word_fraction)
            break
        return heard


def _prefix(sentence: Sentence, played_samples: int, rate_hz: int, min_word_fraction: float) -> int:
    played_ms = played_samples * 1000.0 / rate_hz
    if sentence.synthesized and sentence.queued_samples:
        total_ms = sentence.queued_samples * 1000.0 / rate_hz
        return len(heard_prefix(sentence.text, played_ms=played_ms, total_ms=total_ms,
                                min_word_fraction=min_word_fraction).text)  # fmt: skip
    return len(heard_prefix(sentence.text, played_ms=played_ms, words_per_second=FALLBACK_WORDS_PER_S,
                            min_word_fraction=min_word_fraction).text)  # fmt: skip
