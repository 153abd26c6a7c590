"""What one caller utterance says, for the offline model: dialogue acts, the request, and slot values.

Reads words only (no history, no tools); values come from what the caller said and never from a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from voicerouter.nlp import (
    Mention,
    Token,
    digit_strings,
    drop_corrected,
    find_dates,
    find_names,
    find_times,
    tokenize,
)
from voicerouter.nlp.times import TIME_CUES
from voicerouter.providers.offline_hints import OfflineHints, SlotHint

_FILLERS = {"uh", "um", "er", "erm", "oh", "ah", "well", "so", "hmm", "okay", "ok", "alright"}
_ACTS: dict[str, tuple[str, ...]] = {
    "yes": (
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "correct",
        "right",
        "that's right",
        "that is right",
        "ok",
        "okay",
        "go ahead",
        "please do",
        "do it",
        "sounds good",
        "perfect",
        "absolutely",
        "definitely",
        "that works",
        "that's fine",
        "fine",
        "of course",
        "exactly",
        "great",
        "please go ahead",
    ),
    "no": (
        "no",
        "nope",
        "nah",
        "not really",
        "don't",
        "do not",
        "negative",
        "that's wrong",
        "that's not right",
    ),
    "thanks": ("thanks", "thank you", "thank", "appreciate it", "cheers"),
    "goodbye": (
        "bye",
        "goodbye",
        "good bye",
        "that's all",
        "that is all",
        "that's everything",
        "nothing else",
        "have a good day",
        "have a nice day",
        "that's it",
        "i'm done",
        "see you",
    ),
    "greeting": ("hi", "hello", "hey", "good morning", "good afternoon", "good evening", "hiya"),
    "repeat": (
        "say that again",
        "repeat",
        "pardon",
        "come again",
        "what was that",
        "didn't catch",
        "didn't hear",
        "one more time",
        "say again",
        "sorry what",
    ),
    "hold": (
        "hold on",
        "one moment",
        "one sec",
        "one second",
        "just a sec",
        "just a second",
        "give me a second",
        "give me a sec",
        "hang on",
        "just a minute",
        "wait a moment",
        "bear with me",
        "let me check",
        "let me find",
        "let me look",
    ),
    "retry": ("try again", "try it again", "retry", "check again", "give it another try"),
    "drop": ("never mind", "nevermind", "forget it", "forget about it", "don't bother", "leave it"),
}
_LEADING_ACTS = {"yes", "no", "greeting"}  # only when the utterance starts with them
_NEGATORS = {"not", "don't", "didn't", "never", "no"}


@dataclass(frozen=True)
class Heard:
    """One utterance, understood without context: its words, dialogue acts and the request it starts."""

    text: str
    tokens: tuple[Token, ...]
    acts: frozenset[str]
    intent: str | None
    guess: str | None = None  # request implied by its values alone ("dr chen tomorrow at 9")


def phrase_matches(
    tokens: Sequence[Token], phrases: Mapping[str, Iterable[str]], *, skip_negated: bool = False
) -> list[tuple[str, int, int]]:
    """(label, start, end) for each phrase said, longest phrases first, each word used once; sorted."""
    words = [t.text.replace("-", "") for t in tokens]  # "wi-fi" and "e-mail" match "wifi", "email"
    candidates = []
    for label, options in phrases.items():
        for phrase in options:
            prefix = phrase.endswith("*")
            pattern = _pattern(phrase.rstrip("*"))
            if pattern:
                candidates.append((len(pattern), label, pattern, prefix))
    candidates.sort(key=lambda c: -c[0])
    used = [False] * len(words)
    found = []
    for size, label, pattern, prefix in candidates:
        for i in range(len(words) - size + 1):
            if any(used[i : i + size]):
                continue
            head, last = words[i : i + size - 1], words[i + size - 1]
            if head != pattern[:-1] or not (last == pattern[-1] or (prefix and last.startswith(pattern[-1]))):
                continue
            if skip_negated and i > 0 and words[i - 1] in _NEGATORS and pattern[0] not in _NEGATORS:
                continue
            used[i : i + size] = [True] * size
            found.append((label, i, i + size))
    return sorted(found, key=lambda f: f[1])


@cache
def _pattern(phrase: str) -> list[str]:
    return [t.text.replace("-", "") for t in tokenize(phrase)]


def hear(text: str, hints: OfflineHints) -> Heard:
    """Acts and the request of one utterance, read without the history."""
    tokens = tokenize(text)
    start = 0
    while start < len(tokens) and tokens[start].text in _FILLERS - {"okay", "ok"}:
        start += 1
    acts = set()
    for label, start_at, _ in phrase_matches(tokens, _ACTS):
        if label not in _LEADING_ACTS or start_at <= start or (label == "yes" and len(tokens) <= 3):
            acts.add(label)
    heard = Heard(text=text, tokens=tuple(tokens), acts=frozenset(acts), intent=None)
    scores: dict[str, float] = {}
    for intent in hints.intents:  # each request matches on its own, so no request hides another's words
        said = len(phrase_matches(tokens, {intent.name: intent.keywords}, skip_negated=True))
        if said:
            scores[intent.name] = said + 0.5 * len(_evidence(heard, intent.slots, hints))
    order = [intent.name for intent in hints.intents]  # ties go to the earlier, more specific request
    best = max(order, key=lambda name: (scores.get(name, 0), -order.index(name))) if scores else None
    guess = None
    if best is None:
        given = {intent.name: len(_evidence(heard, intent.slots, hints)) for intent in hints.intents}
        ranked = sorted(given.values(), reverse=True)
        if ranked and ranked[0] >= 2 and (len(ranked) == 1 or ranked[0] > ranked[1]):
            guess = next(name for name in order if given[name] == ranked[0])
    return Heard(text=text, tokens=tuple(tokens), acts=frozenset(acts), intent=best, guess=guess)


def _evidence(heard: Heard, slots: list[str], hints: OfflineHints) -> dict[str, str]:
    """Values the utterance gives for a request's own slots ("4591" for a ticket): they break ties
    between requests whose keywords both match ("status of ticket 4591" vs "status of the vpn")."""
    own = [n for n in slots if not hints.slots[n].keep and hints.slots[n].kind not in {"text", "birth_date"}]
    return extract_slots(heard, own, hints, today=hints.reference_day) if own else {}


def extract_slots(
    heard: Heard, wanted: list[str], hints: OfflineHints, *, expects: tuple[str, ...] = (), today: dt.date
) -> dict[str, str]:
    """The values of `wanted` slots the utterance gives; `expects` are the slots the caller was just asked,
    so a bare answer ("thursday", "jon park") fills them first."""
    tokens = list(heard.tokens)
    specs = {name: hints.slots[name] for name in wanted}
    asked = [name for name in expects if name in specs]
    out: dict[str, str] = {}
    dates = drop_corrected(find_dates(tokens, today), tokens)
    birth = [m for m in dates if "birth" in m.flags or ("year" in m.flags and m.value < _year_ago(today))]
    plain = [m for m in dates if m not in birth]
    time_asked = any(specs[n].kind == "time" for n in asked)
    wants_time = any(spec.kind == "time" for spec in specs.values())
    times = [
        m
        for m in find_times(tokens, bare_ok=time_asked or wants_time, pm_below_hour=hints.pm_below_hour)
        if not _overlaps(m, dates)
        and (time_asked or _stands_alone(m, tokens) or _cued_time(m, tokens, hints))
    ]
    times = drop_corrected(times, tokens)
    for name, spec in specs.items():
        if spec.kind == "birth_date":
            pool = [m for m in dates if "year" in m.flags] if name in asked else birth
            if pool:
                out[name] = pool[-1].value
    out.update(
        _distribute(
            plain if not any(specs[n].kind == "date" for n in asked) else plain or dates,
            [n for n, s in specs.items() if s.kind == "date"],
            specs,
            asked,
        )
    )
    out.update(_distribute(times, [n for n, s in specs.items() if s.kind == "time"], specs, asked))
    for name, spec in specs.items():
        value = _simple_slot(heard, tokens, spec, dates, bare=name in asked)
        if value is not None:
            out[name] = value
    return out


def _simple_slot(
    heard: Heard, tokens: list[Token], spec: SlotHint, dates: list[Mention], *, bare: bool
) -> str | None:
    if spec.kind == "name":
        names = [
            m
            for m in drop_corrected(find_names(tokens, bare=bare), tokens)
            if len(m.value.split()) >= spec.min_words
        ]
        return names[-1].value if names else None
    if spec.kind in {"digits", "id"}:
        return _number(heard.text, tokens, spec, dates)
    if spec.kind == "choice":
        options = {value: [value.replace("_", " "), *phrases] for value, phrases in spec.choices.items()}
        said = phrase_matches(tokens, options, skip_negated=True)
        return said[-1][0] if said else None
    if spec.kind == "text":
        return _text(heard, spec, bare=bare)
    return None


def _distribute(
    mentions: list[Mention], slots: list[str], specs: dict[str, SlotHint], asked: list[str]
) -> dict[str, str]:
    """Share the values of one kind between the slots of that kind: the asked slot takes the last;
    otherwise a `pick = "earlier"` slot takes the first of two and the other slot the last."""
    if not mentions or not slots:
        return {}
    for name in asked:
        if name in slots:
            return {name: mentions[-1].value}
    earlier = [n for n in slots if specs[n].pick == "earlier"]
    later = [n for n in slots if specs[n].pick == "last"]
    out = {}
    if earlier and later:
        if len(mentions) >= 2:
            out[earlier[0]] = mentions[0].value
        out[later[0]] = mentions[-1].value
    else:
        out[(later or earlier)[0]] = mentions[-1].value
    return out


def _number(text: str, tokens: list[Token], spec: SlotHint, dates: list[Mention]) -> str | None:
    length = spec.length or 0
    if spec.prefix:
        compact = re.findall(rf"\b{re.escape(spec.prefix)}\s?-?(\d{{{length}}})\b", text, flags=re.IGNORECASE)
        if compact:
            return spec.prefix.upper() + compact[-1]
    found = [
        digits
        for digits, start, end in digit_strings(text)
        if len(digits) == length and not any(m.start < end and start < m.end for m in dates)
    ]
    if not found:
        return None
    return spec.prefix.upper() + found[-1] if spec.prefix else found[-1]


def _text(heard: Heard, spec: SlotHint, *, bare: bool) -> str | None:
    """The clause that describes the problem ("my laptop won't turn on"), cleaned for a record."""
    clauses = [c.strip() for c in re.split(r"[.,;!?]+|\s(?:and|but)\s", heard.text) if c.strip()]
    if spec.keywords:
        keyed = [c for c in clauses if phrase_matches(tokenize(c), {"k": spec.keywords})]
        if keyed:
            clauses = keyed[:1]
        elif not bare:
            return None
    elif not bare and heard.intent is None:
        return None
    words = [w for w in " ".join(clauses).split() if w.lower().strip(",") not in _FILLERS | {"hi", "hello"}]
    if len(words) < 2:
        return None
    sentence = " ".join(words)[:200]
    return sentence[0].upper() + sentence[1:]


_AROUND_A_BARE_TIME = set(
    "at um uh please how about what maybe say ok okay let's make it that then the yes yeah actually instead"
    " would be fine works is good sorry no can i do come in".split()
)


def _stands_alone(mention: Mention, tokens: list[Token]) -> bool:
    """ "ten thirty" said on its own (or with "how about ... please") is a time, not a number."""
    rest = tokens[: mention.start] + tokens[mention.end :]
    return all(t.text in _AROUND_A_BARE_TIME for t in rest)


def _cued_time(mention: Mention, tokens: list[Token], hints: OfflineHints) -> bool:
    """A mention that also parses without `bare_ok` (it has am/pm, o'clock, "at"...)."""
    strict = find_times(tokens[mention.start : mention.end], pm_below_hour=hints.pm_below_hour)
    before = mention.start > 0 and tokens[mention.start - 1].text in TIME_CUES
    return bool(strict) or before


def _overlaps(mention: Mention, others: list[Mention]) -> bool:
    return any(mention.start < o.end and o.start < mention.end for o in others)


def _year_ago(today: dt.date) -> str:
    return (today - dt.timedelta(days=365)).isoformat()
