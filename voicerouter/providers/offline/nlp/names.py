"""Person names in spoken requests: "my name is john smith", "it's Jon S M Y T H", a bare "Maria Garcia".

Names come only from the caller's words (after a cue, or as the answer to "what's your name?"); nothing here
looks a name up. A word of a name in lower case (as a recogniser writes) that is no known name is put back to
the known name it sounds like (`heard_names`).
"""

from __future__ import annotations

from dataclasses import replace
from difflib import SequenceMatcher

from voicerouter.providers.offline.nlp.corrections import correction_points
from voicerouter.providers.offline.nlp.heard_names import mend_name
from voicerouter.providers.offline.nlp.name_tagger import name_tagger
from voicerouter.providers.offline.nlp.words import (
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
WEAK_CUES = (
    ("it's",), ("it", "is"), ("i'm",), ("i", "am"), ("for",), ("under",), ("me",), ("name",),
    ("son",), ("daughter",), ("husband",), ("wife",), ("mother",), ("father",), ("mom",), ("dad",),
    ("grandmother",), ("grandfather",), ("grandma",), ("grandpa",),
)
FILLERS = frozenset(
    "alright er erm hello hey hi hmm oh ok okay please right so sorry sure thank thanks uh um well "
    "yeah yep yes you there morning good afternoon evening".split()
)
STOPWORDS = frozenset(
    "a about actually afraid after afternoon again ah all already also am an and any anyone anyway "
    "appointment appointments april are around as asap ask asking at august baby back be because been "
    "before birth blocking book booking born broken but by bye call called calling can can't cancel change "
    "check child clinic concerning correct could couldn't dad date daughter december definitely desk "
    "did didn't do doctor does doesn't don't done down dr each earlier early email employee er "
    "evening ever every everyone existing father february fine first for friday from full get glad "
    "going gone good goodbye got great had half happening happy has have having he he'd he's hello help "
    "her here here's hey hi his hmm hold home hoping how husband i i'd i'll i'm i've id if in instead "
    "is isn't issue issues it it's its january july june just kid know laptop last late later less let's "
    "like locked looking make many march may maybe me mean meant might mine mom monday more morning mother "
    "move much must my myself name need needed never new next no none noon not november now number "
    "nurse o'clock october of off office oh ok okay on one ones only or our out over password past "
    "patient perhaps phone please pm probably problem problems quarter question quite rather read ready "
    "really regarding reschedule right saturday see self september shall she she'd she's should since "
    "slow so some somebody someone son soon sorry speak spell spelled still stuck sunday sure surname "
    "talk tell thank thanks that that's the their then there there's these they they'd they're this "
    "those though thursday ticket till to today tomorrow tonight too trouble trying tuesday uh um "
    "until up urgent us very visit wait want wanted was we we'd we're wednesday week well were what "
    "what's when where which who who's why wife will with won't wondering work working would wrong "
    "yeah yes you you're your".split()
) | frozenset(  # departments said after a name: "Amara Nwosu, operations"
    "accounting accounts department engineering finance hr legal marketing operations sales team "
    "warehouse".split()
)
_MAX_NAME_WORDS = 4
_SAID_ABOUT_A_WORD = frozenset("without with like as is spelled spelt no not".split())
_BETWEEN_WORD_AND_SPELLING = frozenset(
    "that's thats that is it's its spelled spelt like um uh er with a an as".split()
)


def _cues_by_first_word() -> dict[str, list[tuple[tuple[str, ...], bool]]]:
    """Each cue under its first word, strong cues first: a position tries only the cues that start there."""
    index: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
    for cues, strong in ((STRONG_CUES, True), (WEAK_CUES, False)):
        for cue in cues:
            index.setdefault(cue[0], []).append((cue, strong))
    return index


_CUES_BY_FIRST_WORD = _cues_by_first_word()


def find_names(text: str | list[Token], *, bare: bool = False) -> list[Mention]:
    """Names said after a cue ("my name is ..."), or, with `bare`, the utterance read as an answer to
    "what is your name?". Letters spelled one by one become a word and correct the word before them.
    In lower case, as a recogniser writes, a name word that is no known name is put back to the known
    name it sounds like ("maria gardea" is Maria Garcia)."""
    heard = tokenize(text) if isinstance(text, str) else text
    cased = _written_in_case(heard)
    found = _find_names(heard, cased, bare=bare)
    return found if cased else [_mended(m) for m in found]


def _mended(mention: Mention) -> Mention:
    said = mention.value.lower().split()
    mended = mend_name(said)
    if mended == said:
        return mention
    return replace(mention, value=" ".join(capitalize_name(w) for w in mended))


def _find_names(heard: list[Token], cased: bool, *, bare: bool) -> list[Mention]:
    tokens = _merge_spelled(heard)
    found: list[Mention] = []
    i = 0
    while i < len(tokens):
        cue = _cue_at(tokens, i)
        if cue is None:
            i += 1
            continue
        end_cue, strong = cue
        span = _name_span(tokens, _skip_hesitations(tokens, end_cue))  # "my name is uh Sophie Laurent"
        needs_capitals = cased and not strong
        if span and (strong or len(span) >= 2) and not (needs_capitals and not span[0].raw[:1].isupper()):
            found.append(_mention(span))
            i = span[-1].index + 1
        else:
            i = end_cue
    if found:  # "this is Ben, sorry, Benjamin Cohen": a name after a correction replaces the one before
        for _, end in correction_points(tokens):
            if end > found[0].start:
                span = _name_span(tokens, _skip_fillers(tokens, end))
                if len(span) >= 2 and not (cased and not span[0].raw[:1].isupper()):
                    found.append(_mention(span))
    tagger = name_tagger()
    if tagger is not None and not found:  # lower case, as a recognizer writes: the trained tagger reads it
        words = [t.text for t in tokens]
        tagged = [
            _mention(tokens[a:b], tagged=True)
            for a, b in tagger.spans(words)
            if _plausible(tokens[a:b], tokens[a - 1].text if a else "", tagger.known)
            # in written text, a name the tagger finds is also capitalized ("move Ibrahim Diallo's visit")
            and (not cased or all(_capitalized(t) for t in tokens[a:b]))
        ]
        if not cased:
            found = tagged
            if found or not bare or (len(tokens) > 3 and not spelled_runs(heard)):
                return found  # else a short answer, or a spelling: read it as the name asked for
        elif any(len(m.value.split()) >= 2 for m in tagged):
            return [m for m in tagged if len(m.value.split()) >= 2]
    if bare and not found:
        for start in [0, *(end for _, end in correction_points(tokens))]:
            start = _skip_fillers(tokens, start)
            cue = _cue_at(tokens, start)
            span = _name_span(tokens, cue[0] if cue else start)
            if span and not any(m.start == span[0].index for m in found):
                found.append(_mention(span))
    if not found and cased:  # "Thomas Andersen is my name", "Grace Kim here": a cue after the name
        for start in range(len(tokens)):
            span = _name_span(tokens, start)
            after = tuple(t.text for t in tokens[start + len(span) : start + len(span) + 3])
            if len(span) >= 2 and all(_capitalized(t) for t in span) and _cue_after(after):
                found.append(_mention(span))
                break
    if not found and cased:  # "Hi, Daniel Wojcik, I need...", "Daniel, sorry, Daniel Okafor", or an answer
        # such as "the older one is Grace Liu"
        points = [_skip_fillers(tokens, end) for _, end in correction_points(tokens)]
        for start in range(len(tokens)) if bare else [_skip_fillers(tokens, 0), *points]:
            span = _name_span(tokens, start)
            if len(span) >= 2 and all(t.raw[:1].isupper() for t in span):
                found.append(_mention(span))
                if bare:
                    break
    return found


def _written_in_case(tokens: list[Token]) -> bool:
    """Whether capitals in the text carry meaning: a capital beyond spelled letters and the word "I"
    ("hi it's marcus bell, I've had a cough" is lower case with the pronoun written as usual)."""
    return any(
        t.raw != t.raw.lower() and t.text != "i" and not t.text.startswith("i'")
        for t in tokens
        if len(t.raw) > 1
    )


_DETERMINERS = frozenset("my the a an your our their his her its some any old new".split())


def _plausible(span: list[Token], before: str, known: frozenset[str]) -> bool:
    """A tagged name is no stopword or number, follows no determiner ("my old badge") and has a word
    that is not a common word ("conference room" is none)."""
    if before in _DETERMINERS or not any(t.text not in known for t in span):
        return False
    return all(t.text not in STOPWORDS and not is_number_word(t.text) and len(t.text) > 1 for t in span)


_CUES_AFTER = (("is", "my", "name"), ("here",), ("speaking",), ("calling",))


def _cue_after(words: tuple[str, ...]) -> bool:
    return any(words[: len(cue)] == cue for cue in _CUES_AFTER)


_HESITATIONS = frozenset("uh um er erm uhm ah".split())


def _skip_hesitations(tokens: list[Token], start: int) -> int:
    while start < len(tokens) and tokens[start].text in _HESITATIONS:
        start += 1
    return start


def _skip_fillers(tokens: list[Token], start: int) -> int:
    while start < len(tokens) and tokens[start].text in FILLERS:
        start += 1
    return start


def spoken_name(text: str) -> str | None:
    """The name in a short answer such as "it's jon s m y t h", canonically capitalized, or None."""
    found = find_names(text, bare=True)
    return found[-1].value if found else None


def _cue_at(tokens: list[Token], i: int) -> tuple[int, bool] | None:
    if i >= len(tokens):
        return None
    for cue, strong in _CUES_BY_FIRST_WORD.get(tokens[i].text, ()):
        if tuple(t.text for t in tokens[i : i + len(cue)]) == cue:
            return i + len(cue), strong
    return None


def _name_span(tokens: list[Token], start: int) -> list[Token]:
    """The name words from `start`. In written (cased) text a capitalized name ends at the first word in
    lower case: "I'm Wei Zhang, data engineering" names Wei Zhang, not "Wei Zhang Data"."""
    span: list[Token] = []
    k = start
    while k < len(tokens) and len(span) < _MAX_NAME_WORDS:
        word = tokens[k].text
        if (
            word in STOPWORDS
            or is_number_word(word)
            or not word.replace("'", "").replace("-", "").isalpha()
            or len(word) < 2
            or (span and _capitalized(span[0]) and not _capitalized(tokens[k]))
            or (span and not _capitalized(tokens[k]) and word in _common_words())  # "costa, people always"
        ):
            break
        if span and word == span[-1].text:  # "grace grace kim": a word said twice is one word
            k += 1
            continue
        if len(span) >= 2 and word == span[0].text:
            if k + 1 < len(tokens) and tokens[k + 1].text in _SAID_ABOUT_A_WORD:
                break  # "Jon Park, Jon without the H": the first name again, to say how it is written
            span = span[1:]  # "Park, Jon Park": the surname first, then the whole name
        span.append(tokens[k])
        k += 1
        if word.endswith("'s"):  # "olivia harris's appointment": the name ends with its possessive
            break
    return span


def _common_words() -> frozenset[str]:
    """Words the name tagger learnt as no part of a name; a lower-case name ends before one."""
    tagger = name_tagger()
    return tagger.known if tagger is not None else frozenset()


def _capitalized(token: Token) -> bool:
    return token.raw[:1].isupper()


def _mention(span: list[Token], *, tagged: bool = False) -> Mention:
    words = [t.raw for t in span if not t.raw.lower().endswith("'s")] + [
        t.raw[:-2] for t in span[-1:] if t.raw.lower().endswith("'s")  # "Jon Park's": Jon Park
    ]
    value = " ".join(capitalize_name(w) for w in words)
    return Mention("name", value, span[0].index, span[-1].index + 1, frozenset({"tagged"} if tagged else ()))


def _merge_spelled(tokens: list[Token]) -> list[Token]:
    """Replace each spelled run by one word; a run spelling the word just before it replaces that word."""
    runs = spelled_runs(tokens)
    if not runs:
        return tokens
    merged: list[Token] = []
    cursor = 0
    for letters, start, end in runs:
        merged.extend(tokens[cursor:start])
        spelt = Token(text=letters, raw=letters.capitalize(), index=0)
        # "smyth s m y t h", "Smith, that's S M Y T H", "Aisha Rahman, A I S H A": the spelling replaces
        # the word it spells, which wins over what the recognizer heard
        spells = None
        for back in range(len(merged) - 1, max(-1, len(merged) - 4), -1):
            word = merged[back].text
            name_like = word not in STOPWORDS and word.replace("'", "").replace("-", "").isalpha()
            if name_like and (word[:1] == letters[0] or _misheard_spelling(letters, word)):
                spells = back
                break
            if not (name_like or word in _BETWEEN_WORD_AND_SPELLING):
                break
        if spells is None:
            merged.append(spelt)
        elif not _letters_lost(letters, merged[spells].text) and not _misheard_spelling(
            letters, merged[spells].text
        ):
            merged[spells] = spelt  # else "mcdonald, m o a l d": the recognizer lost letters, keep the word
        cursor = end
    merged.extend(tokens[cursor:])
    return [Token(text=t.text, raw=t.raw, index=i) for i, t in enumerate(merged)]


def _letters_lost(letters: str, word: str) -> bool:
    """Whether a spelling is the word with letters missing (a recognizer drops some), not a new spelling."""
    if len(letters) >= len(word):
        return False
    rest = iter(word)
    return all(letter in rest for letter in letters)


def _misheard_spelling(letters: str, word: str) -> bool:
    """ "lindqvist, s i n d v i s t": a spelling of the word before with its first letter misheard."""
    return len(word) >= 4 and letters[:1] != word[:1] and SequenceMatcher(None, letters, word).ratio() >= 0.75
