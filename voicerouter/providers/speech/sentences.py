"""Agent text cut into sentences for speech synthesis, so the first one can play while the rest is made.

Pure text: it never changes the words, only where the text is cut (titles like "Dr." never end a sentence).
"""

from __future__ import annotations

import re

# Abbreviations that end with a dot but not a sentence, as written in agent replies and the bundled data.
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "st", "prof", "jr", "sr", "vs", "etc", "e.g", "i.e", "a.m", "p.m",
                  "no", "ave", "ext", "approx", "apt", "dept"}  # fmt: skip
_END = re.compile(r"([.!?…]+[\"')\]]*)\s+")
_BREAK = re.compile(r"\n\s*\n|\n(?=\s*[-*•]\s)")
_CUT = "\x00"
_CLAUSE = re.compile(r"(?<=[,;:])\s+")
MAX_SENTENCE_CHARS = 220  # longer sentences are cut at clause punctuation so audio starts sooner


def split_sentences(text: str, *, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Non-empty sentences of `text` in order; whitespace inside each is collapsed."""
    pieces: list[str] = []
    pending = ""
    marked = _BREAK.sub(_CUT, _END.sub(lambda m: m[1] + _CUT, text.replace(_CUT, " ")))
    for part in marked.split(_CUT):
        candidate = f"{pending} {part}".strip() if pending else part.strip()
        if not candidate:
            continue
        last_word = candidate.rsplit(None, 1)[-1].rstrip(".").lstrip("\"'(").lower()
        if candidate.endswith(".") and last_word in _ABBREVIATIONS:
            pending = candidate  # "Dr." is followed by a name, not a new sentence
            continue
        pending = ""
        pieces.extend(_cut_long(" ".join(candidate.split()), max_chars))
    if pending:
        pieces.extend(_cut_long(" ".join(pending.split()), max_chars))
    return pieces


def _cut_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    out: list[str] = []
    current = ""
    for clause in _CLAUSE.split(sentence):
        if current and len(current) + 1 + len(clause) > max_chars:
            out.append(current)
            current = clause
        else:
            current = f"{current} {clause}" if current else clause
    if current:
        out.append(current)
    return out
