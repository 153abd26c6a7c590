"""Misheard name words put back to the known names they sound like, and names said right kept."""

from __future__ import annotations

import time

import pytest

from voicerouter.providers.offline.nlp import find_names
from voicerouter.providers.offline.nlp.heard_names import mend_name, mend_word, sound_key


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("maria gardea", "maria garcia"),  # one sound off a record's surname
        ("emily janssen", "emily johnson"),  # the same sounds spelled otherwise
        ("linh nguye", "linh nguyen"),
        ("fiola campbell", "fiona campbell"),
    ],
)
def test_misheard_words_are_mended(heard: str, meant: str) -> None:
    assert mend_name(heard.split()) == meant.split()


@pytest.mark.parametrize(
    "said",
    [
        "jennifer cole",  # common names, in no record: as said
        "stephen clark",  # a common surname beside the record's Clarke
        "kofi mensa",  # sounds like the record's Mensah, one letter off: may be another person
        "nadia petrov",
        "dot evans",  # too short to tell
        "gennifer walsh",  # near a common name but no record's: a lookup finds nothing either way
    ],
)
def test_names_said_right_are_kept(said: str) -> None:
    assert mend_name(said.split()) == said.split()


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("olivier harris", "olivia harris"),
        ("heichel smith", "michael smith"),
        ("dated kowalski", "david kowalski"),
    ],
)
def test_a_first_name_is_read_beside_the_records_surname(heard: str, meant: str) -> None:
    assert mend_name(heard.split()) == meant.split()


def test_sound_key() -> None:
    assert sound_key("johnson") == sound_key("janssen") == "JNSN"
    assert sound_key("gennifer") == sound_key("jennifer")


def test_only_lower_case_speech_is_mended() -> None:
    assert [m.value for m in find_names("hi it's maria gardea")] == ["Maria Garcia"]
    assert [m.value for m in find_names("Hi, it's Maria Gardea")] == ["Maria Gardea"]  # written: as spelled


def test_a_new_word_is_mended_fast() -> None:
    mend_word("warmup", "last")
    start = time.perf_counter()
    for word in ("zzyzxq", "bqrtlm", "xvqpwd"):
        mend_word(word, "last")
    assert (time.perf_counter() - start) / 3 < 0.005


def test_a_hesitation_between_two_name_words_is_no_part_of_the_speech() -> None:
    from voicerouter.providers.offline.understanding import _between_names

    assert _between_names("hi, carlos the mendoza. i got a notice") == "hi, carlos mendoza. i got a notice"
    assert _between_names("lucia uh mendoza, she sees") == "lucia mendoza, she sees"
    assert _between_names("is the vpn down") == "is the vpn down"
    assert _between_names("Hi, Carlos the Mendoza") == "Hi, Carlos the Mendoza"  # written: as written
