"""The offline agent's trained understanding: the request model, the name tagger, misheard digits, and the
dialogue state that lets follow-ups resolve ("the second one", "close that ticket")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from tests.test_offline_model import Call
from voicerouter.agent import load_agent
from voicerouter.providers.offline.hints import parse_hints
from voicerouter.providers.offline.nlp import (
    find_names,
    normalize_date,
    normalize_digits,
    normalize_name,
    tokenize,
)
from voicerouter.providers.offline.nlp.misheard import repair_numbers
from voicerouter.providers.offline.nlp.name_tagger import name_tagger
from voicerouter.providers.offline.nlp.words import pick_from_list
from voicerouter.providers.offline.requests import RequestModelError, request_model
from voicerouter.providers.offline.understanding import hear

TODAY = dt.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("agent", "said", "wanted"),
    [
        ("clinic", "could you put me through to somebody at the front desk please", "person"),
        ("clinic", "I was hoping you could tell me when I'm due in next", "my_appointments"),
        ("clinic", "so what has Doctor Ortiz got open on monday the seventh", "availability"),
        ("clinic", "hey, it's Jon Park, I'd like to get a checkup on the books", "book"),
        ("clinic", "my little one is sick so I won't be coming in on the ninth", "cancel"),
        ("clinic", "it's Jon Park", None),
        ("clinic", "yes please", None),
        ("helpdesk", "can you put a ticket in for me, my docking station stopped charging", "report_problem"),
        ("helpdesk", "morning, is the VPN still broken? it kept kicking me off earlier", "service_status"),
        ("helpdesk", "oh it actually works now, so just close that ticket", "close_ticket"),
        ("helpdesk", "honestly I'd just like to talk to one of the technicians", "person"),
        ("helpdesk", "E one oh four two", None),
    ],
)
def test_the_request_model_reads_requests_no_keyword_names(agent: str, said: str, wanted: str | None) -> None:
    spec = load_agent(agent)
    heard = hear(said, parse_hints(spec.offline, agent), request_model(agent))
    assert heard.intent == wanted


def test_the_request_model_is_deterministic_and_knows_each_agents_requests() -> None:
    for agent in ("clinic", "helpdesk"):
        model = request_model(agent)
        assert model is not None
        hints = parse_hints(load_agent(agent).offline, agent)
        assert set(model.classes) == {i.name for i in hints.requests} | {"none"}
        first, second = (
            model.predict("i need to cancel my appointment"),
            model.predict("i need to cancel my appointment"),
        )
        assert first == second and abs(sum(first.probabilities.values()) - 1) < 1e-9
    assert request_model("no-such-agent") is None


def test_a_bad_weights_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(RequestModelError, match="not found"):
        request_model("clinic", tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(RequestModelError, match=str(bad)):
        request_model("clinic", bad)
    old = tmp_path / "old.npz"
    np.savez(old, meta=np.asarray('{"feature_version": 0, "dimension": 1, "agents": []}'))
    with pytest.raises(RequestModelError, match="retrain"):
        request_model("clinic", old)


@pytest.mark.parametrize(
    ("heard", "digits"),
    [
        ("hi, i'm following up on ticket for six one zero", "4610"),
        ("e won o two four", "1024"),
        ("it's four five a four", "4584"),
        ("e um won one five zero", "1150"),
        ("nineteen ninety for", "1994"),
        ("ticket four six zero nine for exactly this", "4609"),
        ("saturday at then thirty", "1030"),
        ("ticket four bix one nine, the display", "4619"),  # a word one letter from a digit word
        ("e one one four liro", "1140"),  # the digit word's ending, two letters changed
    ],
)
def test_digit_words_a_recognizer_mishears_are_read_as_digits(heard: str, digits: str) -> None:
    assert normalize_digits(repair_numbers(heard)) == digits


@pytest.mark.parametrize(
    "text",
    [
        "a ticket for my laptop",
        "move it to friday at two",
        "from nine to five",
        "for nine thirty please",
        "four five nine one is fine",  # "fine" is as near to five as to nine, and no digit follows
        "i fixed it, two one",
        "ticket four six one two, your team closed it",  # the number was whole: "your" is no "four"
        "my extension is two two zero one give me a call",
    ],
)
def test_words_outside_a_run_of_digits_stay_as_they_are(text: str) -> None:
    assert repair_numbers(text) == text


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("hi kiss id hannah becker, i need to cancel my appointment on the fourth", "hannah becker"),
        ("hi, david kowalski, i want to cancel my appointment next week", "david kowalski"),
        ("by katie walsh from hr, i need my payroll password reset please", "katie walsh"),
        ("oh wait maybe it's still under my maiden name, jennifer cole", "jennifer cole"),
    ],
)
def test_the_name_tagger_finds_names_in_lower_case_speech(heard: str, name: str) -> None:
    tagger = name_tagger()
    assert tagger is not None
    words = [t.text for t in tokenize(heard)]
    assert [" ".join(words[a:b]) for a, b in tagger.spans(words)] == [name]


@pytest.mark.parametrize(
    "heard",
    ["yes please", "is doctor patel free tomorrow", "the printer on two is jamming again", "my old badge"],
)
def test_the_name_tagger_finds_no_name_where_there_is_none(heard: str) -> None:
    assert find_names(heard) == []


def test_spelling_with_double_and_letters_a_recognizer_dropped() -> None:
    assert normalize_name("Elena Rossi, that's R O double S I") == "Elena Rossi"
    assert normalize_name("w a double l s") == "Walls"
    assert normalize_name("hi it's peter mcdonald, m o a l d, i need") == "Peter McDonald"
    assert normalize_name("Smith, that's S M Y T H") == "Smyth"


def test_the_following_weekday_is_the_one_after_the_coming_one() -> None:
    assert normalize_date("the following monday", TODAY) == "2026-12-14"
    assert normalize_date("next monday", TODAY) == "2026-12-07"


def test_picking_from_a_list_by_position() -> None:
    assert pick_from_list(tokenize("the second one"), 2) == 1
    assert pick_from_list(tokenize("the later one please"), 3) == 2
    assert pick_from_list(tokenize("yeah the first"), 2) == 0
    assert pick_from_list(tokenize("the third one"), 2) is None


def test_the_second_one_of_the_appointments_read_out_is_the_one_cancelled() -> None:
    call = Call("clinic")
    call.say("hello, Katherine O'Brien, I need to cancel one of my appointments")
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1006"})
    assert "January 12th" in call.say("the second one")
    call.say("yeah do that")
    assert call.called()[-1] == ("cancel_appointment", {"appointment_id": "A2083"})


def test_closing_that_ticket_closes_the_one_just_looked_at() -> None:
    call = Call("helpdesk")
    call.say("hi, checking in on ticket four five two two")
    call.say("oh it actually works now, so just close that ticket")
    call.say("yes")
    assert call.called()[-1] == ("close_ticket", {"ticket_id": "4522"})


def test_a_narrower_question_asks_the_answered_request_again() -> None:
    call = Call("clinic")
    call.say("what are your opening times")
    call.say("sorry, just saturdays")
    assert call.called() == [("clinic_info", {"topic": "hours"}), ("clinic_info", {"topic": "hours"})]


def test_hours_narrowed_to_a_day_answer_only_that_day_and_asking_again_answers_all() -> None:
    call = Call("clinic")
    assert "Monday" in call.say("what are your opening times")
    narrowed = call.say("sorry, just saturdays")
    assert "Saturdays" in narrowed and "9 am to noon" in narrowed and "Monday" not in narrowed
    assert "closed on Sundays" in call.say("and sundays?")
    assert "Monday" in call.say("what are your hours")


def test_a_name_given_before_the_request_is_kept() -> None:
    call = Call("clinic")
    call.say("hi there, well, this is Elena Rossi calling")
    call.say("I was hoping you could tell me when I'm due in next")
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1041"})


def test_a_misheard_yes_confirms_only_a_confirmation() -> None:
    call = Call("helpdesk")
    call.say("yeah so, um, Olga Ivanova from finance, my payroll password isn't working anymore")
    call.say("yeh")
    assert call.called()[-1] == ("reset_password", {"employee_id": "E1107", "system": "payroll"})
    fresh = Call("helpdesk")
    assert fresh.say("yeh") and fresh.called() == []


def test_a_birth_year_a_recognizer_turned_from_forty_into_fourteen() -> None:
    call = Call("clinic")
    call.say("hi, I'd like to check my appointment, it's Dorothy Evans")
    call.say("march third nineteen fourteen")
    assert call.called()[-1] == (
        "find_patient",
        {"full_name": "Dorothy Evans", "date_of_birth": "1940-03-03"},
    )


def test_no_transfer_on_a_guess() -> None:
    call = Call("clinic")
    call.say("alright, I'll talk to billing then, thinks")
    assert all(name != "transfer_to_human" for name, _ in call.called())


def test_a_surname_that_is_a_keyword_is_no_request_when_the_name_is_all_that_was_said() -> None:
    call = Call("clinic")
    call.say("hi this is Jon Park")
    assert call.called() == [("find_patient", {"full_name": "Jon Park"})]  # who, not parking
    call.say("when is my next appointment")
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1040"})
    call = Call("clinic")
    call.say("hi it's Jon Park, where do I park")
    # who first (looked up in passing), then the parking answer: the surname asks nothing about parking
    assert call.called() == [
        ("find_patient", {"full_name": "Jon Park"}),
        ("clinic_info", {"topic": "parking"}),
    ]


def test_a_caller_who_says_who_they_are_first_is_looked_up_at_once_and_only_once() -> None:
    call = Call("clinic")
    reply = call.say("hi there, well, this is Elena Rossi calling")
    assert call.called() == [("find_patient", {"full_name": "Elena Rossi"})]
    assert "How can I help" in reply
    call.say("when am I due in next")
    assert [name for name, _ in call.called()] == ["find_patient", "list_appointments"]  # no second lookup


def test_a_caller_who_is_not_on_record_hears_so_when_they_give_their_name() -> None:
    call = Call("helpdesk")
    reply = call.say("hello, my name is Dana Whitfield-Oyelaran")
    assert call.called() == [("find_employee", {"full_name": "Dana Whitfield-Oyelaran"})]
    assert "couldn't find" in reply
    call = Call("helpdesk")
    call.say("yeah hi it's Jon Park from the warehouse")
    assert call.called() == [("find_employee", {"full_name": "Jon Park"})]


def test_the_first_name_said_again_to_tell_how_it_is_written_does_not_swap_the_name() -> None:
    call = Call("clinic")
    call.say("hey there, I forgot my appointment time, it's Jon Park, Jon without the H")
    assert call.called()[0] == ("find_patient", {"full_name": "Jon Park"})


def test_yep_thats_it_to_a_confirmation_is_a_yes_not_a_goodbye() -> None:
    call = Call("clinic")
    call.say("hi it's Jonathan Reyes, does Doctor Chen have anything open next monday")
    call.say("the eight thirty")
    call.say("yep, that's it")
    assert call.called()[-1][0] == "book_appointment"


def test_a_question_after_an_answered_request_is_read_as_a_new_request() -> None:
    call = Call("clinic")
    call.say("hi, the name's Robert Johnson")
    call.say("can you tell me what I've got coming up")
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1009"})


def test_a_caller_who_names_themself_with_a_ticket_request_is_looked_up_and_the_ticket_too() -> None:
    call = Call("helpdesk")
    call.say(
        "hiya, it's Fiona Campbell in customer service, ticket four six one one is sorted, you can close it"
    )
    assert call.called() == [
        ("find_employee", {"full_name": "Fiona Campbell"}),
        ("get_ticket", {"ticket_id": "4611"}),
    ]


def test_a_first_name_spelled_after_a_miss_mends_the_first_name() -> None:
    call = Call("clinic")
    call.say("hi it's lin nguyen")
    call.say("no, it's Linh, L I N H")
    assert call.called()[-1] == ("find_patient", {"full_name": "Linh Nguyen"})


def test_asking_about_a_day_with_no_appointment_hears_so_and_what_there_is() -> None:
    call = Call("clinic")
    reply = call.say("hi it's Daniel Wojcik, is my appointment on friday?")
    assert call.called()[-1] == ("list_appointments", {"patient_id": "P1028"})
    assert reply.startswith("I don't see an appointment on Friday, December 4th.")


def test_a_one_that_names_a_thing_is_not_the_first_digit_of_a_ticket_number() -> None:
    call = Call("helpdesk")
    call.say("the Excel add-in one, four six two seven, what's the status")
    assert call.called()[-1] == ("get_ticket", {"ticket_id": "4627"})
    call = Call("helpdesk")
    call.say("any news on ticket one four five two")  # a number that starts with a one keeps it
    assert call.called()[-1] == ("get_ticket", {"ticket_id": "1452"})
