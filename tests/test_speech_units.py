"""Pure parts of the speech package: spoken forms, the n-gram estimator, WAV framing, sentence cuts, lexicon
guesses, domain phrases and the domain model cache."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from collections import defaultdict
from pathlib import Path

import pocketsphinx
import pytest

from voicerouter.audio.wav import WavError, WavStreamReader, encode_wav, read_wav
from voicerouter.providers.speech.domain import domain_phrases
from voicerouter.providers.speech.lexicon import Lexicon
from voicerouter.providers.speech.ngram import SENTENCE_END, SENTENCE_START, NgramModel
from voicerouter.providers.speech.sentences import split_sentences
from voicerouter.providers.speech.sphinx_lm import build_domain_model, read_extra_words, stock_dictionary
from voicerouter.providers.speech.spoken import number_words, ordinal_words, spoken_sentences, time_words

# -- spoken forms --


@pytest.mark.parametrize(
    ("value", "words"),
    [(0, "zero"), (15, "fifteen"), (42, "forty two"), (214, "two hundred fourteen"),
     (1905, "nineteen oh five"), (2026, "twenty twenty six"), (2005, "two thousand five"),
     (1900, "nineteen hundred")],
)  # fmt: skip
def test_number_words_reads_numbers_as_callers_say_them(value: int, words: str) -> None:
    assert number_words(value) == words


def test_ordinals_and_clock_times_are_spelled_out() -> None:
    assert [ordinal_words(n) for n in (1, 2, 3, 12, 20, 22, 31)] == [
        "first", "second", "third", "twelfth", "twentieth", "twenty second", "thirty first",
    ]  # fmt: skip
    assert [time_words(9, 0), time_words(14, 30), time_words(8, 5)] == [
        "nine o'clock",
        "two thirty",
        "eight oh five",
    ]


def test_spoken_sentences_expand_titles_phones_ids_dates_and_cut_at_punctuation() -> None:
    text = "Dr. Chen, call (541) 555-0100 about P1001 on 2026-12-24 at 9:30. Suite 100 & parking"
    assert spoken_sentences(text) == [
        ["doctor", "chen"],
        ["call", "five", "four", "one", "five", "five", "five", "zero", "one", "zero", "zero", "about", "p",
         "one", "zero", "zero", "one", "on", "december", "twenty", "fourth", "at", "nine", "thirty"],
        ["suite", "one", "hundred", "and", "parking"],
    ]  # fmt: skip


# -- n-gram estimator --

_CORPUS = [
    "what time do you open".split(),
    "what time do you close".split(),
    "are you open on saturday".split(),
    "i need an appointment".split(),
    "do you open on sunday".split(),
]


def test_witten_bell_distribution_sums_to_one_after_every_history() -> None:
    model = NgramModel(_CORPUS, order=3)
    words = [*model.vocabulary, SENTENCE_END]
    histories = {(SENTENCE_START,), ("you",), ("what", "time"), ("do", "you"), ("zebra",), ("open", "on")}
    for history in histories:
        total = sum(model.probability((*history, word)) for word in words)
        assert math.isclose(total, 1.0, rel_tol=1e-9), (history, total)


def test_seen_continuations_outrank_unseen_ones() -> None:
    model = NgramModel(_CORPUS, order=3)
    assert model.probability(("what", "time", "do")) > model.probability(("what", "time", "open"))
    assert model.probability(("on", "saturday")) > model.probability(("on", "appointment"))


def test_arpa_output_is_deterministic_and_loads_in_pocketsphinx(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    NgramModel(_CORPUS).write_arpa(first)
    NgramModel(list(_CORPUS)).write_arpa(second)
    assert first.getvalue() == second.getvalue()
    path = tmp_path / "tiny.arpa"
    path.write_text(first.getvalue())
    loaded = pocketsphinx.NGramModel.readfile(str(path))
    assert loaded.size() == 3
    counts = _arpa_counts(first.getvalue())
    assert counts[1] == len(NgramModel(_CORPUS).vocabulary) + 2  # <s> and </s>


def _arpa_counts(text: str) -> dict[int, int]:
    return {int(line[6]): int(line.split("=")[1]) for line in text.splitlines() if line.startswith("ngram ")}


def test_ngram_model_refuses_an_empty_corpus() -> None:
    with pytest.raises(ValueError, match="no non-empty sentence"):
        NgramModel([[], []])


# -- WAV framing --


def _streamed_header(rate_hz: int) -> bytes:
    """The header espeak-ng writes to a pipe: sizes unknown, so placeholders near 2**31."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, rate_hz * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0x7FFFF000))  # fmt: skip


def test_stream_reader_handles_placeholder_sizes_fed_one_byte_at_a_time() -> None:
    payload = struct.pack("<5h", 1, -2, 3, -4, 5)
    reader = WavStreamReader()
    out = b"".join(reader.feed(bytes([b])) for b in _streamed_header(22050) + payload + b"\x07")
    reader.finish()
    assert out == payload  # the dangling half sample is dropped, never half-returned
    assert reader.format is not None and reader.format.sample_rate_hz == 22050


def test_encoded_wav_reads_back_with_the_standard_library_and_our_reader() -> None:
    pcm = struct.pack("<4h", 0, 1000, -1000, 32767)
    data = encode_wav(pcm, 16000)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.readframes(10) == pcm
    assert read_wav(data)[1] == pcm


def test_reader_skips_list_chunks_and_stops_at_the_declared_data_size() -> None:
    pcm = struct.pack("<2h", 7, 8)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", len(pcm)) + pcm + b"id3 trailing junk"
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    assert read_wav(data)[1] == pcm


def test_reader_names_what_is_wrong_with_non_pcm16_input() -> None:
    with pytest.raises(WavError, match="RIFF"):
        WavStreamReader().feed(b"ID3\x03" + bytes(20))
    float_fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    data = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + float_fmt
    with pytest.raises(WavError, match="16-bit PCM"):
        WavStreamReader().feed(data)
    with pytest.raises(WavError, match="before the data chunk"):
        WavStreamReader().finish()


# -- sentences --


def test_sentences_split_at_ends_but_not_after_titles_or_times() -> None:
    text = 'Hello! Dr. Chen can see you at 9 a.m. on Monday. "Shall I book it?" Thanks'
    assert split_sentences(text) == [
        "Hello!", "Dr. Chen can see you at 9 a.m. on Monday.", '"Shall I book it?"', "Thanks",
    ]  # fmt: skip


def test_long_sentences_are_cut_at_clauses_within_the_limit() -> None:
    text = ", ".join(["the clinic is open"] * 30) + "."
    pieces = split_sentences(text, max_chars=80)
    assert len(pieces) > 1 and all(len(p) <= 80 for p in pieces)
    assert " ".join(pieces) == text


# -- lexicon and domain model --


def test_lexicon_builds_compounds_and_acronyms_but_not_arbitrary_words(tmp_path: Path) -> None:
    path = tmp_path / "tiny.dict"
    path.write_text("help HH EH L P\ndesk D EH S K\nv V IY\np P IY\nn EH N\nn(2) EH N\n")
    lexicon = Lexicon(path)
    assert lexicon.guess("helpdesk") == "HH EH L P D EH S K"
    assert lexicon.guess("vpn") == "V IY P IY EH N"
    added, unknown = lexicon.resolve(["help", "helpdesk", "okonkwo"])
    assert added == {"helpdesk": "HH EH L P D EH S K"} and unknown == ["okonkwo"]


def test_domain_phrases_cover_utterances_data_names_and_numbers(tmp_path: Path) -> None:
    utterances = tmp_path / "utterances.jsonl"
    lines = [
        {"text": "what time do you open", "agent": "clinic", "split": "train"},
        {"text": "is my ticket fixed", "agent": "helpdesk", "split": "train"},
        {"text": "hello", "agent": "any", "split": "test"},
    ]
    utterances.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    record = {"patients": [{"id": "P1001", "first_name": "John", "last_name": "Smith", "email": "j@x.org",
                            "date_of_birth": "1984-03-12"}]}  # fmt: skip
    (data_dir / "clinic.json").write_text(json.dumps(record))
    phrases = domain_phrases("clinic", utterances_path=utterances, data_dir=data_dir)
    assert "what time do you open" in phrases and "hello" in phrases
    assert "is my ticket fixed" not in phrases
    assert {"john smith", "my name is john smith", "s m i t h", "march twelfth nineteen eighty four"} <= set(
        phrases
    )
    assert "p one zero zero one" in phrases
    assert not any("@" in p or "x org" in p for p in phrases)
    assert "twenty one" in phrases and "december twelfth" in phrases
    train_only = domain_phrases("clinic", splits={"train"}, utterances_path=utterances, data_dir=data_dir)
    assert "hello" not in train_only


def test_domain_phrases_survive_missing_corpus_and_data(tmp_path: Path) -> None:
    phrases = domain_phrases("nobody", utterances_path=tmp_path / "absent.jsonl", data_dir=tmp_path / "none")
    assert "forty two" in phrases and "on saturday" in phrases


def test_domain_model_is_cached_by_content_and_drops_unpronounceable_words(tmp_path: Path) -> None:
    phrases = ["what time does the helpdesk open", "ask for zxqvbnm please", "thanks"]
    first = build_domain_model(phrases, tmp_path)
    assert first.unknown_words == ("zxqvbnm",)
    assert ("helpdesk", "HH EH L P D EH S K") in read_extra_words(first.extra_dict_path)
    arpa = first.lm_path.read_text()
    assert "zxqvbnm" not in arpa and "\tplease" in arpa
    modified_ns = first.lm_path.stat().st_mtime_ns
    again = build_domain_model(phrases, tmp_path)
    assert again.lm_path == first.lm_path and first.lm_path.stat().st_mtime_ns == modified_ns
    other = build_domain_model([*phrases, "one more"], tmp_path)
    assert other.lm_path != first.lm_path
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".arpa", ".arpa", ".dict", ".dict"]


def test_boosted_phrases_gain_probability_in_the_domain_model(tmp_path: Path) -> None:
    phrases = ["i need doctor chen", "i need doctor patel", "i need a nurse"]
    plain = build_domain_model(phrases, tmp_path)
    boosted = build_domain_model(phrases, tmp_path, boost=["doctor patel"])
    assert _bigram_log10(boosted.lm_path, "doctor patel") > _bigram_log10(plain.lm_path, "doctor patel")


def _bigram_log10(path: Path, bigram: str) -> float:
    found: dict[str, float] = defaultdict(lambda: -99.0)
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            found[parts[1]] = float(parts[0])
    return found[bigram]


def test_stock_dictionary_ships_with_pocketsphinx() -> None:
    assert stock_dictionary().is_file()


def test_domain_phrases_come_from_the_shipped_utterances_and_data() -> None:
    from voicerouter.providers.speech.domain import TOOLS_DATA_DIR, UTTERANCES_PATH, domain_phrases

    assert UTTERANCES_PATH.is_file() and TOOLS_DATA_DIR.is_dir()
    assert len(domain_phrases("clinic")) > 500 and len(domain_phrases("helpdesk")) > 500
