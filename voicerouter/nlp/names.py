"""Person names in spoken requests: "my name is john smith", "it's Jon S M Y T H", a bare "Maria Garcia".

Names come only from the caller's words (after a cue, or as the answer to "what's your name?"); nothing here
looks a name up or guesses one.
"""

from __future__ import annotations

from voicerouter.nlp.corrections import correction_points
from voicerouter.nlp.words import (
    Mention,
    Token,
    capitalize_name,
    is_number_word,
    spelled_runs,
    tokenize,
)

STRONG_CUES = (
    ("my", "name", "is"),
    ("name", "is"),
    ("name's",),
    ("names",),
    ("named",),
    ("called",),
    ("this", "is"),
    ("patient",),
    ("employee",),
)
WEAK_CUES = (("it's",), ("it", "is"), ("i'm",), ("i", "am"), ("for",), ("under",), ("me",))
FILLERS = frozenset(
    "alright er erm hello hey hi hmm oh ok okay please right so sorry sure thank thanks uh um well "
    "yeah yep yes you".split()
)
STOPWORDS = frozenset(
    "a about actually afraid after afternoon again ah all also am an and any anyone anyway "
    "appointment appointments april are around as asap ask asking at august baby back be because been "
    "before birth book booking born broken but by bye call called calling can can't cancel change "
    "check child clinic concerning correct could couldn't dad date daughter december definitely desk "
    "did didn't do doctor does doesn't don't done down dr each earlier early email employee er "
    "evening ever every everyone existing father february fine first for friday from full get glad "
    "going good goodbye got great had half happy has have having he he'd he's hello help her here "
    "here's hey hi his hmm hold home hoping how husband i i'd i'll i'm i've id if in instead is isn't "
    "issue issues it it's its january july june just kid know laptop last late later less let's like "
    "locked looking make many march may maybe me mean meant might mine mom monday more morning mother "
    "move much must my myself name need needed never new next no none noon not november now number "
    "nurse o'clock october of off office oh ok okay on one ones only or our out over password past "
    "patient perhaps phone please pm probably problem problems quarter question quite rather ready "
    "really regarding reschedule right saturday see self september shall she she'd she's should since "
    "slow so some somebody someone son soon sorry speak spell spelled still stuck sunday sure surname "
    "talk tell thank thanks that that's the their then there there's these they they'd they're this "
    "those though thursday ticket till to today tomorrow tonight too trouble trying tuesday uh um "
    "until up urgent us very visit wait want wanted was we we'd we're wednesday week well were what "
    "what's when where which who who's why wife will with won't wondering work working would wrong "
    "yeah yes you you're your".split()
)
_MAX_NAME_WORDS = 4


def find_names(text: str | list[Token], *, bare: bool = False) -> list[Mention]:
    """Names said after a cue ("my name is ..."), or, with `bare`, the utterance read as an answer to
    "what is your name?". Letters spelled one by one become a word and correct the word before them."""
    tokens = _merge_spelled(tokenize(text) if isinstance(text, str) else text)
    cased = any(t.raw != t.raw.lower() for t in tokens)
    found: list[Mention] = []
    i = 0
    while i < len(tokens):
        cue = _cue_at(tokens, i)
        if cue is None:
            i += 1
            continue
        end_cue, strong = cue
        span = _name_span(tokens, end_cue)
        needs_capitals = cased and not strong
        if span and (strong or len(span) >= 2) and not (needs_capitals and not span[0].raw[:1].isupper()):
            found.append(_mention(span))
            i = span[-1].index + 1
        else:
            i = end_cue
    if bare and not found:
        for start in [0, *(end for _, end in correction_points(tokens))]:
            while start < len(tokens) and tokens[start].text in FILLERS:
                start += 1
            cue = _cue_at(tokens, start)
            span = _name_span(tokens, cue[0] if cue else start)
            if span and not any(m.start == span[0].index for m in found):
                found.append(_mention(span))
    return found


def spoken_name(text: str) -> str | None:
    """The name in a short answer such as "it's jon s m y t h", canonically capitalized, or None."""
    found = find_names(text, bare=True)
    return found[-1].value if found else None


def _cue_at(tokens: list[Token], i: int) -> tuple[int, bool] | None:
    for cues, strong in ((STRONG_CUES, True), (WEAK_CUES, False)):
        for cue in cues:
            if tuple(t.text for t in tokens[i : i + len(cue)]) == cue:
                return i + len(cue), strong
    return None


def _name_span(tokens: list[Token], start: int) -> list[Token]:
    span: list[Token] = []
    k = start
    while k < len(tokens) and len(span) < _MAX_NAME_WORDS:
        word = tokens[k].text
        if (
            word in STOPWORDS
            or is_number_word(word)
            or not word.replace("'", "").replace("-", "").isalpha()
            or len(word) < 2
        ):
            break
        span.append(tokens[k])
        k += 1
    return span


def _mention(span: list[Token]) -> Mention:
    value = " ".join(capitalize_name(t.raw) for t in span)
    return Mention("name", value, span[0].index, span[-1].index + 1)


def _merge_spelled(tokens: list[Token]) -> list[Token]:
    """Replace each spelled run by one word; a run spelling the word just before it replaces that word."""
    runs = spelled_runs(tokens)
    if not runs:
        return tokens
    merged: list[Token] = []
    cursor = 0
    for letters, start, end in runs:
        merged.extend(tokens[cursor:start])
        if merged and merged[-1].text[:1] == letters[0] and merged[-1].text not in STOPWORDS:
            merged.pop()  # "smyth s m y t h": the spelling wins over what the recognizer heard
        merged.append(Token(text=letters, raw=letters, index=0))
        cursor = end
    merged.extend(tokens[cursor:])
    return [Token(text=t.text, raw=t.raw, index=i) for i, t in enumerate(merged)]
