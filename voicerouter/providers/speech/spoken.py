"""Written text to the words a caller would say: numbers, ids, phone numbers, times and dates spelled out.

Pure string functions used to build recogniser vocabularies; they never look words up in a dictionary.
"""

from __future__ import annotations

import datetime as dt
import re

from voicerouter.lexicon.numbers import digit_words, number_words, ordinal_words
from voicerouter.lexicon.tokens import WRITTEN, without_accents

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SYMBOLS = {"&": " and ", "%": " percent ", "@": " at ", "+": " plus ", "#": " number ", "/": " "}

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_ORDINAL_NUMBER = re.compile(r"^(\d{1,2})(st|nd|rd|th)$")
_PHONE = re.compile(r"\+?\(?\d{1,4}\)?(?:[-. ]\(?\d{2,4}\)?){2,}")
_SENTENCE_BREAK = re.compile(r"[.!?;:,()\[\]{}\"\n]+(?:\s|$)|\s[-–—]\s")


def time_words(hour: int, minute: int) -> str:
    """A clock time on a 12-hour dial: (9, 0) -> "nine o'clock", (14, 30) -> "two thirty", (8, 5) ->
    "eight oh five"."""
    spoken_hour = number_words(hour % 12 or 12)
    if minute == 0:
        return f"{spoken_hour} o'clock"
    if minute < 10:
        return f"{spoken_hour} oh {number_words(minute)}"
    return f"{spoken_hour} {number_words(minute)}"


def date_words(day: dt.date) -> str:
    """A calendar date as a caller says it: 2026-12-24 -> "december twenty fourth"."""
    return f"{MONTHS[day.month - 1]} {ordinal_words(day.day)}"


def fold(text: str) -> str:
    """Lower case, accents stripped, typographic apostrophes made plain."""
    return without_accents(text.replace("\u2019", "'").replace("\u2018", "'")).lower()


def spoken_token(token: str) -> str:
    """One written token in spoken words; plain words pass through (folded)."""
    match = _ISO_DATE.match(token)
    if match:
        try:
            return date_words(dt.date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            return digit_words(token)
    match = _CLOCK.match(token)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time_words(int(match[1]), int(match[2]))
    match = _ORDINAL_NUMBER.match(token)
    if match:
        return ordinal_words(int(match[1]))
    if token.isdigit():
        # Short numbers are quantities ("suite one hundred"); long ones are read digit by digit.
        return number_words(int(token)) if len(token) <= 3 else digit_words(token)
    return fold(token)


def sentences(text: str) -> list[str]:
    """Text cut at punctuation into runs of words that a caller could say in one breath."""
    cleaned = _PHONE.sub(_phone_digits, fold(text))
    for symbol, spoken in _SYMBOLS.items():
        cleaned = cleaned.replace(symbol, spoken)
    cleaned = re.sub(r"\bdr\.", "doctor", cleaned)
    cleaned = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", cleaned)  # follow-up -> follow up
    return [part.strip() for part in _SENTENCE_BREAK.split(cleaned) if part.strip()]


def spoken_words(text: str) -> list[str]:
    """All words of `text` in spoken form, punctuation dropped: "Dr. Chen, 9:30" -> doctor chen nine thirty"""
    out: list[str] = []
    for part in sentences(text):
        out.extend(_words_of(part))
    return out


def spoken_sentences(text: str) -> list[list[str]]:
    """`text` as sentences of spoken words, ready for a language model."""
    return [words for words in (_words_of(part) for part in sentences(text)) if words]


def _phone_digits(match: re.Match[str]) -> str:
    """Phone numbers are read digit by digit; an ISO date only looks like one."""
    text = match[0]
    return text if _ISO_DATE.match(text) else f" {digit_words(text)} "


def _words_of(part: str) -> list[str]:
    words: list[str] = []
    for token in WRITTEN.tokens(part):
        letters_then_digits = re.fullmatch(r"([a-z]{1,3})(\d{2,})", token)
        if letters_then_digits:  # ids such as "p1001", "e1041"
            words.extend(list(letters_then_digits[1]))
            words.extend(digit_words(letters_then_digits[2]).split())
            continue
        words.extend(spoken_token(token).split())
    return words
