"""Self-corrections inside one utterance: "the fifth no sorry the sixth", "not tuesday, wednesday".

Given the values found in an utterance, drop the ones the speaker took back; it never invents a value.
"""

from __future__ import annotations

from voicerouter.providers.offline.nlp.words import Mention, Token

MARKERS = (
    ("no", "sorry"),
    ("no", "wait"),
    ("or", "rather"),
    ("i", "mean"),
    ("scratch", "that"),
    ("make", "that"),
    ("make", "it"),
    ("sorry",),
    ("actually",),
    ("rather",),
    ("correction",),
    ("wait",),
    ("no",),
    ("instead",),
)
NEGATIONS = ("not",)
# "has no sound", "there's no signal": after these words "no" is a determiner, not a correction
_BEFORE_A_DETERMINER_NO = frozenset(
    "has have had with there's is are was were get gets getting got shows says hear hearing".split()
)


def _markers_by_first_word() -> dict[str, list[tuple[str, ...]]]:
    """Each marker under its first word, in MARKERS order, so the first marker that matches still wins."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for marker in MARKERS:
        index.setdefault(marker[0], []).append(marker)
    return index


_MARKERS_BY_FIRST_WORD = _markers_by_first_word()


def correction_points(tokens: list[Token]) -> list[tuple[int, int]]:
    """(start, end) token spans of the correction markers, in order."""
    words = [t.text for t in tokens]
    points = []
    i = 0
    while i < len(words):
        for marker in _MARKERS_BY_FIRST_WORD.get(words[i], ()):
            if tuple(words[i : i + len(marker)]) == marker:
                if marker == ("no",) and i > 0 and words[i - 1] in _BEFORE_A_DETERMINER_NO:
                    continue
                points.append((i, i + len(marker)))
                i += len(marker)
                break
        else:
            i += 1
    return points


def drop_corrected(mentions: list[Mention], tokens: list[Token]) -> list[Mention]:
    """The mentions the speaker still stands by: a value followed by a marker and a new value of the same
    kind is replaced by the new one; a value right after "not" is rejected."""
    dropped: set[int] = set()
    for k, mention in enumerate(mentions):
        before = mention.start - 1
        if before >= 0 and tokens[before].text == "the":
            before -= 1
        if before >= 0 and tokens[before].text in NEGATIONS:
            dropped.add(k)
    for start, end in correction_points(tokens):
        later = [m for m in mentions if m.start >= end]
        for kind in {m.kind for m in later}:
            earlier = [k for k, m in enumerate(mentions) if m.kind == kind and m.end <= start]
            if earlier:
                dropped.add(earlier[-1])
    return [m for k, m in enumerate(mentions) if k not in dropped]
