"""Compares how two versions of voicerouter tokenise and read every text of the data set, output by output.

A check for refactors of word-level code (tokenizers, number words, end-of-turn cues); it never edits files.

    python scripts/token_snapshot.py --against 625d845     # this tree against a commit
    python scripts/token_snapshot.py --dump OUT.json       # the outputs of whatever voicerouter is importable
    python scripts/token_snapshot.py --fixture OUT.json    # a small frozen sample for tests/test_lexicon.py

Texts: every utterance of the router's training data, every user transcript and agent line of sim/calls,
every string of sim/scenarios and sim/corpus, each also upper-cased, with typographic apostrophes and
hyphenated, and every word prefix of the user transcripts (partial transcripts for the end-of-turn cues).
The router's tier classifier was trained on `normalize_tokens`: a single changed token is a real regression.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 12, 1)

TRICKY = [
    "Why's it DOING that? Ticket 4591, o'connor",
    "I can't log in",
    "I’m José Müller-Lüdenscheid, it’s 9:30 a.m. on 2026-12-03",
    "won't shan't ain't y'all 'quoted' ''",
    "call 555-123-4567 or +1 (541) 555-0111 ext. 22",
    "my email is j.smith_2@gmail.com, or jane dot doe at example dot co dot uk",
    "S-M-I-T-H, Anne-Marie, forty-five, twenty-first, 3rd, 21st, 12/3, 3/12/84",
    "İstanbul Straße ŁÓDŹ naïve café ½ ٣ 1٣2 ¹²",
    "abc123def 4pm 4 p.m. 10:15AM p1001 E1042",
    "double five triple seven oh oh nine fourty two",
    "the thirty first of march, the first floor, nineteen oh five",
    "`backtick` ‘single’ “double” — dash – en",
    "hmm... so, um, and",
    "my number is 555 01",
    "alpha bravo x-ray j-o-h-n",
    "thank you so much!",
    "",
    "   ",
    "?",
    "'''",
    "----",
]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def data_texts() -> tuple[list[str], list[str]]:
    """(every text, the user transcripts of sim/calls) in a stable order."""
    import yaml

    texts: list[str] = []
    with (ROOT / "voicerouter/router/data/utterances.jsonl").open(encoding="utf-8") as handle:
        texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    transcripts: list[str] = []
    for path in sorted((ROOT / "sim/calls").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("type") == "user.transcript":
                transcripts.append(event["text"])
            elif event.get("type") == "agent.text":
                texts.append(event["text"])
    texts.extend(transcripts)
    for folder in ("sim/scenarios", "sim/corpus"):
        for path in sorted((ROOT / folder).glob("*.yaml")):
            texts.extend(_strings(yaml.safe_load(path.read_text(encoding="utf-8"))))
    return texts, transcripts


def all_texts() -> list[str]:
    texts, transcripts = data_texts()
    variants = [
        variant
        for text in texts + TRICKY
        for variant in (text, text.upper(), text.replace("'", "’"), text.replace(" ", "-"))
    ]
    prefixes = [" ".join(t.split()[:n]) for t in transcripts for n in range(1, len(t.split()))]
    seen: set[str] = set()
    return [t for t in variants + prefixes if not (t in seen or seen.add(t))]


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # the snapshot records a crash as an output too
        return f"raised {type(exc).__name__}: {exc}"


def outputs(text: str) -> dict[str, Any]:
    from voicerouter.audio import turn_cues
    from voicerouter.audio.settings import EndpointConfig
    from voicerouter.providers.offline import nlp
    from voicerouter.providers.offline.nlp import words
    from voicerouter.providers.speech import spoken
    from voicerouter.router.features import TurnContext, extract_features, normalize_tokens

    tokens = words.tokenize(text)
    cue = turn_cues.classify_turn_text(text, EndpointConfig())
    features = extract_features(text, TurnContext(agent_asked_question=True))
    mentions = nlp.find_dates(tokens, TODAY) + nlp.find_times(tokens) + nlp.find_names(tokens)
    return {
        "normalize_tokens": normalize_tokens(text),
        "features": [list(features.indices), [repr(v) for v in features.values]],
        "turn_cue_tokens": turn_cues.tokenize(text),
        "turn_cue": [cue.kind, cue.reason],
        "offline_tokens": [[t.text, t.raw, t.index] for t in tokens],
        "digit_strings": [list(d) for d in nlp.digit_strings(text)],
        "spelled_runs": [list(r) for r in words.spelled_runs(tokens)],
        "mentions": [[m.kind, m.value, m.start, m.end, sorted(m.flags)] for m in mentions],
        "normalize": [
            _call(nlp.normalize_date, text, TODAY),
            _call(nlp.normalize_time, text),
            _call(nlp.normalize_name, text),
            _call(nlp.normalize_digits, text),
            _call(nlp.normalize_id, text, "E", 4),
        ],
        "spoken_words": _call(spoken.spoken_words, text),
        "spoken_sentences": _call(spoken.spoken_sentences, text),
    }


def tables() -> dict[str, Any]:
    from voicerouter.audio import turn_cues
    from voicerouter.providers.offline.nlp import words
    from voicerouter.providers.speech import spoken
    from voicerouter.router import lexicon

    return {
        "router.NUMBER_WORDS": sorted(lexicon.NUMBER_WORDS),
        "router.ORDINALS": sorted(lexicon.ORDINALS),
        "turn_cues.NUMBER_WORDS": sorted(turn_cues.NUMBER_WORDS),
        "turn_cues.NUMBER_CUES": sorted(turn_cues.NUMBER_CUES),
        **{
            f"nlp.{name}": sorted(getattr(words, name).items())
            for name in ("UNITS", "TEENS", "TENS", "ORDINAL_UNITS", "SCALES", "REPEATS")
        },
        # The day ordinals were ORDINAL_UNITS and ORDINAL_TEENS before one lexicon, DAY_ORDINALS since.
        "nlp.day ordinals": sorted(
            {
                **getattr(words, "ORDINAL_TEENS", {}),
                **getattr(words, "DAY_ORDINALS", {}),
                **words.ORDINAL_UNITS,
            }.items()
        ),
        "nlp.ZERO_WORDS": sorted(words.ZERO_WORDS),
        "spoken.number_words": [spoken.number_words(v) for v in range(-120, 12000)]
        + [spoken.number_words(v) for v in (99_999, 100_000, 999_999, 1_000_000, 123_456_789)],
        "spoken.ordinal_words": [spoken.ordinal_words(v) for v in range(-30, 2100)],
        "spoken.digit_words": [spoken.digit_words(str(v)) for v in range(0, 1000, 7)],
        "spoken.time_words": [spoken.time_words(h, m) for h in range(24) for m in range(60)],
        "spoken.date_words": [spoken.date_words(TODAY + dt.timedelta(days=d)) for d in range(400)],
        "spoken.MONTHS": list(spoken.MONTHS),
        "spoken.WEEKDAYS": list(spoken.WEEKDAYS),
    }


FIXTURE_OUTPUTS = ("normalize_tokens", "turn_cue_tokens", "turn_cue", "offline_tokens", "spoken_words")
FIXTURE_TABLES = ("router.NUMBER_WORDS", "router.ORDINALS", "turn_cues.NUMBER_WORDS", "nlp.ZERO_WORDS")


def fixture_texts(limit: int = 120) -> list[str]:
    """The tricky cases and one data-set text for each mix of characters beyond plain lower-case words."""
    texts, _ = data_texts()
    chosen: dict[frozenset[str], str] = {}
    for text in texts:
        shape = frozenset(re.sub(r"[a-z ]", "", text.lower()))
        if shape and shape not in chosen and len(chosen) < limit:
            chosen[shape] = text
    picked = [*TRICKY, *chosen.values()]
    tricky = picked[: len(TRICKY)]
    return picked + [variant for text in tricky for variant in (text.upper(), text.replace("'", "’"))]


def fixture(out: Path) -> None:
    every = tables()
    lines = [json.dumps({"tables": {name: every[name] for name in FIXTURE_TABLES}}, ensure_ascii=False)]
    for text in fixture_texts():
        case = {key: value for key, value in outputs(text).items() if key in FIXTURE_OUTPUTS}
        case["offline_tokens"] = [raw for _, raw, _ in case["offline_tokens"]]  # text is raw.lower()
        lines.append(json.dumps({"text": text, **case}, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dump(out: Path) -> None:
    texts = all_texts()
    snapshot = {"tables": tables(), "texts": {text: outputs(text) for text in texts}}
    out.write_text(json.dumps(snapshot, ensure_ascii=False), encoding="utf-8")


def compare(before: dict[str, Any], after: dict[str, Any]) -> int:
    differences = 0
    for name, value in before["tables"].items():
        if after["tables"].get(name) != value:
            differences += 1
            print(f"table {name}: differs")
    counts: dict[str, int] = {}
    for text, outs in before["texts"].items():
        now = after["texts"].get(text)
        for key, value in outs.items():
            if now is None or now.get(key) != value:
                differences += 1
                counts[key] = counts.get(key, 0) + 1
                if counts[key] <= 5:
                    got = None if now is None else now.get(key)
                    print(f"{key} {text!r}:\n  before {value}\n  after  {got}")
    texts, transcripts = data_texts()
    print(
        f"{len(before['texts'])} texts compared ({len(texts)} from the data set, {len(transcripts)} of them "
        f"user transcripts of sim/calls, the rest variants and prefixes), {len(outs)} outputs each and "
        f"{len(before['tables'])} tables: {differences} differences {counts or ''}"
    )
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--dump", type=Path, help="write the outputs of the importable voicerouter here")
    group.add_argument("--fixture", type=Path, help="write the small frozen sample the tests compare with")
    group.add_argument("--against", metavar="REV", help="compare this tree with the voicerouter of a commit")
    args = parser.parse_args()
    if args.dump:
        dump(args.dump)
        return 0
    if args.fixture:
        fixture(args.fixture)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.against, "voicerouter"], cwd=ROOT, check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        for tree, name in ((old, "before.json"), (ROOT, "after.json")):
            env = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run([sys.executable, __file__, "--dump", str(Path(tmp) / name)], env=env, check=True)
        load = lambda name: json.loads((Path(tmp) / name).read_text(encoding="utf-8"))  # noqa: E731
        return compare(load("before.json"), load("after.json"))


if __name__ == "__main__":
    sys.exit(main())
