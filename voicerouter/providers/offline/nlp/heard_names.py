"""A name word a recogniser misheard, put back: "emily janssen" -> Johnson, "maria gardea" -> Garcia.

A recogniser that does not know a name writes the nearest word it knows, usually one sound away ("janssen"
for Johnson, "farris" for Harris, "nguye" for Nguyen). A word of a heard name that is no known name is
replaced by the bundled records' name closest to it in spelling or in sound, when one is close enough and
no other is as close. Only a record's name is worth mending to: a lookup of any other name finds nothing
either way, and rewriting it into a common name changes what the caller said (measured: mending to common
names too cost 0.03 tool-argument accuracy on calls written apart from the model). One letter off a
record's name and sounding the same ("mensa", Mensah) it may be another person's spelling, and stays for
the lookup to find or refuse. Known names (../data/name_words.txt, written by
scripts/build_name_lexicon.py) are the bundled records' names and the commonest US first names and
surnames, so a common name said right stays as said. A first word is read against first names, a last
against surnames. Pure and deterministic; without the file nothing is mended.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

WORDS_PATH = Path(__file__).resolve().parents[1] / "data" / "name_words.txt"
_MIN_LENGTH = 4  # "dot", "kew": too short to tell a mishearing from a name


@lru_cache(maxsize=1)
def _lexicon(path: Path = WORDS_PATH) -> tuple[dict[str, dict[str, int]], frozenset[str]]:
    """role -> {word: rank (0 for the bundled records' names)}, and every known name word."""
    roles: dict[str, dict[str, int]] = {"first": {}, "last": {}, "person": {}}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return roles, frozenset()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        role, word, source = line.split("\t")
        roles[role][word] = 0 if source == "data" else int(source)
    return roles, frozenset(roles["first"]) | frozenset(roles["last"])


@lru_cache(maxsize=1)
def _people() -> dict[str, list[str]]:
    """surname -> the first names of the bundled records with it."""
    roles, _ = _lexicon()
    people: dict[str, list[str]] = {}
    for person in sorted(roles["person"]):
        first, _, last = person.partition(" ")
        people.setdefault(last, []).append(first)
    return people


def known_name(word: str) -> bool:
    """Whether `word` (lower case) is a known first name or surname."""
    return word in _lexicon()[1]


def sound_key(word: str) -> str:
    """A rough key of how a name sounds: consonant classes, vowels and silent letters dropped after the
    first letter ("johnson" and "janssen" are both JNSN)."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for written, said in (("ph", "f"), ("ck", "k"), ("gh", ""), ("sch", "sk"), ("sh", "s"), ("ch", "k"),
                          ("kn", "n"), ("wr", "r"), ("dg", "j"), ("tz", "s"), ("x", "ks")):  # fmt: skip
        w = w.replace(written, said)
    w = re.sub(r"c(?=[eiy])", "s", w)
    w = re.sub(r"g(?=[eiy])", "j", w)
    w = w.translate(str.maketrans("cqzv", "kksf"))
    if not w:
        return ""
    head = "a" if w[0] in "aeiouy" else w[0]
    rest = re.sub(r"[aeiouyhw]", "", w[1:])
    key = head + rest
    return re.sub(r"(.)\1+", r"\1", key).upper()


def _distance(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute, swap two neighbours)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _allowed(word: str) -> int:
    return 1 if len(word) < 6 else 2


_Entry = tuple[str, str, str, int]  # name, its letters, its sound key, its rank


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, list[_Entry]]]:
    """role -> bucket -> names: a name sits under its first letter and under its sound key past the first
    letter, so a word is compared only with names that start alike or sound alike after the start."""
    roles, _ = _lexicon()
    index: dict[str, dict[str, list[_Entry]]] = {}
    for role, pool in roles.items():
        if role == "person":
            continue
        buckets: dict[str, list[_Entry]] = {}
        for name, rank in sorted(pool.items()):
            bare = name.replace("'", "")
            key = sound_key(bare)
            entry = (name, bare, key, rank)
            buckets.setdefault("^" + bare[:1], []).append(entry)
            buckets.setdefault("~" + key[1:], []).append(entry)
        index[role] = buckets
    return index


@lru_cache(maxsize=4096)
def mend_word(word: str, role: str) -> str:
    """`word` (lower case) as the known name of `role` ("first", "last" or "any") it was misheard from,
    or `word` itself when it is a known name, too short, or nothing known is near enough."""
    _, known = _lexicon()
    plain = word.replace("'", "")
    if len(plain) < _MIN_LENGTH or word in known or plain in known or not plain.isalpha():
        return word
    key = sound_key(plain)
    index = _index()
    found: dict[str, tuple[bool, int, int, int]] = {}
    for pool in ("first", "last") if role == "any" else (role,):
        buckets = index.get(pool, {})
        near = [*buckets.get("^" + plain[:1], ()), *buckets.get("~" + key[1:], ())]
        for name, bare, name_key, rank in near:
            if abs(len(bare) - len(plain)) > 3 or name in found:
                continue
            letters = _distance(plain, bare)
            sounds = _distance(key, name_key)
            if rank == 0 and sounds == 0 and letters <= 1 and role != "first":
                return word  # "mensa" for Mensah: another spelling of the same sound may be another person
            if rank != 0:
                continue  # only a record's name is worth mending to; a common name no record has is not
            if letters <= _allowed(plain) or (sounds == 0 and len(plain) >= 6 and letters <= 4):
                # the bundled records' names first, then the nearest in sound, then the commonest
                found[name] = (rank != 0, sounds, rank, letters)
    if not found:
        return word
    ranked = sorted((score, name) for name, score in found.items())
    (best, name), rest = ranked[0], ranked[1:]
    if best[2] == 0 and any(s[:2] == best[:2] and s[3] == best[3] for s, _ in rest):
        return word  # two records' names as near: no telling which was said
    return name


def mend_name(words: list[str]) -> list[str]:
    """The words of a heard name (lower case), each put back to the known name it was misheard from. A
    first name that is no known name, said with a record's surname, is the record's first name it is near
    ("olivier harris" is Olivia Harris, "heichel smith" Michael Smith) when only one is."""
    if len(words) == 1:
        return [mend_word(words[0], "any")]
    end = len(words) - 1
    mended = [mend_word(w, "first" if i == 0 else "last" if i == end else "any") for i, w in enumerate(words)]
    if len(words) == 2:
        first, surname = words[0], mended[1]
        roles, known = _lexicon()
        records = _people().get(surname, [])
        whole = f"{mended[0]} {surname}"
        if records and len(first) >= _MIN_LENGTH and first not in known and whole not in roles["person"]:
            near = [r for r in records if _near_first(first, r)]
            if len(near) == 1:
                mended[0] = near[0]
    return mended


def _near_first(heard: str, name: str) -> bool:
    letters = _distance(heard, name)
    return letters <= _allowed(heard) or (letters <= 3 and _distance(sound_key(heard), sound_key(name)) <= 1)
