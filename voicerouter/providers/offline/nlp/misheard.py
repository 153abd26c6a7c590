"""Number words a recogniser mishears, put back where the words around them are digits.

"ticket for six one zero", "e won oh four two", "four five a four": a phone recogniser writes "for",
"to", "won" and "a" for digits read out one by one. Only a word inside a run of digit words is changed,
so "a ticket for my laptop" and "move it to friday" stay as they are; "then" is "ten" only where a time
is said ("at then thirty"). Pure text in, text out.
"""

from __future__ import annotations

import functools
import re

from voicerouter.lexicon.distance import edit_distance
from voicerouter.lexicon.numbers import TEENS, TENS, UNITS, ZERO_WORDS

_DIGIT_WORDS = frozenset(UNITS) | ZERO_WORDS
_NUMBER_WORDS = _DIGIT_WORDS | frozenset(TEENS) | frozenset(TENS)
_SOUNDS_LIKE = {"for": "four", "fore": "four", "to": "two", "too": "two", "won": "one", "a": "eight",
                "ate": "eight", "tree": "three", "sex": "six", "niner": "nine"}  # fmt: skip
_HESITATIONS = frozenset({"uh", "um", "er", "erm"})
_WORD = re.compile(r"[a-z']+|\d")


def _bare(token: str) -> str:
    found = _WORD.findall(token.lower())
    return found[0] if len(found) == 1 else ""


def repair_numbers(text: str) -> str:
    """`text` with misheard digit words inside digit runs written as the digits they were."""
    tokens = text.split()
    bare = [_bare(t) for t in tokens]
    if not any(b in _SOUNDS_LIKE or b in _HESITATIONS or b == "then" or _near_digit(b) for b in bare):
        return text
    out: list[str] = []
    for i, token in enumerate(tokens):
        word = bare[i]
        if word in _HESITATIONS and (_digit(bare, i - 1) or _letter(bare, i - 1)) and _digit(bare, i + 1):
            continue  # "e um one one five zero": a hesitation inside the digits or after an id's letter
        if word == "then" and _clock_ten(bare, i):
            out.append(token.lower().replace("then", "ten"))
            bare[i] = "ten"
            continue
        spoken = _SOUNDS_LIKE.get(word)
        near = _near_digit(word) if spoken is None else None
        if near is not None and _among_digits(bare, i, tokens):  # "four bix one nine", "e one one four liro"
            out.append(token.lower().replace(word, near))
            bare[i] = near
            continue
        if spoken is not None and _inside_digits(bare, i):
            out.append(token.lower().replace(word, spoken))
            bare[i] = spoken
            continue
        out.append(token)
    return " ".join(out)


_SPELLED_DIGITS = tuple(w for w in UNITS if len(w) >= 3)


@functools.cache
def _near_digit(word: str) -> str | None:
    """The one digit word `word` is a letter from ("bix", "sax": six), or shares its ending with two letters
    changed ("biro": zero); None for a number word, a short word, or one near two digits ("fine")."""
    if len(word) < 3 or not word.isalpha() or word in _NUMBER_WORDS or word in _SOUNDS_LIKE:
        return None
    near = {
        digit
        for digit in _SPELLED_DIGITS
        if (d := edit_distance(word, digit)) <= 1 or (d == 2 and len(word) >= 4 and word[-2:] == digit[-2:])
    }
    return near.pop() if len(near) == 1 else None


def _among_digits(bare: list[str], i: int, tokens: list[str]) -> bool:
    """A word misheard inside a number read out: digit words on both sides, or three on one side with no
    pause between (the rest of a four-digit id or ticket); "four six one two, your team" keeps its word."""
    before, after = _digit(bare, i - 1), _digit(bare, i + 1)
    if before and after:
        return not (_paused(tokens, i - 1) or _paused(tokens, i))
    if before and not _paused(tokens, i - 1):
        return _run(bare, i - 1, -1) == 3
    if after and not _paused(tokens, i):
        return _run(bare, i + 1, 1) == 3
    return False


def _paused(tokens: list[str], j: int) -> bool:
    return tokens[j][-1:] in {",", ".", "?", "!", ";", ":"}


def _run(bare: list[str], j: int, step: int) -> int:
    count = 0
    while _digit(bare, j):
        count += 1
        j += step
    return count


_BEFORE_A_CLOCK_TIME = frozenset({"at", "around", "about", "by", "till", "until", "before", "after"})
_AFTER_TEN = frozenset({"thirty", "fifteen", "forty", "o'clock", "am", "pm", "minutes", "oh", "past"})


def _clock_ten(bare: list[str], i: int) -> bool:
    """ "saturday at then", "after about then minutes": "ten" misheard where a time or a count is said."""
    before = bare[i - 1] if i > 0 else ""
    after = bare[i + 1] if i + 1 < len(bare) else ""
    return before in _BEFORE_A_CLOCK_TIME or after in _AFTER_TEN


def _letter(bare: list[str], j: int) -> bool:
    return 0 <= j < len(bare) and len(bare[j]) == 1 and bare[j].isalpha() and bare[j] not in {"a", "i"}


def _digit(bare: list[str], j: int) -> bool:
    return 0 <= j < len(bare) and (bare[j] in _DIGIT_WORDS or bare[j].isdigit() or bare[j] == "won")


def _inside_digits(bare: list[str], i: int) -> bool:
    """Whether the word at `i` stands among digit words: both sides for the common "to" and "a", one
    side for "for": two digits after ("ticket for six one zero"), three before (the last of four), or
    after the tens of a year ("ninety for")."""
    word = bare[i]
    if word == "won":
        return True
    before, after = _digit(bare, i - 1), _digit(bare, i + 1)
    before2 = before and _digit(bare, i - 2)
    after2 = after and _digit(bare, i + 2)
    if word in {"to", "too", "a"}:
        return before and after and (before2 or after2)
    if word in {"for", "fore"}:
        next_is_number = i + 1 < len(bare) and (bare[i + 1] in _NUMBER_WORDS or bare[i + 1].isdigit())
        year_tens = i > 0 and bare[i - 1] in TENS and not next_is_number
        run_before = 0
        while _digit(bare, i - 1 - run_before):
            run_before += 1
        return (before and after) or after2 or run_before == 3 or year_tens
    return before or after
