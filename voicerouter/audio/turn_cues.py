"""Reads a caller's transcript for how finished the turn sounds: mid-sentence, mid-spelling, or clearly done.

Text heuristics only, cheap enough to rerun on every partial transcript; it never decides timing itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from voicerouter.audio.settings import EndpointConfig
from voicerouter.lexicon import numbers
from voicerouter.lexicon.tokens import DICTATION

CueKind = Literal["complete", "unfinished", "neutral"]

# "oh" is read as zero ("five five oh one"); a lone "o" is left to the spelled letters.
NUMBER_WORDS = numbers.NUMBER_WORDS | {"oh"}
NUMBER_CUES = frozenset(
    "number phone mobile cell code pin zip postcode account card extension id reference ticket "
    "order policy member confirmation".split()
)
NATO_WORDS = frozenset(
    "alpha alfa bravo charlie delta echo foxtrot golf hotel india juliet juliett kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray x-ray yankee zulu".split()
)
EMAIL_CUES = frozenset({"email", "e-mail", "mail", "address", "gmail", "outlook", "hotmail", "yahoo"})
EMAIL_JOINERS = frozenset({"at", "dot", "underscore", "dash", "hyphen"})
TOP_LEVEL_DOMAINS = frozenset("com org net edu gov io co uk de fr us ca au info biz".split())
QUESTION_OPENERS = frozenset(
    "what when where who whom whose why how which can could would will do does did is are am was were "
    "should shall may might have has".split()
)

# A hold word that closes a common phrase ("I think so") does not leave the sentence hanging.
CLOSED_BY_HOLD_WORD = frozenset({"think so", "hope so", "guess so", "believe so", "suppose so", "or so"})

_SPELLED_HYPHENS = re.compile(r"^(?:[a-z]-)+[a-z]-?$")


@dataclass(frozen=True, slots=True)
class TurnCue:
    kind: CueKind
    reason: str


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens with edge punctuation stripped ("J." -> "j", "555-1234" stays whole)."""
    return DICTATION.tokens(text)


def _is_letter(token: str) -> bool:
    return (len(token) == 1 and token.isalpha()) or token in NATO_WORDS or bool(_SPELLED_HYPHENS.match(token))


def _is_number(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS or bool(re.fullmatch(r"\d+(?:-\d+)+-?", token))


def _trailing_run(tokens: list[str], predicate: Callable[[str], bool]) -> int:
    count = 0
    for token in reversed(tokens):
        if not predicate(token):
            break
        count += 1
    return count


def _email_in_progress(tokens: list[str]) -> str | None:
    """An address is being dictated ("john at gmail", "j dot smith at") and has not reached its domain."""
    last = tokens[-1]
    if "@" in last:
        domain = last.split("@", 1)[1]
        if "." not in domain or domain.rsplit(".", 1)[1] not in TOP_LEVEL_DOMAINS:
            return "email address without its domain yet"
        return None
    recent = tokens[-10:]
    if "at" not in recent:
        return None
    after_at = recent[len(recent) - 1 - recent[::-1].index("at") + 1 :]
    # "I" and "a" are words far more often than spelled letters, so they do not suggest dictation.
    spelled = sum(1 for t in recent if _is_letter(t) and t not in ("i", "a"))
    if not (EMAIL_CUES.intersection(tokens) or "dot" in recent or spelled >= 2):
        return None
    if len(after_at) >= 2 and after_at[-2] == "dot" and after_at[-1] in TOP_LEVEL_DOMAINS:
        return None
    return "email address being spelled"


def classify_turn_text(text: str, config: EndpointConfig) -> TurnCue:
    """How finished `text` sounds: questions and closings are complete; dangling words, dictation are not."""
    stripped = text.strip()
    tokens = tokenize(stripped)
    if not tokens:
        return TurnCue("neutral", "no words yet")
    if stripped.endswith("?"):
        return TurnCue("complete", "ends with a question mark")
    last = tokens[-1]
    if last in EMAIL_JOINERS:
        email = _email_in_progress(tokens)
        return TurnCue("unfinished", email or f"trailing '{last}'")
    if last in config.hold_words and " ".join(tokens[-2:]) not in CLOSED_BY_HOLD_WORD:
        return TurnCue("unfinished", f"trailing '{last}'")
    email = _email_in_progress(tokens)
    if email:
        return TurnCue("unfinished", email)
    letters = _trailing_run(tokens, _is_letter)
    if letters >= 2 or _SPELLED_HYPHENS.match(last):
        return TurnCue("unfinished", "letters being spelled out")
    numbers = _trailing_run(tokens, _is_number)
    if numbers >= 2:
        return TurnCue("unfinished", "digits being read out")
    if numbers == 1:
        if NUMBER_CUES.intersection(tokens[-4:-1]) or (last.isdigit() and len(last) >= 3) or "-" in last:
            return TurnCue("unfinished", "a number being read out")
    return _complete_cue(stripped, tokens, config)


def _complete_cue(stripped: str, tokens: list[str], config: EndpointConfig) -> TurnCue:
    joined = " ".join(tokens)
    for phrase in config.complete_phrases:
        if joined == phrase or joined.endswith(" " + phrase):
            return TurnCue("complete", f"ends with '{phrase}'")
    if joined in config.short_answers:
        return TurnCue("complete", f"short answer '{joined}'")
    # Unpunctuated ASR output drops the question mark; punctuated output that lacks one is not a question.
    if not re.search(r"[.!?,;]", stripped) and tokens[0] in QUESTION_OPENERS and len(tokens) >= 3:
        return TurnCue("complete", f"question opening with '{tokens[0]}'")
    return TurnCue("neutral", "no cue either way")
