"""Pronunciations for a recogniser vocabulary: the CMU dictionary, plus guesses for compounds and acronyms.

It reads a dictionary file and answers look-ups; it never loads a decoder and never invents a pronunciation
for a word it cannot build from dictionary parts (such words are reported, not guessed).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

_VOWELS = set("aeiouy")
_MIN_COMPOUND_PART = 3  # "helpdesk" = help + desk; shorter parts make nonsense splits ("a" + "ward")
_MAX_ACRONYM_LETTERS = 5


class Lexicon:
    """Head words of a CMU-format dictionary with their first pronunciation.

    Lines look like `saturday S AE T ER D IY`, alternates as `saturday(2) ...`; only the first variant of
    each word is kept because it is only used to assemble pronunciations of new words.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._phones: dict[str, str] = {}
        try:
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    head, _, phones = line.strip().partition(" ")
                    if phones and "(" not in head:
                        self._phones.setdefault(head, phones.strip())
        except OSError as exc:
            raise FileNotFoundError(f"lexicon: cannot read pronunciation dictionary {path}: {exc}") from exc
        if not self._phones:
            raise ValueError(f"lexicon: {path} holds no pronunciations")

    def __contains__(self, word: object) -> bool:
        return word in self._phones

    def __len__(self) -> int:
        return len(self._phones)

    def phones(self, word: str) -> str | None:
        """The dictionary pronunciation of `word`, or None."""
        return self._phones.get(word)

    def guess(self, word: str) -> str | None:
        """A pronunciation assembled from dictionary parts, for a word the dictionary lacks.

        Two cases are safe enough to automate: a closed compound of two known words ("helpdesk",
        "brightwater") and a short acronym read letter by letter ("vpn", "sso"). Anything else returns None.
        """
        if word in self._phones or not word.isalpha():
            return None
        compound = self._compound(word)
        if compound is not None:
            return compound
        if len(word) <= _MAX_ACRONYM_LETTERS and not (_VOWELS & set(word[1:])):
            letters = [self._phones.get(letter) for letter in word]
            if all(letters):
                return " ".join(p for p in letters if p)
        return None

    def _compound(self, word: str) -> str | None:
        # Prefer the split with the longest first part: "passwordreset" -> password + reset.
        for cut in range(len(word) - _MIN_COMPOUND_PART, _MIN_COMPOUND_PART - 1, -1):
            head, tail = self._phones.get(word[:cut]), self._phones.get(word[cut:])
            if head and tail:
                return f"{head} {tail}"
        return None

    def resolve(self, words: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """Split `words` into new pronunciations (word -> phones) and words that stay unknown.

        Words already in the dictionary appear in neither result.
        """
        added: dict[str, str] = {}
        unknown: list[str] = []
        for word in sorted(set(words)):
            if word in self._phones:
                continue
            guessed = self.guess(word)
            if guessed is None:
                unknown.append(word)
            else:
                added[word] = guessed
        return added, unknown
