"""Speak from the first clause: the answer's first few words go to speech at a clause end."""

from __future__ import annotations

from tests.engine_kit import drain, make_engine, start_generation
from tests.test_engine_acknowledge import ack_engine, generation, speaks
from voicerouter.engine import io


def test_first_clause_of_a_few_words_is_spoken_before_its_sentence_ends_and_later_commas_wait() -> None:
    engine, _clock = make_engine()
    engine.receive(io.Transcript(text="when is my appointment"))
    gen = start_generation(drain(engine)[0])
    said: list[str] = []
    for piece in [
        "Okay, ",
        "your appointment on Friday, ",
        "the eleventh, is at ten",
        ". It is with",
        " Dr. Lee.",
    ]:
        engine.receive(io.ModelDelta(gen_id=gen.gen_id, text=piece))
        said.append("|".join(s.text for s in speaks(drain(engine)[0])))
    # "Okay," alone is too short; four words and a comma start the speech; later commas wait
    assert said == [
        "",
        "Okay, your appointment on Friday, ",
        "",
        "the eleventh, is at ten. ",
        "It is with Dr. Lee.",
    ]


def test_answer_after_an_acknowledgement_also_starts_at_its_first_clause() -> None:
    engine, _clock = ack_engine("reasoning")
    engine.receive(io.Transcript(text="compare my two appointments and move the later one"))
    gen = generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Your later appointment is Friday; I can move"))
    assert [s.text for s in speaks(drain(engine)[0])] == ["Your later appointment is Friday; "]


def test_digit_groups_and_hyphenated_words_are_not_clause_ends() -> None:
    engine, _clock = make_engine()
    engine.receive(io.Transcript(text="status of my ticket"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Ticket 4,591 is a follow-up to one"))
    assert speaks(drain(engine)[0]) == []
