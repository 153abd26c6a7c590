"""Continuing an answer another model started: the next model's text is joined to what the caller already
heard so that the caller hears one answer, without the words heard being said again.

Pure text functions over words (case, punctuation and spacing aside), shared by the engine and the offline
model; like the rest of the lexicon it imports nothing of voicerouter.
"""

from __future__ import annotations

import re
from typing import Literal

_WORD = re.compile(r"[\w']+")
_NO_SPACE_BEFORE = ".,;:!?)"

Echo = Literal["maybe", "echo", "new"]


def _words(text: str) -> list[str]:
    return [w.lower().strip("'") for w in _WORD.findall(text)]


def echo_of(heard: str, text: str) -> Echo:
    """Whether `text`, the start of a continuation, repeats `heard` from its beginning.

    "maybe": so far every word of `text` is the next word of `heard` (the last one possibly cut short): wait
    for more. "echo": `text` has said all of `heard` again (and may go on). "new": `text` went its own way.
    """
    said, new = _words(heard), _words(text)
    if not said:
        return "new"
    if not new:
        return "maybe"
    if len(new) >= len(said) and new[: len(said)] == said:
        return "echo" if len(new) > len(said) or not _ends_inside_word(text) else "maybe"
    if len(new) <= len(said) and new[:-1] == said[: len(new) - 1]:
        last = new[-1]
        if last == said[len(new) - 1] or (_ends_inside_word(text) and said[len(new) - 1].startswith(last)):
            return "maybe"
    return "new"


def _ends_inside_word(text: str) -> bool:
    return bool(text) and (text[-1].isalnum() or text[-1] == "'")


def after_echo(heard: str, text: str) -> str:
    """`text` without its leading repetition of `heard` (the whole of `text` when it repeats nothing)."""
    count = len(_words(heard))
    matches = list(_WORD.finditer(text))
    if count == 0 or len(matches) < count or _words(text)[:count] != _words(heard):
        return text
    rest = text[matches[count - 1].end() :]
    heard_tail = heard[list(_WORD.finditer(heard))[-1].end() :].strip()  # e.g. the comma after its last word
    if heard_tail and rest.lstrip().startswith(heard_tail):
        rest = rest.lstrip()[len(heard_tail) :]
    return rest


def join(spoken: str, text: str) -> str:
    """`text` as it should follow `spoken`: a space between words, none before punctuation."""
    if not spoken or not text or spoken[-1].isspace() or text[0].isspace() or text[0] in _NO_SPACE_BEFORE:
        return text
    return " " + text


def continue_from(heard: str, answer: str) -> str:
    """The rest of a whole `answer` after the part of it the caller already `heard` (a deterministic model
    regenerating the same answer); the whole answer when it does not start with what was heard."""
    return after_echo(heard, answer).lstrip() if echo_of(heard, answer) == "echo" else answer
