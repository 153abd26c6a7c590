"""Spoken numbers, dates, times, names and self-corrections to canonical values (offline nlp)."""

from __future__ import annotations

import datetime as dt

import pytest

from voicerouter.providers.offline.nlp import (
    digit_strings,
    find_dates,
    find_names,
    find_times,
    normalize_date,
    normalize_digits,
    normalize_id,
    normalize_name,
    normalize_time,
)

TODAY = dt.date(2026, 12, 1)  # a Tuesday


@pytest.mark.parametrize(
    ("said", "iso"),
    [
        ("march third", "2027-03-03"),
        ("March 3rd", "2027-03-03"),
        ("the third of march", "2027-03-03"),
        ("december the twelfth", "2026-12-12"),
        ("the fifth", "2026-12-05"),
        ("on the 2nd", "2026-12-02"),
        ("the 1st", "2026-12-01"),
        ("tomorrow", "2026-12-02"),
        ("today", "2026-12-01"),
        ("the day after tomorrow", "2026-12-03"),
        ("thursday", "2026-12-03"),
        ("this friday", "2026-12-04"),
        ("next tuesday", "2026-12-08"),
        ("tuesday", "2026-12-08"),
        ("friday next week", "2026-12-11"),
        ("friday the 11th", "2026-12-11"),
        ("in two weeks", "2026-12-15"),
        ("2026-12-03", "2026-12-03"),
        ("12/3", "2026-12-03"),
        ("march third nineteen eighty four", "1984-03-03"),
        ("march twenty three nineteen ninety", "1990-03-23"),
        ("november second nineteen seventeen nine", "1979-11-02"),  # -teen for -ty, as a recogniser writes
        ("june 5th two thousand and five", "2005-06-05"),
        ("the 12th of march 1984", "1984-03-12"),
        ("3/12/84", "1984-03-12"),
    ],
)
def test_spoken_dates_resolve_against_the_reference_day(said: str, iso: str) -> None:
    assert normalize_date(said, TODAY) == iso


@pytest.mark.parametrize(
    "said", ["on the first floor", "first of all", "may I book", "the second time", "my laptop is broken"]
)
def test_ordinary_words_are_not_read_as_dates(said: str) -> None:
    assert find_dates(said, TODAY) == []


def test_a_birth_cue_marks_the_date_as_a_birth_date() -> None:
    (found,) = find_dates("I was born on march third 1984", TODAY)
    assert found.value == "1984-03-03"
    assert {"birth", "year"} <= found.flags


@pytest.mark.parametrize(
    ("said", "hhmm"),
    [
        ("three thirty pm", "15:30"),
        ("half past two", "14:30"),
        ("nine thirteen", "09:30"),  # a recogniser's -teen for -ty
        ("eight fifteen", "08:15"),
        ("quarter to ten", "09:45"),
        ("a quarter past eleven", "11:15"),
        ("ten past four", "16:10"),
        ("twenty minutes to five", "16:40"),
        ("nine oh five a.m.", "09:05"),
        ("9:30", "09:30"),
        ("3 p.m.", "15:00"),
        ("noon", "12:00"),
        ("twelve am", "00:00"),
        ("ten fifteen in the morning", "10:15"),
        ("seven in the evening", "19:00"),
        ("fourteen hundred", "14:00"),
        ("three", "15:00"),
        ("nine", "09:00"),
    ],
)
def test_spoken_times_become_24_hour_clock_times(said: str, hhmm: str) -> None:
    assert normalize_time(said) == hhmm


def test_a_bare_number_is_a_time_only_after_a_cue_or_when_a_time_was_asked() -> None:
    assert find_times("I have four kids") == []
    assert [m.value for m in find_times("can I come at four")] == ["16:00"]
    assert [m.value for m in find_times("four", bare_ok=True)] == ["16:00"]


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four five nine one", "4591"),
        ("forty five ninety one", "4591"),
        ("four thousand five hundred ninety one", "4591"),
        ("ticket number 4591", "4591"),
        ("45 91", "4591"),
        ("four five double nine", "4599"),
        ("one oh four two", "1042"),
        ("forty five fifteen nine", "4559"),  # no number reads "fifteen nine": fifty nine misheard
    ],
)
def test_spoken_numbers_become_digit_strings(said: str, digits: str) -> None:
    assert normalize_digits(said, 4) == digits


def test_a_number_of_the_wrong_length_is_not_taken_for_an_id() -> None:
    assert normalize_digits("the one on thursday", 4) is None
    assert normalize_digits("four five nine", 4) is None


@pytest.mark.parametrize(
    "said", ["E1042", "e one oh four two", "my employee id is one zero four two", "it's E-1042"]
)
def test_employee_ids_are_read_in_any_spoken_form(said: str) -> None:
    assert normalize_id(said, "E", 4) == "E1042"


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("my name is john smith", "John Smith"),
        ("Hi, this is Jon Smyth calling about my appointment", "Jon Smyth"),
        ("it's jon s m y t h", "Jon Smyth"),
        ("john smyth, s m i t h", "John Smith"),
        ("John S-M-I-T-H", "John Smith"),
        ("yes it's katherine o'brien", "Katherine O'Brien"),
        ("peter mcdonald", "Peter McDonald"),
        ("It's Anne-Marie Dubois", "Anne-Marie Dubois"),
        ("um, Maria Garcia", "Maria Garcia"),
        ("for Grace Liu, she's my daughter", "Grace Liu"),
        ("John Smith no sorry Jon Smyth", "Jon Smyth"),
    ],
)
def test_names_come_from_cues_spelling_and_bare_answers(said: str, name: str) -> None:
    assert normalize_name(said) == name


@pytest.mark.parametrize(
    "said", ["it's really urgent", "I'm calling to cancel", "for my son", "thursday please"]
)
def test_ordinary_phrases_are_not_taken_for_names(said: str) -> None:
    assert find_names(said) == []


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("the fifth no sorry the sixth", "2026-12-06"),
        ("not tuesday, wednesday", "2026-12-02"),
        ("monday, actually make that thursday", "2026-12-03"),
    ],
)
def test_self_corrections_keep_the_value_the_speaker_stands_by(said: str, expected: str) -> None:
    assert normalize_date(said, TODAY) == expected


def test_a_correction_only_replaces_the_kind_of_value_it_corrects() -> None:
    said = "the fifth at three pm no sorry the sixth"
    assert normalize_date(said, TODAY) == "2026-12-06"
    assert normalize_time(said) == "15:00"


# -- regressions found while labelling the call corpus (sim/corpus) ---------------------------------------
@pytest.mark.parametrize(
    ("said", "name"),
    [
        # a spelling ends before the pronoun that starts the next clause ("...d, I need")
        ("hi it's Peter McDonald, m c d o n a l d, I need to move my appointment", "Peter McDonald"),
        # a spelling replaces the word it spells even with words (or the first name) in between
        ("Sarah Smith, that's S M Y T H", "Sarah Smyth"),
        ("Aisha Rahman, A I S H A", "Aisha Rahman"),
        ("um Jennifer, W A L S H", "Jennifer Walsh"),
        # a name after "name", a relative, or a correction
        ("maybe it's still under my maiden name, Jennifer Cole", "Jennifer Cole"),
        ("I'm calling for my daughter Chloe Martin", "Chloe Martin"),
        ("I'm calling for my grandmother, Dorothy Evans", "Dorothy Evans"),
        ("good afternoon, this is Ben, sorry, Benjamin Cohen, I need to change a time", "Benjamin Cohen"),
        ("Daniel, sorry, Daniel Okafor", "Daniel Okafor"),
        # a capitalised name opening the call, or said inside an answer
        ("yeah hi, Daniel Wojcik, W O J C I K, I need to push back my appointment", "Daniel Wojcik"),
        ("okay the older one is Grace Liu, L I U", "Grace Liu"),
        # a department after the name is not part of it
        ("Amara Nwosu, operations", "Amara Nwosu"),
    ],
)
def test_names_said_in_real_calls_come_out_whole(said: str, name: str) -> None:
    assert normalize_name(said) == name


@pytest.mark.parametrize(
    "said", ["tonight? it's happening right now though, it's already read only", "it's blocking my month end"]
)
def test_words_after_its_in_lower_case_speech_are_not_taken_for_names(said: str) -> None:
    assert find_names(said) == []


def test_a_corrected_day_keeps_the_month_the_caller_said() -> None:
    assert normalize_date("uh to january fifth, no sorry the sixth", TODAY) == "2027-01-06"
    assert normalize_date("march third, actually the fourth", TODAY) == "2027-03-04"
    assert normalize_date("the fifth no sorry the sixth", TODAY) == "2026-12-06"


def test_and_between_two_digit_by_digit_numbers_keeps_them_apart() -> None:
    said = "the status of tickets four five zero zero and four five zero one"
    assert [d for d, _, _ in digit_strings(said)] == ["4500", "4501"]
    assert normalize_digits("four thousand five hundred and one") == "4501"


def test_half_and_an_hour_is_half_past_that_hour() -> None:
    from voicerouter.providers.offline.nlp.times import find_times

    assert [m.value for m in find_times("half eight please", bare_ok=True)] == ["08:30"]
    assert [m.value for m in find_times("give me half an hour", bare_ok=True)] == []
