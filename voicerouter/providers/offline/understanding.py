"""What one caller utterance says, for the offline model: dialogue acts, the request, and slot values.

Reads words only (no history, no tools); values come from what the caller said and never from a guess.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from voicerouter.providers.offline.hints import OfflineHints, SlotHint
from voicerouter.providers.offline.nlp import (
    Mention,
    Token,
    correction_points,
    digit_strings,
    drop_corrected,
    find_dates,
    find_names,
    find_times,
    tokenize,
)
from voicerouter.providers.offline.nlp.heard_names import known_name
from voicerouter.providers.offline.nlp.misheard import repair_numbers
from voicerouter.providers.offline.nlp.times import TIME_CUES
from voicerouter.providers.offline.nlp.words import spelled_runs
from voicerouter.providers.offline.requests import NONE, RequestGuess, RequestModel

_FILLERS = {"uh", "um", "er", "erm", "oh", "ah", "well", "so", "hmm", "hm", "mm", "okay", "ok", "alright"}
# a yes only these words say, wherever it comes ("low is fine, yes, go ahead"); "right", "fine" or "sure"
# say yes only at the start ("is that the right one?")
_PLAIN_YES = frozenset({("yes",), ("yeah",), ("yep",), ("yup",), ("go", "ahead"), ("please", "do")})
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
# Words a phone recognizer writes for "yes", "yeah" and "yep" (one sound away); read as a yes only as the
# answer to a confirmation.
_SOUNDS_LIKE_YES = frozenset(
    "des les nes wes use yen yet bess ches fess gess yah yea yeh yay ewe uwe yap yip yuh".split()
)
_LEADING_ACTS = {"yes", "no", "greeting"}  # only when the utterance starts with them
_NEGATORS = {"not", "don't", "didn't", "never", "no"}
# Hesitations and hedges a caller drops inside a phrase: "where exactly are you", "when is um my appointment".
_INSIDE_A_PHRASE = {
    "um", "uh", "er", "erm", "uhm", "ah", "exactly", "actually", "just", "really", "even", "already", "still",
}
# A caller asking for someone else: "does he have an appointment" says "do i have an appointment".
_FOR_SOMEONE = {
    "my": ("his", "her", "their", "our"),
    "i": ("he", "she", "they", "we"),
    "do": ("does",),
    "am": ("is", "are"),
}


@dataclass(frozen=True)
class Heard:
    """One utterance, understood without context: its words, dialogue acts and the request it starts."""

    text: str
    tokens: tuple[Token, ...]
    acts: frozenset[str]
    intent: str | None
    guess: str | None = None  # request implied by its values alone ("dr chen tomorrow at 9")
    hunch: str | None = None  # the request model's best request when it was too unsure to decide


def phrase_matches(
    tokens: Sequence[Token], phrases: Mapping[str, Iterable[str]], *, skip_negated: bool = False
) -> list[tuple[str, int, int]]:
    """(label, start, end) for each phrase said, longest phrases first, each word used once; sorted."""
    words = [t.text.replace("-", "") for t in tokens]  # "wi-fi" and "e-mail" match "wifi", "email"
    starts: dict[str, list[int]] = {}  # where each word is said: a phrase is tried only where it starts
    for i, word in enumerate(words):
        starts.setdefault(word, []).append(i)
        if word.endswith("'s"):  # "the printer's jammed": a one-word phrase said with its "'s"
            starts.setdefault(word[:-2], []).append(i)
        elif word.endswith("s") and len(word) > 4:  # "open on saturdays": a phrase's last word in plural
            starts.setdefault(word[:-1], []).append(i)
    used = [False] * len(words)
    found = []
    for label, pattern, prefix in _candidates(tuple((label, tuple(opts)) for label, opts in phrases.items())):
        first = pattern[0]
        if prefix and len(pattern) == 1:
            at: Sequence[int] = [i for i, word in enumerate(words) if word.startswith(first)]
        elif first in _FOR_SOMEONE:
            at = sorted(i for word in (first, *_FOR_SOMEONE[first]) for i in starts.get(word, ()))
        else:
            at = starts.get(first, ())
        for i in at:
            end = _match_at(words, i, pattern, prefix)
            if end is None or any(used[i:end]):
                continue
            if skip_negated and i > 0 and words[i - 1] in _NEGATORS and pattern[0] not in _NEGATORS:
                continue
            used[i:end] = [True] * (end - i)
            found.append((label, i, end))
    return sorted(found, key=lambda f: f[1])


def _match_at(words: list[str], i: int, pattern: list[str], prefix: bool) -> int | None:
    """End of `pattern` said from word `i`, hesitations inside it allowed; None if it is not said there."""
    k = i
    for n, wanted in enumerate(pattern):
        while n and k < len(words) and words[k] in _INSIDE_A_PHRASE and words[k] != wanted:
            k += 1
        if k >= len(words):
            return None
        word = words[k]
        last = n == len(pattern) - 1
        # the last word may carry an "'s" ("the order system's been down") or, for a prefix, any ending
        said = (
            word == wanted
            or (last and (word in {f"{wanted}'s", f"{wanted}s"} or (prefix and word.startswith(wanted))))
            or (len(wanted) >= 6 and word == wanted[:-1])  # "insuranc": the recognizer lost the last letter
        )
        if not (said or word in _FOR_SOMEONE.get(wanted, ())):
            return None
        k += 1
    return k


@lru_cache(maxsize=512)
def _candidates(phrases: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[str, list[str], bool], ...]:
    """(label, words, prefix) of every phrase, longest first (ties keep their order): built once per set."""
    candidates = []
    for label, options in phrases:
        for phrase in options:
            pattern = _pattern(phrase.rstrip("*"))
            if pattern:
                candidates.append((label, pattern, phrase.endswith("*")))
    candidates.sort(key=lambda c: -len(c[1]))
    return tuple(candidates)


# Words a recogniser puts between the two words of a name: a hesitation ("lucia uh mendoza") or a short
# word it hears in the pause ("carlos the mendoza").
_INSIDE_A_NAME = frozenset({"uh", "um", "er", "erm", "the", "you"})


def _between_names(text: str) -> str:
    """`text` in lower case without a hesitation between two known name words ("lucia uh mendoza")."""
    if text != text.lower() or not any(w in _INSIDE_A_NAME for w in text.split()):
        return text
    words = text.split()
    keep = [
        not (
            0 < i < len(words) - 1
            and word in _INSIDE_A_NAME
            and known_name(words[i - 1])
            and known_name(words[i + 1].rstrip(",.?!"))
        )
        for i, word in enumerate(words)
    ]
    return " ".join(w for w, k in zip(words, keep, strict=True) if k)


@cache
def _pattern(phrase: str) -> list[str]:
    return [t.text.replace("-", "") for t in tokenize(phrase)]


def hear(text: str, hints: OfflineHints, model: RequestModel | None = None) -> Heard:
    """Acts and the request of one utterance, read without the history; `model` (the agent's trained
    request model) decides the request, the hints' keywords only where it is unsure."""
    text = _between_names(repair_numbers(text))
    tokens = tokenize(text)
    start = 0
    while start < len(tokens) and tokens[start].text in _FILLERS - {"okay", "ok"}:
        start += 1
    acts = set()
    for label, start_at, end_at in phrase_matches(tokens, _ACTS):
        phrase = tuple(t.text for t in tokens[start_at:end_at])
        plain = label == "yes" and len(tokens) <= 8 and phrase in _PLAIN_YES
        anywhere = label == "yes" and (len(tokens) <= 3 or plain)
        if label not in _LEADING_ACTS or start_at <= start or anywhere:
            acts.add(label)
    if not acts and 0 < len(tokens) <= 3 and tokens[0].text in _SOUNDS_LIKE_YES:
        acts.add("yes?")  # "des please", "ewe that's right": a yes a recognizer misheard, if a yes is wanted
    heard = Heard(text=text, tokens=tuple(tokens), acts=frozenset(acts), intent=None)
    scores: dict[str, float] = {}
    phrases: dict[str, int] = {}
    first_said: dict[str, int] = {}
    named = _name_words(tokens)
    in_name_only: set[str] = set()  # requests whose only keywords are inside the caller's name
    for intent in hints.requests:  # each request matches on its own, so no request hides another's words
        matched = phrase_matches(tokens, {intent.name: intent.keywords}, skip_negated=True)
        said = [
            (label, begin, end)
            for label, begin, end in matched
            if not named & set(range(begin, end))  # "it's Jon Park" asks nothing about parking
        ]
        if matched and not said:
            in_name_only.add(intent.name)
        if said:
            scores[intent.name] = len(said) + _weight(_evidence(heard, intent.telling_slots, hints), hints)
            phrases[intent.name] = len(said)
            first_said[intent.name] = said[0][1]
    # ties go to the request that leads into the other ("what's the earliest" before "book"), then to the
    # one said first ("what are your hours, in case we come in"), then to the earlier request of the hints
    order = [intent.name for intent in hints.requests]
    leads = {i.name: i.follow_up for i in hints.requests if i.follow_up is not None}
    rank = {
        name: (score, scores.get(leads.get(name, "")) == score, -first_said[name], -order.index(name))
        for name, score in scores.items()
    }
    best = max(rank, key=lambda name: rank[name]) if rank else None
    hunch = None
    if model is not None:
        predicted = model.predict(text)
        weighed = _weigh(predicted, best, phrases.get(best or "", 0))
        # between two requests the keywords both name, the keywords' order decides ("did I miss an
        # appointment ... and can I book"): the first request is answered first
        best = best if weighed in phrases else weighed
        if best is not None and best not in phrases and not hints.intent(best).slots:
            # a request that acts at once (a transfer) on the model's word alone needs it to be sure
            best = best if predicted.probabilities[best] >= _ACTS_AT_ONCE else None
        requests = {k: p for k, p in predicted.probabilities.items() if k != NONE}
        likeliest = max(requests, key=lambda k: requests[k]) if requests else None
        if best is None and likeliest is not None and requests[likeliest] >= _HUNCH:
            hunch = likeliest  # with no request under way, an utterance is likelier a request than none
        if best in in_name_only:  # the model heard "park" in "Jon Park": the name is no request
            best = None
        if hunch in in_name_only:
            hunch = None
    guess = None
    if best is None:
        given = {intent.name: len(_evidence(heard, intent.telling_slots, hints)) for intent in hints.requests}
        ranked = sorted(given.values(), reverse=True)
        top = [name for name in order if ranked and given[name] == ranked[0]]
        # a tie between a request and the one it leads into ("is Dr. Patel free tomorrow") is no tie
        leading = [name for name in top if leads.get(name) in top]
        if ranked and ranked[0] >= 2 and (len(top) == 1 or (len(top) == 2 and leading)):
            guess = leading[0] if len(top) == 2 else top[0]
    return Heard(text=text, tokens=tuple(tokens), acts=frozenset(acts), intent=best, guess=guess, hunch=hunch)


def _name_words(tokens: list[Token]) -> set[int]:
    """Positions of the words of a person's name said after a cue ("it's Jon Park", "this is ...")."""
    if not any(t.raw[:1].isupper() for t in tokens[1:]):
        return set()  # unwritten case: a name after "it's" might be "it's parking"; keywords decide
    return {k for m in find_names(tokens) for k in range(m.start, m.end) if len(m.value.split()) >= 2}


# The trained model decides; a request the hints' keywords point to counts as if this many times likelier
# (log), so the model overrules a keyword only when it is clearly sure ("is the VPN still broken" is a
# question about the service, "what has Doctor Ortiz got open" one about free times, not opening hours).
_KEYWORD_ODDS = 2.3
_MORE_KEYWORDS_ODDS = 0.5
_NONE_ODDS = 4.0  # and "no request at all" has to be far likelier than the keyword's request
_NEW_REQUEST = 0.5  # a request no keyword names needs this much probability
_HUNCH = 0.25  # below _NEW_REQUEST: a hunch the dialogue may use when no request is under way
_ACTS_AT_ONCE = 0.8  # a request with no slot to ask (a transfer) named by the model alone


def _weigh(guess: RequestGuess, keyword: str | None, phrases: int = 1) -> str | None:
    """The request of an utterance from the model's probabilities and the request its keywords point to
    (`phrases` of its keywords said: each one more makes it likelier)."""
    if keyword is None:
        return guess.label if guess.label != NONE and guess.confidence >= _NEW_REQUEST else None
    bonus = _KEYWORD_ODDS + _MORE_KEYWORDS_ODDS * max(0, phrases - 1)
    odds = {keyword: bonus, NONE: bonus - _NONE_ODDS}
    scores = {
        label: math.log(max(p, 1e-9)) + odds.get(label, 0.0) for label, p in guess.probabilities.items()
    }
    best = max(scores, key=lambda label: scores[label])
    return None if best == NONE else best


def _weight(evidence: dict[str, str], hints: OfflineHints) -> float:
    """How strongly the values said point to a request: a record's number ("I have a ticket, four five
    five nine") as much as a keyword, any other value half as much."""
    return sum(1.0 if hints.slots[n].kind in {"digits", "id"} else 0.5 for n in evidence)


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
    dates = list(_dates_said(heard.tokens, today))
    birth = [m for m in dates if "birth" in m.flags or ("year" in m.flags and m.value < _year_ago(today))]
    plain = [m for m in dates if m not in birth]
    time_asked = any(specs[n].kind == "time" for n in asked)
    wants_time = any(spec.kind == "time" for spec in specs.values())
    times = [
        m
        for m in _times_said(heard.tokens, time_asked or wants_time, hints.pm_below_hour)
        if not _overlaps(m, dates)
        and (
            time_asked or _stands_alone(m, tokens) or _cued_time(m, tokens, hints) or _beside_a_date(m, dates)
        )
        and not (m.start > 0 and tokens[m.start - 1].text in _TIME_BOUNDS)
    ]
    times = drop_corrected(times, tokens)
    for name, spec in specs.items():
        if spec.kind == "birth_date":
            pool = [m for m in dates if "year" in m.flags] if name in asked else birth
            if pool:
                out[name] = _plausible_birth_year(pool[-1].value)
    out.update(
        _distribute(
            plain if not any(specs[n].kind == "date" for n in asked) else plain or dates,
            [n for n, s in specs.items() if s.kind == "date"],
            specs,
            asked,
            tokens,
        )
    )
    out.update(_distribute(times, [n for n, s in specs.items() if s.kind == "time"], specs, asked))
    for name, spec in specs.items():
        value = _simple_slot(heard, tokens, spec, dates, bare=name in asked)
        if value is not None:
            out[name] = value
    return out


@lru_cache(maxsize=1024)
def _dates_said(tokens: tuple[Token, ...], today: dt.date) -> tuple[Mention, ...]:
    """The dates an utterance stands by; cached, since every request's evidence reads the same words."""
    words = list(tokens)
    return tuple(drop_corrected(find_dates(words, today), words))


@lru_cache(maxsize=1024)
def _times_said(tokens: tuple[Token, ...], bare_ok: bool, pm_below_hour: int) -> tuple[Mention, ...]:
    """Every clock time in an utterance (before filtering); cached like `_dates_said`."""
    return tuple(find_times(list(tokens), bare_ok=bare_ok, pm_below_hour=pm_below_hour))


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
        return _number(heard.text, tokens, spec, dates, bare=bare)
    if spec.kind == "choice":
        options = {value: [value.replace("_", " "), *phrases] for value, phrases in spec.choices.items()}
        return _choice(phrase_matches(tokens, options, skip_negated=True), tokens)
    if spec.kind == "text":
        return _text(heard, spec, bare=bare)
    return None


def _choice(said: list[tuple[str, int, int]], tokens: list[Token]) -> str | None:
    """The option the caller means: the one said most ("hours on saturday"), the first of a tie ("parking
    close to the door"); an option taken back ("email, no sorry, the vpn") does not count."""
    for _, end in correction_points(tokens):
        if any(start >= end for _, start, _ in said):
            said = [m for m in said if m[1] >= end]
    counts: dict[str, int] = {}
    for label, _, _ in said:
        counts[label] = counts.get(label, 0) + 1
    return max(counts, key=lambda label: counts[label]) if counts else None  # ties: the first said


def names_only_tagged(heard: Heard) -> bool:
    """Whether the names in an utterance come only from the trained tagger (no cue, no capitals)."""
    names = find_names(list(heard.tokens))
    return bool(names) and all("tagged" in m.flags for m in names)


def lone_surname(heard: Heard) -> str | None:
    """The one name word of an answer such as "Clarke with an E at the end, C L A R K E"."""
    tokens = list(heard.tokens)
    names = drop_corrected(find_names(tokens, bare=True), tokens)
    if len(names) != 1 or len(names[0].value.split()) != 1:
        return None
    spelled = bool(spelled_runs(tokens))
    capitalized = any(t.raw[:1].isupper() for t in tokens[names[0].start : names[0].end])
    return names[0].value if spelled or capitalized else None  # "oh shoot, sorry" is no surname


_BOOKED_ONE = {"appointment", "one", "visit", "from", "booked", "scheduled", "checkup", "physical"}
_BETWEEN_BOOKED_ONE_AND_VALUE = {"on", "for", "the", "at", "of", "is", "that's", "which", "was", "set"}


def _names_the_booked_one(mention: Mention, tokens: Sequence[Token]) -> bool:
    """ "my appointment on the thirtieth", "the one on friday": the value says which visit, not where to."""
    k = mention.start - 1
    while k >= 0 and mention.start - k <= 4 and tokens[k].text in _BETWEEN_BOOKED_ONE_AND_VALUE:
        k -= 1
    return k >= 0 and tokens[k].text in _BOOKED_ONE


def _distribute(
    mentions: list[Mention],
    slots: list[str],
    specs: dict[str, SlotHint],
    asked: list[str],
    tokens: Sequence[Token] = (),
) -> dict[str, str]:
    """Share the values of one kind between the slots of that kind: the asked slot takes the last;
    otherwise a `pick = "earlier"` slot takes the first of two and the other slot the last."""
    if not mentions or not slots:
        return {}
    earlier = [n for n in slots if specs[n].pick == "earlier"]
    later = [n for n in slots if specs[n].pick == "last"]
    # asked which visit, "the thursday one to thursday the tenth" answers and says where to, too
    answers_and_moves = len(mentions) >= 2 and bool(later) and any(n in earlier for n in asked)
    for name in asked:
        if name in slots and not answers_and_moves:
            return {name: mentions[-1].value}
    out = {}
    booked = next((m for m in mentions if _names_the_booked_one(m, tokens)), None) if tokens else None
    if earlier and booked is not None:  # "the one on the fifteenth ... if she's seen tomorrow"
        others = [m for m in mentions if m is not booked]
        if later and others:
            out[later[0]] = others[-1].value
        return {earlier[0]: booked.value, **out}
    if earlier and later:
        if len(mentions) >= 2:
            out[earlier[0]] = mentions[0].value
        out[later[0]] = mentions[-1].value
    else:
        out[(later or earlier)[0]] = mentions[-1].value
    return out


_DIGIT_LEAD_INS = frozenset("is number ticket id it's was e".split())  # "ticket one four five two"


def _number(
    text: str, tokens: list[Token], spec: SlotHint, dates: list[Mention], *, bare: bool = True
) -> str | None:
    length = spec.length or 0
    if spec.prefix:
        compact = re.findall(rf"\b{re.escape(spec.prefix)}\s?-?(\d{{{length}}})\b", text, flags=re.IGNORECASE)
        if compact:
            return spec.prefix.upper() + compact[-1]
    # unasked, an id's digits need its letter or "id" before them: "four six one one" is a ticket, not E4611;
    # and digits after a letter are that letter's id ("E one oh four two"), never a plain number
    cues = {spec.prefix.lower(), "id"} if spec.prefix and not bare else None
    runs = []
    for digits, start, end in digit_strings(text):
        # "the Excel add-in one, four six two seven": a "one" that stands for a thing is no digit
        if len(digits) == length + 1 and digits[0] == "1" and start < len(tokens):
            if tokens[start].text == "one" and start > 0 and tokens[start - 1].text not in _DIGIT_LEAD_INS:
                digits, start = digits[1:], start + 1
        runs.append((digits, start, end))
    found = [
        digits
        for digits, start, end in runs
        if len(digits) == length
        and not any(m.start < end and start < m.end for m in dates)
        and (cues is None or any(t.text in cues for t in tokens[max(0, start - 2) : start]))
        and (spec.prefix or start == 0 or not _is_letter(tokens[start - 1]))
    ]
    if not found:
        return None
    return spec.prefix.upper() + found[-1] if spec.prefix else found[-1]


def _is_letter(token: Token) -> bool:
    return len(token.text) == 1 and token.text.isalpha() and token.text not in {"a", "i"}


def _text(heard: Heard, spec: SlotHint, *, bare: bool) -> str | None:
    """The clause that describes the problem ("my laptop won't turn on"), cleaned for a record."""
    clauses = [c.strip() for c in re.split(r"[.,;!?]+|\s(?:and|but)\s", heard.text) if c.strip()]
    if spec.keywords:
        keyed = [c for c in clauses if phrase_matches(tokenize(c), {"k": spec.keywords})]
        if keyed:
            clauses = keyed[:1]
        elif not bare and heard.intent is None:
            return None
    elif not bare and heard.intent is None:
        return None
    words = [w for w in " ".join(clauses).split() if w.lower().strip(",") not in _FILLERS | {"hi", "hello"}]
    if heard.acts & {"yes", "no", "thanks", "goodbye"} and len(words) <= 4:
        return None  # "yes go ahead" answers the question; it describes no problem
        return None
    sentence = " ".join(words)[:200]
    return sentence[0].upper() + sentence[1:]


_AROUND_A_BARE_TIME = set(
    "at um uh please how about what maybe say ok okay let's make it that then the yes yeah actually instead"
    " would be fine works is good sorry no can i do come in could get take i'll i'd like have me one perfect"
    " great".split()
)


def _stands_alone(mention: Mention, tokens: list[Token]) -> bool:
    """ "ten thirty" said on its own (or with "how about ... please") is a time, not a number."""
    rest = tokens[: mention.start] + tokens[mention.end :]
    return all(t.text in _AROUND_A_BARE_TIME for t in rest)


_TIME_BOUNDS = {"before", "after", "until", "till", "by"}  # "before ten" limits the time; it is not one
_TIME_CUES_FOR_A_SLOT = TIME_CUES | {"like"}  # "can we move it, like three": only where a time is wanted


def _beside_a_date(mention: Mention, dates: Sequence[Mention]) -> bool:
    """ "eight thirty on thursday": hours and minutes right next to a date are its time ("the one on the
    ninth" is not)."""
    if mention.end - mention.start < 2:
        return False
    return any(0 <= d.start - mention.end <= 1 or 0 <= mention.start - d.end <= 1 for d in dates)


def _cued_time(mention: Mention, tokens: list[Token], hints: OfflineHints) -> bool:
    """A mention that also parses without `bare_ok` (it has am/pm, o'clock, "at"...)."""
    strict = find_times(tokens[mention.start : mention.end], pm_below_hour=hints.pm_below_hour)
    before = mention.start > 0 and tokens[mention.start - 1].text in _TIME_CUES_FOR_A_SLOT
    return bool(strict) or before


def _overlaps(mention: Mention, others: list[Mention]) -> bool:
    return any(mention.start < o.end and o.start < mention.end for o in others)


def _plausible_birth_year(iso: str) -> str:
    """ "nineteen fourteen" for a living caller's birth year is "nineteen forty" misheard (a recognizer
    confuses -teen and -ty): 1913 to 1919 become 1930 to 1990."""
    year = int(iso[:4])
    return f"19{year - 1910}0{iso[4:]}" if 1913 <= year <= 1919 else iso


def _year_ago(today: dt.date) -> str:
    return (today - dt.timedelta(days=365)).isoformat()
