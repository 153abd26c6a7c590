"""The offline agent model over the shipped agents and their real tools, one model step at a time."""

from __future__ import annotations

from typing import Any

import pytest

from voicerouter.agent import AgentSpec, load_agent
from voicerouter.engine.history import NOTE_PREFIX, ConversationHistory
from voicerouter.providers.base import ChatMessage, ChatRequest, TextDelta, ToolCall, ToolCallChunk, Usage
from voicerouter.providers.offline.model import Completion, OfflineAgentModel
from voicerouter.toolkit import ToolOutcome, ToolRegistry

TIMEOUT = ToolOutcome(ok=False, error="timed out", timed_out=True)


class Call:
    """A text call through the model and the agent's real tools; `faults` replace a tool's outcome."""

    def __init__(self, agent: str, *, offer_tools: bool = True) -> None:
        self.agent = load_agent(agent)
        self.model = OfflineAgentModel(self.agent)
        self.registry: ToolRegistry = self.agent.create_tools()
        self.offer_tools = offer_tools
        self.messages: list[ChatMessage] = []
        self.calls: list[ToolCall] = []
        self.faults: dict[str, list[ToolOutcome]] = {}

    def request(self) -> ChatRequest:
        specs = self.registry.specs() if self.offer_tools else ()
        return ChatRequest(
            model="offline-agent-v1", system=self.agent.prompt, messages=tuple(self.messages), tools=specs
        )

    def step(self) -> Completion:
        completion = self.model.complete(self.request())
        assert len(completion.tool_calls) <= 1, "one tool call per model step"
        self.messages.append(
            ChatMessage(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
        )
        for call in completion.tool_calls:
            self.calls.append(call)
            queued = self.faults.get(call.name)
            outcome = queued.pop(0) if queued else self.registry.run(call.name, call.args)
            self.messages.append(
                ChatMessage(role="tool", tool_call_id=call.id, name=call.name, content=outcome.for_model())
            )
        return completion

    def say(self, text: str) -> str:
        """The caller's turn: model steps until the model speaks; returns what it said."""
        self.messages.append(ChatMessage(role="user", content=text))
        for _ in range(6):
            completion = self.step()
            if not completion.tool_calls:
                return completion.text
        raise AssertionError("the model kept calling tools without answering")

    def called(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.name, c.args) for c in self.calls]


def prompt_of(call: Call, slot: str) -> str:
    return str(call.agent.offline["slots"][slot]["prompt"])


# -- asking for what is missing ------------------------------------------------------------------------
def test_it_asks_for_exactly_the_missing_slot_before_calling_a_tool() -> None:
    call = Call("clinic")
    assert call.say("Hi, I'd like to book an appointment") == prompt_of(call, "full_name")
    assert call.calls == []
    assert call.say("It's John Smith") == prompt_of(call, "date")
    assert call.called() == [("find_patient", {"full_name": "John Smith"})]


def test_a_helpdesk_request_without_a_ticket_number_asks_for_it() -> None:
    call = Call("helpdesk")
    assert call.say("can you check on my ticket") == prompt_of(call, "ticket_id")
    assert call.say("four five nine one").startswith("Ticket 4 5 9 1")
    assert call.called() == [("get_ticket", {"ticket_id": "4591"})]


# -- canonical arguments from spoken words ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent", "said", "tool", "args"),
    [
        ("helpdesk", "what's the status of ticket four five nine one", "get_ticket", {"ticket_id": "4591"}),
        ("helpdesk", "any update on ticket forty five ninety one?", "get_ticket", {"ticket_id": "4591"}),
        ("helpdesk", "is the wi-fi down?", "service_status", {"service": "wifi"}),
        (
            "helpdesk",
            "my employee id is e one oh four two and I'm locked out",
            "find_employee",
            {"employee_id": "E1042"},
        ),
        ("clinic", "are you open on saturday", "clinic_info", {"topic": "hours"}),
        ("clinic", "where can I park?", "clinic_info", {"topic": "parking"}),
        (
            "clinic",
            "any openings with doctor ortiz on friday the eleventh",
            "find_open_slots",
            {"date": "2026-12-11", "provider": "Dr. Ortiz"},
        ),
        (
            "clinic",
            "this is katherine o'brien, when is my next appointment?",
            "find_patient",
            {"full_name": "Katherine O'Brien"},
        ),
        ("clinic", "I'd like to book, my name is jon s m y t h", "find_patient", {"full_name": "Jon Smyth"}),
    ],
)
def test_spoken_inputs_become_exact_canonical_tool_arguments(
    agent: str, said: str, tool: str, args: dict[str, str]
) -> None:
    call = Call(agent)
    call.say(said)
    assert call.called()[0] == (tool, args)


# -- honesty about missing records and failed tools ----------------------------------------------------
def test_a_missing_patient_is_reported_plainly_and_nothing_is_invented() -> None:
    call = Call("clinic")
    reply = call.say("I want to cancel my appointment, my name is Jon Smyth")
    assert call.called() == [("find_patient", {"full_name": "Jon Smyth"})]
    assert "couldn't find a patient named Jon Smyth" in reply
    assert "John" not in reply and "December" not in reply


def test_a_missing_ticket_is_reported_and_a_corrected_number_is_looked_up() -> None:
    call = Call("helpdesk")
    reply = call.say("what's the status of ticket four five nine zero")
    assert "couldn't find a ticket number 4 5 9 0" in reply
    assert call.say("sorry, it's four five nine one").startswith("Ticket 4 5 9 1")
    assert [args for _, args in call.called()] == [{"ticket_id": "4590"}, {"ticket_id": "4591"}]


def test_a_timed_out_tool_is_reported_as_not_checked_and_retried_on_yes() -> None:
    call = Call("helpdesk")
    call.faults["get_ticket"] = [TIMEOUT]
    reply = call.say("what's the status of ticket 4591")
    assert "couldn't check" in reply
    assert "in progress" not in reply
    assert call.say("yes please").startswith("Ticket 4 5 9 1")
    assert [name for name, _ in call.called()] == ["get_ticket", "get_ticket"]


def test_a_broken_tool_is_reported_as_not_checked() -> None:
    call = Call("clinic")
    call.faults["clinic_info"] = [ToolOutcome(ok=False, error="clinic_info failed: OSError: disk")]
    assert "couldn't check" in call.say("what are your opening hours?")


def test_bad_arguments_make_it_ask_for_that_value_again() -> None:
    call = Call("helpdesk")
    call.faults["get_ticket"] = [
        ToolOutcome(ok=False, error="invalid arguments for get_ticket: ticket_id: bad")
    ]
    reply = call.say("status of ticket 4591")
    assert reply == f"Sorry, I didn't get the ticket id. {prompt_of(call, 'ticket_id')}"


def test_a_refused_booking_explains_why_and_a_new_day_is_confirmed_again() -> None:
    call = Call("clinic")
    call.say("book me in for sunday at 10 am please, I'm Sarah Smyth")
    reply = call.say("yes")
    assert "closed on Sundays" in reply
    assert "Monday, December 7th at 10 am" in call.say("what about monday then")


# -- multi-turn requests ------------------------------------------------------------------------------
def test_a_booking_with_a_self_correction_a_change_of_mind_and_a_confirmation() -> None:
    call = Call("clinic")
    assert call.say("Hi, I need an appointment on the fifth no sorry the fourth") == prompt_of(
        call, "full_name"
    )
    assert "more than one patient named Maria Garcia" in call.say("it's Maria Garcia")
    offered = call.say("may seventeenth nineteen ninety five")
    assert offered.startswith("On Friday, December 4th I have")
    assert "Friday, December 4th at 2:30 pm" in call.say("half past two")
    assert "Thursday, December 3rd at 2:30 pm" in call.say("actually make that thursday")
    assert "book_appointment" not in [name for name, _ in call.called()]
    done = call.say("yes")
    assert call.called() == [
        ("find_patient", {"full_name": "Maria Garcia"}),
        ("find_patient", {"full_name": "Maria Garcia", "date_of_birth": "1995-05-17"}),
        ("find_open_slots", {"date": "2026-12-04"}),
        ("book_appointment", {"patient_id": "P1004", "date": "2026-12-03", "time": "14:30"}),
    ]
    booked = call.registry.run("list_appointments", {"patient_id": "P1004"}).result
    assert booked is not None
    new_id = next(a["appointment_id"] for a in booked["upcoming"] if a["date"] == "2026-12-03")
    assert new_id in done


def test_a_cancellation_takes_one_tool_per_step_and_waits_for_a_yes() -> None:
    call = Call("clinic")
    question = call.say("I need to cancel my appointment. This is Sarah Smyth")
    assert question.startswith(
        "Just to confirm: you'd like to cancel your appointment on Monday, December 7th"
    )
    assert [name for name, _ in call.called()] == ["find_patient", "list_appointments"]
    assert "is cancelled" in call.say("yes that's right")
    assert call.called()[-1] == ("cancel_appointment", {"appointment_id": "A2059"})


def test_a_patient_with_two_visits_is_asked_which_one() -> None:
    call = Call("clinic")
    question = call.say("I can't make my appointment, it's John Smith")
    assert "Thursday, December 3rd at 5:30 pm and Monday, December 21st at 11 am" in question
    assert "December 21st" in call.say("the one on the twenty first")
    call.say("yes")
    assert call.called()[-1] == ("cancel_appointment", {"appointment_id": "A2079"})


def test_saying_no_to_a_confirmation_changes_nothing() -> None:
    call = Call("helpdesk")
    call.say("please close ticket 4591")
    reply = call.say("no, wait")
    assert reply == call.agent.offline["replies"]["declined"]
    assert [name for name, _ in call.called()] == ["get_ticket"]


def test_a_reschedule_reads_the_old_and_new_dates_from_one_sentence() -> None:
    call = Call("clinic")
    call.say("this is John Smith, can I move my appointment on the twenty first to the twenty second at 9 am")
    call.say("yes")
    assert call.called()[-1] == (
        "reschedule_appointment",
        {"appointment_id": "A2079", "new_date": "2026-12-22", "new_time": "09:00"},
    )


# -- social turns --------------------------------------------------------------------------------------
def test_social_turns_are_answered_briefly_without_tools() -> None:
    call = Call("clinic")
    replies = call.agent.offline["replies"]
    assert call.say("hello") == replies["greeting"]
    assert call.say("hold on a second") == replies["hold"]
    assert call.say("sorry, say that again?") == replies["hold"]
    assert call.say("thank you") == replies["thanks"]
    assert call.say("yes") == replies["acknowledge"]
    assert call.say("no that's all, bye") == replies["goodbye"]
    assert call.calls == []


def test_say_that_again_repeats_the_last_answer() -> None:
    call = Call("helpdesk")
    answer = call.say("is email down?")
    assert call.say("sorry, can you repeat that?") == answer


def test_an_unclear_answer_repeats_the_question() -> None:
    call = Call("clinic")
    call.say("I'd like to book an appointment")
    assert call.say("hmm") == f"Sorry, I didn't catch that. {prompt_of(call, 'full_name')}"


# -- the model contract -------------------------------------------------------------------------------
def test_only_tools_offered_in_the_request_are_called() -> None:
    call = Call("helpdesk", offer_tools=False)
    reply = call.say("what's the status of ticket 4591")
    assert call.calls == []
    assert "couldn't check" in reply


def test_the_same_request_gives_the_same_completion() -> None:
    call = Call("clinic")
    call.say("book an appointment for John Smith on thursday at 3 pm")
    request = call.request()
    first = OfflineAgentModel(call.agent).complete(request)
    assert first == OfflineAgentModel(load_agent("clinic")).complete(request)
    assert first.usage.input_tokens > len(call.agent.prompt) // 4


def test_tool_call_ids_are_unique_within_a_call() -> None:
    call = Call("clinic")
    call.say("I need to cancel my appointment. This is Sarah Smyth")
    call.say("yes")
    ids = [c.id for c in call.calls]
    assert len(ids) == 3 and len(set(ids)) == 3


async def test_stream_yields_words_then_tool_calls_then_one_usage() -> None:
    call = Call("clinic")
    call.say("I'd like to book an appointment")
    call.messages.append(ChatMessage(role="user", content="John Smith"))
    for request in (
        call.request(),
        Call("clinic")
        .request()
        .model_copy(update={"messages": (ChatMessage(role="user", content="hello"),)}),
    ):
        expected = call.model.complete(request)
        chunks = [chunk async for chunk in call.model.stream(request)]
        assert isinstance(chunks[-1], Usage) and chunks[-1] == expected.usage
        assert sum(isinstance(c, Usage) for c in chunks) == 1
        assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == expected.text
        assert tuple(c.call for c in chunks if isinstance(c, ToolCallChunk)) == expected.tool_calls
    assert any(isinstance(c, TextDelta) for c in chunks)


def test_hints_that_name_an_unknown_slot_are_rejected_with_the_key_at_fault() -> None:
    agent = load_agent("clinic")
    offline = dict(agent.offline)
    offline["intents"] = [{"name": "x", "keywords": ["x"], "slots": ["colour"], "done": "ok"}]
    with pytest.raises(ValueError, match=r"offline\.intents.*unknown slot 'colour'"):
        OfflineAgentModel(AgentSpec.model_validate({**agent.model_dump(), "offline": offline}))


def test_a_request_implied_by_its_values_alone_starts_a_booking() -> None:
    call = Call("clinic")
    question = call.say("Hello, this is Linh Nguyen, could I get Dr. Chen tomorrow at 9")
    assert question.startswith("Just to confirm: Wednesday, December 2nd at 9 am with Dr. Chen")
    call.say("yes")
    assert call.called()[-1] == (
        "book_appointment",
        {"patient_id": "P1008", "date": "2026-12-02", "time": "09:00", "provider": "Dr. Chen"},
    )


def test_an_agent_without_offline_hints_still_answers_social_turns() -> None:
    bare = AgentSpec(name="bare", display_name="Bare", prompt_file="-", tools_module="-")
    model = OfflineAgentModel(bare)
    request = ChatRequest(model="m", system="", messages=(ChatMessage(role="user", content="hello"),))
    assert model.complete(request).text == "Hello! How can I help you today?"


def test_date_slots_without_a_reference_day_are_rejected() -> None:
    offline = {"slots": {"day": {"kind": "date", "prompt": "Which day?"}}}
    bare = AgentSpec(name="bare", display_name="Bare", prompt_file="-", tools_module="-", offline=offline)
    with pytest.raises(ValueError, match=r"offline\.today: required because slot 'day' holds a date"):
        OfflineAgentModel(bare)


# -- regressions found while labelling the call corpus (sim/corpus) ---------------------------------------
def test_a_hesitation_inside_a_request_phrase_still_matches_it() -> None:
    call = Call("clinic")
    call.say("okay and uh where exactly are you, I've never been there")
    assert call.called() == [("clinic_info", {"topic": "location"})]


def test_of_two_topics_the_one_said_most_then_first_wins() -> None:
    call = Call("clinic")
    call.say("hi, my mother uses a wheelchair, is there accessible parking close to the door")
    assert call.called() == [("clinic_info", {"topic": "parking"})]


def test_a_question_said_first_wins_over_a_request_in_a_side_clause() -> None:
    call = Call("clinic")
    call.say("what are your hours on saturday, in case we need to come in then")
    assert call.called() == [("clinic_info", {"topic": "hours"})]


def test_asking_for_the_earliest_slot_looks_up_slots_before_asking_who_is_calling() -> None:
    call = Call("clinic")
    offered = call.say(
        "I need to see Doctor Ortiz, I'm only free tuesday or thursday mornings before ten, "
        "what's the earliest you've got"
    )
    assert call.called() == [("find_open_slots", {"date": "2026-12-03", "provider": "Dr. Ortiz"})]
    assert offered.startswith("On Thursday, December 3rd I have")  # "before ten" is a limit, not a time


def test_a_slot_picked_from_an_offer_is_booked_at_that_time() -> None:
    call = Call("clinic")
    call.say("hi there, does Doctor Chen have anything open next monday")
    assert call.say("could I get the eight thirty") == prompt_of(call, "full_name")
    assert "Monday, December 7th at 8:30 am with Dr. Chen" in call.say("Jonathan Reyes")
    call = Call("clinic")
    call.say("is Doctor Ortiz available on thursday")
    call.say("eight thirty on thursday is perfect")
    assert "Thursday, December 3rd at 8:30 am" in call.say("Samuel Okonkwo")


def test_the_same_missing_name_spelled_again_is_reported_missing_again() -> None:
    call = Call("clinic")
    call.say("hi, I wanted to check when my next appointment is")
    call.say("Jennifer Walsh")
    assert "couldn't find a patient named Jennifer Walsh" in call.say("um Jennifer, W A L S H")


def test_a_spelled_last_name_alone_completes_the_name_given_before() -> None:
    call = Call("clinic")
    call.say("hi I need to cancel my appointment for next week, it's Stephen Clark")
    reply = call.say("Clarke with an E at the end, C L A R K E")
    assert call.called()[-2:] == [
        ("find_patient", {"full_name": "Stephen Clarke"}),
        ("list_appointments", {"patient_id": "P1007"}),
    ]
    assert "don't see any upcoming appointments" in reply


def test_an_exclamation_after_a_missing_record_is_not_taken_for_a_surname() -> None:
    call = Call("clinic")
    call.say("Hi, I need to cancel my appointment, name's Maria Garcia")
    call.say("May seventeenth, nineteen ninety four")
    call.say("oh shoot sorry, it's May seventeenth nineteen ninety five")
    assert call.called()[-2] == ("find_patient", {"full_name": "Maria Garcia", "date_of_birth": "1995-05-17"})


def test_a_single_date_after_my_appointment_on_names_the_visit_to_move() -> None:
    call = Call("clinic")
    reply = call.say("yeah hi, Daniel Wojcik, W O J C I K, I need to push back my appointment on the 30th")
    assert reply == prompt_of(call, "new_date")
    call.say("uh to january fifth, no sorry the sixth")
    assert call.called()[-1] == ("find_open_slots", {"date": "2027-01-06", "provider": "Dr. Amelia Chen"})


def test_a_caller_asking_for_someone_else_is_understood_as_asking_for_them() -> None:
    call = Call("clinic")
    call.say("hi, I'm calling for my son Oliver Liu, does he already have an appointment this month")
    assert [name for name, _ in call.called()] == ["find_patient", "list_appointments"]


def test_a_ticket_number_is_not_kept_as_the_callers_employee_id() -> None:
    call = Call("helpdesk")
    call.say("oh sorry, it's four six one one, any update")
    call.say("it still doesn't work, I can't open the Finance shared drive")
    assert ("find_employee", {"employee_id": "E4611"}) not in call.called()
    assert ("get_ticket", {"ticket_id": "4611"}) in call.called()


def test_a_ticket_number_said_instead_of_the_id_asked_for_is_looked_up_as_a_ticket() -> None:
    call = Call("helpdesk")
    call.say("Outlook keeps asking me for my password, it's driving me nuts")
    call.say("I think I already have a ticket for this actually, four six three two")
    # the email service is checked first, as for any problem with a named service
    assert call.called() == [("service_status", {"service": "email"}), ("get_ticket", {"ticket_id": "4632"})]


def test_an_employee_id_said_with_a_new_ticket_request_is_not_a_ticket_number() -> None:
    call = Call("helpdesk")
    call.say("yeah can you open a new ticket then, I'm Jon Park, E one oh four two")
    assert call.called() == [("find_employee", {"full_name": "Jon Park", "employee_id": "E1042"})]


def test_a_ticket_for_a_problem_described_just_before_uses_that_description() -> None:
    call = Call("helpdesk")
    call.say("is the S drive down? I can't save anything")
    call.say("okay can you log a ticket for the shared drive then, it's blocking my month end close")
    question = call.say("Rachel Adler")
    assert "I'll open a ticket for Rachel Adler, priority high: I can't save anything." in question


def test_a_long_call_trimmed_to_a_note_keeps_who_is_calling_and_never_reads_the_note_as_speech() -> None:
    call = Call("clinic")
    call.say("hi, I wanted to check my appointment tomorrow")
    call.say("oh, it's Emily Johnston, J O H N S T O N")
    for question in ("where do I park", "do you take Blue Cross", "and what are your hours"):
        call.say(question)
    call.messages.append(ChatMessage(role="user", content="can we move it to tomorrow afternoon, like three"))
    trimmed = ConversationHistory(max_messages=8, keep_first_user_turns=1)
    for message in call.messages:
        trimmed.append(message)
    view = trimmed.for_model()
    assert view[2].content.startswith(NOTE_PREFIX) and "Emily Johnston" in view[2].content
    request = call.request().model_copy(update={"messages": view})
    completion = call.model.complete(request)
    calls = [(c.name, c.args) for c in completion.tool_calls]
    assert calls == [("list_appointments", {"patient_id": "P1010"})]


def test_an_answer_cut_off_mid_stream_is_continued_without_repeating_what_was_heard() -> None:
    call = Call("helpdesk")
    call.say("what's the status of ticket 4591")
    whole = call.messages[-1].content
    said = whole.split(",")[0] + ","
    call.messages.pop()
    request = call.request()
    request = request.model_copy(update={"assistant_prefix": said})
    assert call.model.complete(request).text == whole[len(said) :].lstrip()


def test_is_a_doctor_free_asks_for_slots_without_a_request_word() -> None:
    call = Call("clinic")
    call.say("is Doctor Patel free tomorrow morning")
    assert call.called() == [("find_open_slots", {"date": "2026-12-02", "provider": "Dr. Patel"})]


def test_the_one_on_a_day_names_the_visit_even_when_another_day_is_said() -> None:
    call = Call("clinic")
    question = call.say(
        "this is Ava Wilson's mom, Ava Wilson, she won't need the one on the fifteenth anymore if she's "
        "seen tomorrow, can you cancel that one"
    )
    assert question.startswith("Just to confirm: you'd like to cancel your appointment")
    assert "on Tuesday, December 15th" in question
