"""Tokens and number words of every reader of caller text, held to a snapshot taken before one lexicon.

The router's tier classifier was trained on `normalize_tokens` output: one moved token silently skews routing.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

import voicerouter.lexicon as lexicon_package
from voicerouter.audio import turn_cues
from voicerouter.audio.settings import EndpointConfig
from voicerouter.lexicon.numbers import number_words, ordinal_words
from voicerouter.lexicon.tokens import Tokenizer
from voicerouter.providers.offline.nlp import normalize_digits, words
from voicerouter.providers.speech import spoken
from voicerouter.router import lexicon as router_lexicon
from voicerouter.router.features import normalize_tokens

SNAPSHOT = Path(__file__).parent / "data" / "token_snapshot.jsonl"  # scripts/token_snapshot.py --fixture


def _snapshot() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in SNAPSHOT.read_text(encoding="utf-8").splitlines()]
    return lines[0]["tables"], lines[1:]


def _turn_cue(text: str) -> list[str]:
    cue = turn_cues.classify_turn_text(text, EndpointConfig())
    return [cue.kind, cue.reason]


TABLES, CASES = _snapshot()
READERS = {
    "normalize_tokens": normalize_tokens,
    "turn_cue_tokens": turn_cues.tokenize,
    "turn_cue": _turn_cue,
    "offline_tokens": lambda text: [t.raw for t in words.tokenize(text)],
    "spoken_words": spoken.spoken_words,
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_gives_the_snapshot_tokens_for_every_tricky_text(reader: str) -> None:
    read = READERS[reader]
    moved = [(c["text"], c[reader], got) for c in CASES if (got := read(c["text"])) != c[reader]]
    assert not moved, f"{reader}: {len(moved)} of {len(CASES)} texts changed, first: {moved[:3]}"


def test_offline_tokens_are_lower_cased_and_numbered_in_order() -> None:
    for case in CASES:
        tokens = words.tokenize(case["text"])
        assert [(t.text, t.index) for t in tokens] == [(t.raw.lower(), i) for i, t in enumerate(tokens)]


def test_the_number_word_sets_the_classifier_weights_were_trained_with_are_unchanged() -> None:
    assert sorted(router_lexicon.NUMBER_WORDS) == TABLES["router.NUMBER_WORDS"]
    assert sorted(router_lexicon.ORDINALS) == TABLES["router.ORDINALS"]
    assert sorted(turn_cues.NUMBER_WORDS) == TABLES["turn_cues.NUMBER_WORDS"]
    assert sorted(words.ZERO_WORDS) == TABLES["nlp.ZERO_WORDS"]


def test_the_lexicon_imports_nothing_of_voicerouter_outside_itself() -> None:
    package = Path(lexicon_package.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith("voicerouter") or name.startswith("voicerouter.lexicon"), (
                    f"{path.name} imports {name}: the lexicon sits below everything that uses it"
                )


def test_every_number_the_speech_side_writes_out_the_parser_reads_back() -> None:
    misread = [v for v in range(20_000) if normalize_digits(number_words(v)) != str(v)]
    assert not misread, [(v, number_words(v), normalize_digits(number_words(v))) for v in misread[:5]]


def test_every_day_of_the_month_said_as_an_ordinal_is_read_back() -> None:
    for day in range(1, 32):
        assert words.ordinal_at(words.tokenize(ordinal_words(day)), 0) == (
            day,
            len(ordinal_words(day).split()),
        )


def test_a_token_pattern_with_a_capturing_group_is_refused_where_it_is_built() -> None:
    with pytest.raises(ValueError, match="capturing groups"):
        Tokenizer(re.compile(r"(\w+)"))
