"""The one tokenizer every reader of caller text is built on, and the token grammars those readers use.

Pure functions of the text: nothing here knows an agent, a setting or a model, and it imports no voicerouter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from voicerouter.lexicon.numbers import is_number_word


def _unchanged(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Tokenizer:
    """One token grammar: `fold` prepares the text, `pattern` finds each token, `split` cuts or rewrites one.

    Readers differ on purpose (the router wants `<num>` for any digits, the end-of-turn cues want "555-1234"
    whole, the parser wants "9:30" whole), so they share this machinery and the pattern pieces below, and each
    grammar is written out once, next to the others, where a difference between them is easy to see.
    """

    pattern: re.Pattern[str]
    fold: Callable[[str], str] = _unchanged
    split: Callable[[str], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        if self.pattern.groups:
            raise ValueError(f"Tokenizer: pattern {self.pattern.pattern!r} has capturing groups; use (?:...)")

    def tokens(self, text: str) -> list[str]:
        found: list[str] = self.pattern.findall(self.fold(text))
        if self.split is None:
            return found
        return [token for match in found for token in self.split(match)]


# Pattern pieces shared by the grammars that keep written values whole.
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
CLOCK_TIME = r"\d{1,2}:\d{2}"
SLASH_DATE = r"\d{1,2}/\d{1,2}(?:/\d{2,4})?"
LETTERS = r"[^\W\d_]+"  # letters of any script, no digits or underscores


def lower_plain(text: str) -> str:
    """Lower case, the typographic apostrophe (’) made plain."""
    return text.lower().replace("’", "'")


def without_accents(text: str) -> str:
    """Letters without their combining accents ("José" -> "Jose"); other characters stay."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def to_ascii(text: str) -> str:
    """ASCII only: accented letters lose their accents, every other non-ASCII character is dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


_MERIDIEM = re.compile(r"\b([ap])\.\s?m\.?(?=\W|$)", flags=re.IGNORECASE)
_DIGIT_MERIDIEM = re.compile(r"(\d)\s?([ap]m)\b", flags=re.IGNORECASE)


def fold_heard(text: str) -> str:
    """ASCII, backquotes as apostrophes and "a.m." as "am", case kept: the form the value parser compares."""
    # to_ascii has already dropped the typographic apostrophe, so "I’m" reads "Im" here.
    text = to_ascii(text).replace("’", "'").replace("`", "'")
    return _MERIDIEM.sub(r"\1m", text)


_NEGATIONS = {
    "can't": ("can", "not"),
    "won't": ("will", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
}
_CLITICS = ("'s", "'m", "'re", "'ve", "'ll", "'d")


def split_contraction(token: str) -> tuple[str, ...]:
    """`didn't` -> did not, `what's` -> what 's; names such as o'connor stay whole."""
    if token in _NEGATIONS:
        return _NEGATIONS[token]
    if token.endswith("n't") and len(token) > 3:
        return (token[:-3], "not")
    for clitic in _CLITICS:
        if token.endswith(clitic) and len(token) > len(clitic):
            return (token[: -len(clitic)], clitic)
    return (token,)


def _normalized(match: str) -> tuple[str, ...]:
    token = match.strip("'")
    if not token:
        return ()
    return ("<num>",) if token[0].isdigit() else split_contraction(token)


NORMALIZED = Tokenizer(re.compile(r"[0-9]+|[a-z']+"), fold=lower_plain, split=_normalized)
"""Lower-case ASCII words as an ASR transcript gives them, contractions split, every digit run `<num>`; any
other character separates words ("José" -> jos). The router's trained weights depend on exactly these tokens:
a change here needs the classifier retrained (scripts/train_router.py)."""


def _dictated(match: str) -> tuple[str]:
    return (match.strip(".-'") or match,)


DICTATION = Tokenizer(re.compile(r"[\w@'][\w@'.\-]*"), fold=lower_plain, split=_dictated)
"""Lower-case words with dictated items whole ("555-1234", "jane.doe@example", "j-o-h-n") and the punctuation
at their edges stripped ("J." -> "j")."""


def _split_hyphens(match: str) -> list[str]:
    parts = match.split("-") if match[:1].isalpha() else [match]
    if len(parts) == 1:
        return parts
    if all(len(p) > 1 and not is_number_word(p.lower()) for p in parts):
        return [match]
    return [p for p in parts if p]


def _heard_meridiem_apart(text: str) -> str:
    return _DIGIT_MERIDIEM.sub(r"\1 \2", fold_heard(text))


SPOKEN_VALUES = Tokenizer(
    re.compile(rf"{ISO_DATE}|{CLOCK_TIME}|{SLASH_DATE}|\d+(?:st|nd|rd|th)?|{LETTERS}(?:['-]{LETTERS})*"),
    fold=_heard_meridiem_apart,
    split=_split_hyphens,
)
"""Words as heard (case kept, for names), numbers, clock times and dates, "4pm" as "4 pm". Hyphens split
numbers and spelled letters ("forty-five", "S-M-I-T-H") but keep names whole ("Anne-Marie")."""

WRITTEN = Tokenizer(
    re.compile(
        rf"\b[a-z]{{1,3}}\d{{2,}}\b|{ISO_DATE}|{CLOCK_TIME}|\d+(?:st|nd|rd|th)\b|\d+|{LETTERS}(?:'{LETTERS})*"
    )
)
"""Folded written text as a speaker would read it: ids ("p1001"), ISO dates, clock times, ordinals ("3rd"),
numbers and words."""
