"""Reads a caller's transcript for how finished the turn sounds: mid-sentence, mid-spelling, or clearly done.

Text heuristics only, cheap enough to rerun on every partial transcript; it never decides timing itself.
The heuristics are an ordered list of small rules (`TURN_RULES`): a new one is a function and one line there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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

# A hold word closing a common phrase ("I think so", "what is going on") leaves no sentence hanging.
CLOSED_BY_HOLD_WORD = frozenset(
    {
        "think so",
        "hope so",
        "guess so",
        "believe so",
        "suppose so",
        "or so",
        "going on",
        "hold on",
        "come on",
        "carry on",
    }
)

# A value read out whole leaves nothing hanging: a clock time after "at" ("at two thirty"), a year after a
# date ("november second nineteen seventy nine"). Both sets come from the one number lexicon.


def _minute_words(minute: int) -> str:
    return numbers.number_words(minute) if minute >= 10 else "oh " + numbers.number_words(minute)


CLOCK_TIMES = frozenset(
    f"{numbers.number_words(hour)} {_minute_words(minute)}"
    for hour in range(1, 13)
    for minute in range(1, 60)
)
TIME_OPENERS = frozenset({"at", "around", "about", "by", "after", "before", "till", "until"})
YEARS = frozenset(numbers.number_words(year) for year in range(1900, 2040))
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
YEAR_OPENERS = MONTHS | frozenset(numbers.ORDINALS) | {"in", "of", "born"}
_DIGIT_OF = {**{word: str(value) for word, value in numbers.UNITS.items()}, "oh": "0"}

# "in march" names a month; "is march" or "born march" leaves its day to come.
MONTH_WHOLE_AFTER = frozenset(
    "in of since until till through from by before after early late mid end next last this every each".split()
)
# A date announced ("my date of birth", "born on") is followed by the date within a few words.
DATE_ANNOUNCERS = ("date of birth", "birth date", "birthdate", "birthday", "dob", "d o b")
POSSESSIVES = frozenset("my his her their our its".split())
ANNOUNCED_WITHIN = 3  # words after the announcer that may still be fillers before the value
RELATIVE_DAYS = frozenset({"today", "tomorrow", "yesterday"})

# "what time do you", "where can I", "is there": the question has its subject and not yet its verb or noun.
VERB_AUXILIARIES = frozenset("do does did can could would will should shall may might".split())
SUBJECTS = frozenset("i you we they he she it".split())
EXISTENTIALS = frozenset({"is there", "are there", "was there", "were there"})

THEN_OPENS_CLAUSE = frozenset({"and", "but", "so", "since", "just", "until", "till", "by", "only"})
CONDITIONALS = frozenset({"if", "when", "once", "unless", "whenever"})
_SPELLED_HYPHENS = re.compile(r"^(?:[a-z]-)+[a-z]-?$")


@dataclass(frozen=True, slots=True)
class TurnCue:
    """How finished the turn sounds (`kind`) and the words that say why, for logs and decisions."""

    kind: CueKind
    reason: str
    doubted: bool = False  # unfinished only in another reading the recogniser weighed, not in its best


@dataclass(frozen=True, slots=True)
class Transcript:
    """What every rule reads: the transcript as heard (trimmed, punctuation kept) and at least one token."""

    text: str
    tokens: tuple[str, ...]

    @property
    def last(self) -> str:
        return self.tokens[-1]

    @property
    def joined(self) -> str:
        return " ".join(self.tokens)


TurnRule = Callable[[Transcript, EndpointConfig], TurnCue | None]
"""One end-of-turn heuristic: a cue when it recognises the transcript, None to let the next rule look."""

NO_WORDS = TurnCue("neutral", "no words yet")
NO_CUE = TurnCue("neutral", "no cue either way")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens with edge punctuation stripped ("J." -> "j", "555-1234" stays whole)."""
    return DICTATION.tokens(text)


def _is_letter(token: str) -> bool:
    return (len(token) == 1 and token.isalpha()) or token in NATO_WORDS or bool(_SPELLED_HYPHENS.match(token))


def _is_number(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS or bool(re.fullmatch(r"\d+(?:-\d+)+-?", token))


def _trailing_run(tokens: Sequence[str], predicate: Callable[[str], bool]) -> int:
    count = 0
    for token in reversed(tokens):
        if not predicate(token):
            break
        count += 1
    return count


def _email_in_progress(tokens: Sequence[str]) -> str | None:
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
    # "while we're at it, maybe that fixes it": words after "at" with no "dot" and no spelled letter are a
    # sentence going on, not a domain being dictated.
    if len(after_at) >= 3 and "dot" not in after_at and not any(_is_letter(t) for t in after_at):
        return None
    # "I" and "a" are words far more often than spelled letters, so they do not suggest dictation.
    spelled = sum(1 for t in recent if _is_letter(t) and t not in ("i", "a"))
    if not (EMAIL_CUES.intersection(tokens) or "dot" in recent or spelled >= 2):
        return None
    if len(after_at) >= 2 and after_at[-2] == "dot" and after_at[-1] in TOP_LEVEL_DOMAINS:
        return None
    return "email address being spelled"


# -- the rules, in the order TURN_RULES tries them --


def question_mark(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """A punctuated question is a finished turn."""
    return TurnCue("complete", "ends with a question mark") if said.text.endswith("?") else None


def trailing_email_joiner(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """ "at", "dot", "underscore" at the end leave an address, or a sentence, hanging."""
    if said.last not in EMAIL_JOINERS:
        return None
    return TurnCue("unfinished", _email_in_progress(said.tokens) or f"trailing '{said.last}'")


def _closing_then(tokens: Sequence[str]) -> bool:
    """A closing "then" ("never mind then", "saturday at ten then") sums up; one that answers an "if" or
    follows "and" ("and then") still has its clause to come."""
    return (
        tokens[-1] == "then"
        and len(tokens) >= 2
        and tokens[-2] not in THEN_OPENS_CLAUSE
        and not CONDITIONALS.intersection(tokens)
    )


def trailing_hold_word(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """A configured hold word ("and", "the", "um") at the end is mid-sentence, unless it closes a phrase."""
    if said.last not in config.hold_words or _closing_then(said.tokens):
        return None
    if " ".join(said.tokens[-2:]) not in CLOSED_BY_HOLD_WORD:
        return TurnCue("unfinished", f"trailing '{said.last}'")
    return None


def email_in_progress(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """An email address is being dictated and has not reached its domain."""
    reason = _email_in_progress(said.tokens)
    return TurnCue("unfinished", reason) if reason else None


def spelling_in_progress(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """Letters, NATO words or "j-o-h-n" at the end: a name or code is being spelled."""
    if _trailing_run(said.tokens, _is_letter) >= 2 or _SPELLED_HYPHENS.match(said.last):
        return TurnCue("unfinished", "letters being spelled out")
    return None


def _read_out_code(tokens: Sequence[str]) -> tuple[str, int]:
    """The trailing letters and digits as one code and the number of words it took:
    "... id e one two three four" -> ("e1234", 5)."""
    code: list[str] = []
    for token in reversed(tokens):
        if token in _DIGIT_OF:
            code.append(_DIGIT_OF[token])
        elif token.isdigit() or (len(token) == 1 and token.isalpha()):
            code.append(token)
        else:
            break
    return "".join(reversed(code)), len(code)


def month_without_day(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """A month at the end that is not named as a whole ("is march", not "in march"): its day comes next."""
    if said.last not in MONTHS or len(said.tokens) < 2 or said.tokens[-2] in MONTH_WHOLE_AFTER:
        return None
    return TurnCue("unfinished", f"a month without its day ('{said.last}')")


def _date_value(token: str) -> bool:
    return _is_number(token) or token in MONTHS or token in numbers.ORDINALS or token in RELATIVE_DAYS


def date_announced(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """ "my date of birth" (or "born on") and up to three more words with no number, day or month in them:
    the date is still to come (a misheard "is" or "the" after the announcer does not end it)."""
    joined = f" {said.joined} "
    for announcer in (*DATE_ANNOUNCERS, "born on"):
        at = joined.rfind(f" {announcer} ")
        if at < 0:
            continue
        before = joined[:at].split()[-1:]
        after = joined[at + len(announcer) + 2 :].split()
        owned = announcer == "born on" or bool(POSSESSIVES.intersection(before))
        if owned and len(after) <= ANNOUNCED_WITHIN and not any(_date_value(t) for t in after):
            return TurnCue("unfinished", f"'{announcer}' said, no date yet")
        return None
    return None


def whole_value_read(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """Numbers at the end that make a whole value: a record code of a configured shape, a clock time after
    "at", a year after a date. Nothing says more is coming, so the turn is not held (nor rushed)."""
    run = _trailing_run(said.tokens, _is_number)
    if run == 0:
        return None
    code, used = _read_out_code(said.tokens)
    if code:
        context = " ".join([*said.tokens[-used - 3 : -used], code])
        for shape in config.complete_codes:
            if re.search(shape, context):
                return TurnCue("neutral", f"a whole code read out ({code})")
    for length in (3, 2):
        if run < length or len(said.tokens) <= length:
            continue
        words, before = " ".join(said.tokens[-length:]), said.tokens[-length - 1]
        if words in CLOCK_TIMES and before in TIME_OPENERS:
            return TurnCue("neutral", f"a whole time read out ({words})")
        if words in YEARS and before in YEAR_OPENERS:
            return TurnCue("neutral", f"a whole year read out ({words})")
    return None


def digits_being_read(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """Two or more number words or digit groups at the end: a number is being read out."""
    if _trailing_run(said.tokens, _is_number) >= 2:
        return TurnCue("unfinished", "digits being read out")
    return None


def number_being_read(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """One number at the end that follows "phone", "pin", "account"..., is long or is hyphenated."""
    if _trailing_run(said.tokens, _is_number) != 1:
        return None
    last = said.last
    if NUMBER_CUES.intersection(said.tokens[-4:-1]) or (last.isdigit() and len(last) >= 3) or "-" in last:
        return TurnCue("unfinished", "a number being read out")
    return None


def closing_phrase(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """The turn ends with a configured closing ("thank you", "that's all")."""
    joined = said.joined
    for phrase in config.complete_phrases:
        if joined == phrase or joined.endswith(" " + phrase):
            return TurnCue("complete", f"ends with '{phrase}'")
    return None


def short_answer(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """The whole turn is one configured short answer ("yes", "nope")."""
    joined = said.joined
    return TurnCue("complete", f"short answer '{joined}'") if joined in config.short_answers else None


def question_without_its_verb(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """An auxiliary and its subject at the end ("what time do you", "how can I") or "is there": the verb or
    the thing asked about is still to come. Copulas are left out: "what time is it" is whole."""
    tokens = said.tokens
    if len(tokens) < 2:
        return None
    last_two = " ".join(tokens[-2:])
    if last_two in EXISTENTIALS or (tokens[-2] in VERB_AUXILIARIES and tokens[-1] in SUBJECTS):
        return TurnCue("unfinished", f"a question stopped at '{last_two}'")
    return None


def unpunctuated_question(said: Transcript, config: EndpointConfig) -> TurnCue | None:
    """Unpunctuated ASR output drops the question mark; punctuated output that lacks one is not a question."""
    tokens = said.tokens
    if not re.search(r"[.!?,;]", said.text) and tokens[0] in QUESTION_OPENERS and len(tokens) >= 3:
        return TurnCue("complete", f"question opening with '{tokens[0]}'")
    return None


TURN_RULES: tuple[TurnRule, ...] = (
    question_mark,
    trailing_email_joiner,
    trailing_hold_word,
    email_in_progress,
    spelling_in_progress,
    month_without_day,
    date_announced,
    whole_value_read,
    digits_being_read,
    number_being_read,
    question_without_its_verb,
    closing_phrase,
    short_answer,
    unpunctuated_question,
)
"""Tried in order, the first cue wins. A question mark settles it; otherwise the unfinished rules come before
the complete ones, because an unpunctuated "can I give you my number five five" is still reading digits."""


def classify_turn_text(text: str, config: EndpointConfig, rules: Sequence[TurnRule] = TURN_RULES) -> TurnCue:
    """How finished `text` sounds: the cue of the first rule that recognises it, neutral if none does."""
    stripped = text.strip()
    tokens = tokenize(stripped)
    if not tokens:
        return NO_WORDS
    said = Transcript(stripped, tuple(tokens))
    for rule in rules:
        cue = rule(said, config)
        if cue is not None:
            return cue
    return NO_CUE
