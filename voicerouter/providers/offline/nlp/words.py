"""Spoken-word tokens and numbers: "four five nine one" -> "4591", "s m i t h" -> "Smith", "oh" as zero.

Pure text functions shared by the offline model and the simulator; nothing here knows an agent or a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicerouter.lexicon import numbers
from voicerouter.lexicon.numbers import REPEATS, SCALES, TEENS, UNITS, ZERO_WORDS, is_number_word
from voicerouter.lexicon.tokens import SPOKEN_VALUES

# The number words come from the shared lexicon; this parser also accepts a misspelled "fourty".
TENS = {**numbers.TENS, **numbers.MISSPELLED_TENS}
ORDINAL_UNITS = {word: value for word, value in numbers.ORDINALS.items() if value < 10}
DAY_ORDINALS = numbers.DAY_ORDINALS


@dataclass(frozen=True)
class Token:
    """One word of an utterance: `text` lower-cased ASCII for matching, `raw` as heard for names."""

    text: str
    raw: str
    index: int


def tokenize(text: str) -> list[Token]:
    """Words, numbers, times and dates of an utterance. Hyphens split numbers and spelled letters
    ("forty-five", "S-M-I-T-H") but keep names whole ("Anne-Marie")."""
    return [Token(text=word.lower(), raw=word, index=i) for i, word in enumerate(SPOKEN_VALUES.tokens(text))]


def words(text: str) -> list[str]:
    """The lower-case texts of `tokenize(text)`, for matching without positions."""
    return [t.text for t in tokenize(text)]


def small_number_at(tokens: list[Token], i: int, *, max_value: int = 99) -> tuple[int, int] | None:
    """A cardinal 0..99 starting at `i` ("twenty three", "17", "oh five" excluded): (value, next index)."""
    if i >= len(tokens):
        return None
    word = tokens[i].text
    if word.isdigit() and len(word) <= 2:
        value = int(word)
        return (value, i + 1) if value <= max_value else None
    if word in TENS:
        value = TENS[word]
        if i + 1 < len(tokens) and tokens[i + 1].text in UNITS and UNITS[tokens[i + 1].text] > 0:
            combined = value + UNITS[tokens[i + 1].text]
            if combined <= max_value:
                return combined, i + 2
        return (value, i + 1) if value <= max_value else None
    for table in (TEENS, UNITS):
        if word in table:
            return (table[word], i + 1) if table[word] <= max_value else None
    return None


def ordinal_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """An ordinal day "third", "twenty third", "3rd", "twenty-first": (value, next index)."""
    if i >= len(tokens):
        return None
    word = tokens[i].text
    match = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)", word)
    if match:
        return int(match.group(1)), i + 1
    if word in DAY_ORDINALS:
        return DAY_ORDINALS[word], i + 1
    if word in TENS and i + 1 < len(tokens) and tokens[i + 1].text in ORDINAL_UNITS:
        return TENS[word] + ORDINAL_UNITS[tokens[i + 1].text], i + 2
    return None


def number_run_at(tokens: list[Token], i: int) -> tuple[str, int] | None:
    """The digits of a spoken number starting at `i`: "four five nine one", "forty five ninety one" and
    "four thousand five hundred ninety one" all give "4591"; "double five" gives "55"."""
    end = i
    while end < len(tokens):
        word = tokens[end].text
        if is_number_word(word) or (word in ZERO_WORDS and end > i):
            end += 1
        elif (
            word == "and"
            and end + 1 < len(tokens)
            and is_number_word(tokens[end + 1].text)
            and any(t.text in SCALES for t in tokens[i:end])  # "five hundred and one", not "4500 and 4501"
        ):
            end += 1
        else:
            break
    if end == i:
        return None
    run = [t.text for t in tokens[i:end] if t.text != "and"]
    digits = _cardinal(run) if any(w in SCALES for w in run) else _concatenated(run)
    return (digits, end) if digits else None


def _concatenated(run: list[str]) -> str:
    out: list[str] = []
    repeat = 1
    k = 0
    while k < len(run):
        word = run[k]
        if word in REPEATS:
            repeat = REPEATS[word]
            k += 1
            continue
        if word in TENS:
            value = str(TENS[word])
            if k + 1 < len(run) and run[k + 1] in UNITS and UNITS[run[k + 1]] > 0:
                value = str(TENS[word] + UNITS[run[k + 1]])
                k += 1
            out.append(value)
        elif word in TEENS and TEENS[word] >= 13 and k + 1 < len(run) and UNITS.get(run[k + 1], 0) > 0:
            # "forty five fifteen nine": a -teen before a digit is a -ty misheard ("fifty nine")
            out.append(str((TEENS[word] - 10) * 10 + UNITS[run[k + 1]]))
            k += 1
        elif word in TEENS:
            out.append(str(TEENS[word]))
        elif word in UNITS:
            out.append(str(UNITS[word]) * repeat)
        elif word in ZERO_WORDS:
            out.append("0" * repeat)
        elif word.isdigit():
            out.append(word)
        repeat = 1
        k += 1
    return "".join(out)


def _cardinal(run: list[str]) -> str:
    total = current = 0
    for word in run:
        if word in UNITS:
            current += UNITS[word]
        elif word in TEENS:
            current += TEENS[word]
        elif word in TENS:
            current += TENS[word]
        elif word.isdigit():
            current += int(word)
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return ""
    return str(total + current)


def digit_strings(text: str) -> list[tuple[str, int, int]]:
    """Every number said in `text` as (digits, first token, end token), in order of appearance."""
    tokens = tokenize(text)
    found = []
    i = 0
    while i < len(tokens):
        parsed = number_run_at(tokens, i)
        if parsed is None:
            i += 1
            continue
        found.append((parsed[0], i, parsed[1]))
        i = parsed[1]
    return found


# Words that follow the pronoun "I": "m c d o n a l d, I need..." ends the spelling before the "I".
_AFTER_PRONOUN_I = frozenset(
    "am believe called can can't could did didn't do don't got guess had have just mean meant might must "
    "need think thought wanted want was will would".split()
)


def spelled_runs(tokens: list[Token]) -> list[tuple[str, int, int]]:
    """Letters said one by one ("s m i t h") as (word, first token, end token); needs two letters or more."""
    runs = []
    i = 0
    while i < len(tokens):
        end = i
        letters = ""
        while end < len(tokens):
            if _is_letter_token(tokens[end]):
                letters += tokens[end].text
                end += 1
            elif tokens[end].text in REPEATS and end + 1 < len(tokens) and _is_letter_token(tokens[end + 1]):
                # "R O double S I": a doubled letter; a run must have begun ("double check" is no spelling)
                if end == i and not (end + 2 < len(tokens) and _is_letter_token(tokens[end + 2])):
                    break
                letters += tokens[end + 1].text * REPEATS[tokens[end].text]
                end += 2
            else:
                break
        if end - i > 2 and tokens[end - 1].text == "i" and end < len(tokens):
            if tokens[end].text in _AFTER_PRONOUN_I:
                end -= 1
                letters = letters[:-1]
        if end - i >= 2 and not (end - i == 2 and letters in {"ia", "ai"}):
            runs.append((letters, i, end))
            i = end
        else:
            i = max(end, i + 1)
    return runs


def _is_letter_token(token: Token) -> bool:
    return len(token.text) == 1 and token.text.isalpha()


def capitalize_name(word: str) -> str:
    """`smith` -> `Smith`, `mcdonald` -> `McDonald`, `o'brien` -> `O'Brien`, keeps `McDonald` as heard."""
    if any(c.isupper() for c in word[1:]):
        return word[0].upper() + word[1:]
    if "-" in word:
        return "-".join(capitalize_name(part) for part in word.split("-"))
    lower = word.lower()
    if lower.startswith("mc") and len(lower) > 3:
        return "Mc" + lower[2].upper() + lower[3:]
    if lower.startswith("o'") and len(lower) > 2:
        return "O'" + lower[2].upper() + lower[3:]
    return lower[:1].upper() + lower[1:]


@dataclass(frozen=True)
class Mention:
    """A value found in an utterance: `kind` (date, time, name...), canonical `value`, token span, flags."""

    kind: str
    value: str
    start: int
    end: int
    flags: frozenset[str] = frozenset()


_FIRST = frozenset({"first", "earlier", "earliest", "sooner", "soonest", "former", "1st"})
_LAST = frozenset({"last", "later", "latest", "latter", "final"})
_PLACES = {"second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3}


def pick_from_list(tokens: tuple[Token, ...] | list[Token], count: int) -> int | None:
    """Which of `count` items just listed a caller picks: "the second one", "the later one", "the last"."""
    for token in tokens:
        word = token.text
        if word in _FIRST:
            return 0
        if word in _LAST:
            return count - 1
        if word in _PLACES and _PLACES[word] < count:
            return _PLACES[word]
    return None
