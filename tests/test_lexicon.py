"""Tokens and number words of every reader of caller text, held to a snapshot taken before one lexicon.

The router's tier classifier was trained on `normalize_tokens` output: one moved token silently skews routing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voicerouter.audio import turn_cues
from voicerouter.audio.settings import EndpointConfig
from voicerouter.providers.offline.nlp import words
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
