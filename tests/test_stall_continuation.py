"""A stream that stalls mid-answer is continued, not restarted: the next model gets what the caller already
heard as the assistant's partial turn, and the caller hears one answer with nothing said twice.

On the engine's virtual clock, and live through the real SDKs against the local Anthropic and OpenAI
protocol servers (with the offline model as the last fallback)."""

from __future__ import annotations

import asyncio

from tests.engine_kit import AGENT, FixedClassifier, drain, make_engine, make_tools, start_generation
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.fixtures import anthropic_server_fixture, openai_server_fixture  # noqa: F401
from tests.servers.openai_server import OpenAIServer
from tests.servers.scripted import stall_midway, text
from voicerouter import events as ev
from voicerouter.call.session import CallSession
from voicerouter.clock import RealClock
from voicerouter.config import VoicerouterConfig, load_config
from voicerouter.engine import CallEngine, io
from voicerouter.lexicon.continuation import after_echo, continue_from, echo_of, join
from voicerouter.providers.base import ChatMessage, ChatRequest, ToolCall, Usage
from voicerouter.providers.factory import ProviderPool, key_availability
from voicerouter.providers.offline.model import OfflineAgentModel
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router
from voicerouter.toolkit import ToolOutcome

HEARD = "Ticket 4591 is about your monitor,"


def _spoken(actions: list[io.Action]) -> str:
    return "".join(a.text for a in actions if isinstance(a, io.Speak))


def _stalled_after_heard() -> tuple[CallEngine, object, io.StartGeneration, list[io.Action]]:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    first = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=first.gen_id, text="Ticket 4591 is about"))
    engine.receive(io.ModelDelta(gen_id=first.gen_id, text=" your monitor,"))
    clock.advance(1600)  # the stream goes silent past the idle budget
    engine.check_timers()
    actions = drain(engine)[0]
    return engine, clock, start_generation(actions), actions


# -- the engine, on its virtual clock --


def test_the_fallback_gets_the_heard_words_as_the_assistants_partial_turn() -> None:
    _, _, retry, actions = _stalled_after_heard()
    assert _spoken(actions) == HEARD  # the cut-off sentence is said as far as it got
    assert retry.request.assistant_prefix == HEARD
    assert retry.request.messages[-1] == ChatMessage(role="user", content="status of ticket 4591")
    assert "Continue from there without repeating it" in retry.request.system


def test_a_fallback_that_starts_the_answer_again_is_heard_once() -> None:
    engine, _, retry, before = _stalled_after_heard()
    for piece in ("Ticket", " 4591 is", " about your", " monitor, and it", " is open."):
        engine.receive(io.ModelDelta(gen_id=retry.gen_id, text=piece))
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage()))
    actions, events = drain(engine)
    assert _spoken(before) + _spoken(actions) == HEARD + " and it is open."
    final = next(e for e in events if isinstance(e, ev.AgentText) and e.final)
    assert final.text == "Ticket 4591 is about your monitor, and it is open."


def test_a_fallback_that_continues_mid_sentence_is_spaced_as_one_answer() -> None:
    engine, _, retry, _ = _stalled_after_heard()
    engine.receive(io.ModelDelta(gen_id=retry.gen_id, text="and it is open."))
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage()))
    final = next(e for e in drain(engine)[1] if isinstance(e, ev.AgentText) and e.final)
    assert final.text == "Ticket 4591 is about your monitor, and it is open."


def test_a_fallback_that_only_repeats_what_was_heard_adds_nothing() -> None:
    engine, _, retry, _ = _stalled_after_heard()
    engine.receive(io.ModelDelta(gen_id=retry.gen_id, text="Ticket 4591 is about your"))
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage()))
    actions, events = drain(engine)
    assert _spoken(actions) == ""
    final = next(e for e in events if isinstance(e, ev.AgentText) and e.final)
    assert final.text == HEARD


def test_a_second_stall_before_any_output_still_hands_the_heard_words_on() -> None:
    engine, clock, retry, _ = _stalled_after_heard()
    clock.advance(1600)  # the fallback never says a word
    engine.check_timers()
    third = start_generation(drain(engine)[0])
    assert third.model != retry.model
    assert third.request.assistant_prefix == HEARD


def test_after_a_tool_step_only_the_current_answer_is_the_partial_turn() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    first = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=first.gen_id, text="Let me look that up. "))
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=first.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=first.gen_id, usage=Usage()))
    run = next(a for a in drain(engine)[0] if isinstance(a, io.RunTool))
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=ToolOutcome(ok=True, result={"s": "open"})))
    second = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=second.gen_id, text="It is open,"))
    clock.advance(1600)
    engine.check_timers()
    retry = start_generation(drain(engine)[0])
    assert retry.request.assistant_prefix == "It is open,"  # the first step's words are in the history


# -- the text rules --


def test_echo_detection_waits_while_the_words_match_and_decides_once_they_do_not() -> None:
    assert echo_of(HEARD, "Ticket 45") == "maybe"
    assert echo_of(HEARD, "ticket 4591 IS about") == "maybe"
    assert echo_of(HEARD, "Ticket 4591 is about your monitor, and") == "echo"
    assert echo_of(HEARD, "and it is open") == "new"
    assert echo_of(HEARD, "Ticket 4592") == "new"
    assert after_echo(HEARD, "Ticket 4591 is about your monitor, and it") == " and it"
    assert join("monitor,", "and") == " and" and join("monitor", ", and") == ", and"
    assert join("monitor ", "and") == "and"


def test_the_offline_model_continues_its_own_answer_and_starts_a_sentence_after_foreign_words() -> None:
    whole = "We're open Monday to Friday, eight to six."
    assert continue_from("We're open Monday", whole) == "to Friday, eight to six."
    model = OfflineAgentModel(AGENT)
    request = ChatRequest(model="offline", system="", messages=(ChatMessage(role="user", content="hello"),))
    answer = model.complete(request).text
    assert answer
    cut = " ".join(answer.split()[:2])
    assert model.complete(request.model_copy(update={"assistant_prefix": cut})).text == (
        answer[len(cut) :].lstrip()
    )
    foreign = model.complete(request.model_copy(update={"assistant_prefix": "We open at nine"})).text
    assert foreign == ". " + answer


# -- live, through the real SDKs --

ENV = {"ANTHROPIC_API_KEY": "test-key", "OPENAI_API_KEY": "test-key"}


def _config(anthropic: AnthropicServer, openai: OpenAIServer, chain: list[str]) -> VoicerouterConfig:
    config = load_config()
    models = dict(config.models)
    models["claude-haiku"] = models["claude-haiku"].model_copy(update={"base_url": anthropic.base_url})
    models["gpt-mini"] = models["gpt-mini"].model_copy(update={"base_url": openai.base_url})
    routing = config.routing.model_copy(update={"first_token_budget_ms": 400, "triage": chain})
    return config.model_copy(update={"models": models, "routing": routing})


async def _answer(config: VoicerouterConfig, question: str) -> tuple[str, list[ev.Event]]:
    """One turn through a live session; the text the caller was sent to hear, and the events."""
    events: list[ev.Event] = []
    spoken: list[str] = []
    done = asyncio.Event()

    def on_event(event: ev.Event) -> None:
        events.append(event)
        if isinstance(event, ev.TurnCompleted):
            done.set()

    def on_action(action: object) -> None:
        if isinstance(action, io.Speak):
            spoken.append(action.text)

    router = Router(config, FixedClassifier("triage"), HealthBoard(config.health), key_availability(ENV))  # type: ignore[arg-type]
    tools = make_tools()
    engine = CallEngine(call_id="live1", agent=AGENT, config=config, router=router, tools=tools,
                        clock=RealClock(), greet=False)  # fmt: skip
    pool = ProviderPool(config, ENV)
    session = CallSession(engine, pool, tools, on_event=on_event, on_action=on_action)
    try:
        session.feed(io.Transcript(text=question))
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await session.close()
        await pool.aclose()
    return "".join(spoken), events


async def test_a_stalled_anthropic_stream_is_continued_by_openai_from_the_heard_words(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    anthropic_server.script(stall_midway(after_deltas=4, reply=text("We open at nine on weekdays.")))
    openai_server.script(text("on weekdays and at ten on Saturdays."))
    config = _config(anthropic_server, openai_server, ["claude-haiku", "gpt-mini"])
    spoken, events = await _answer(config, "when do you open")
    assert spoken == "We open at nine on weekdays and at ten on Saturdays."
    failed = next(e for e in events if isinstance(e, ev.ProviderFailed))
    assert "stalled" in failed.error and failed.fallback_to == "gpt-mini"
    messages = openai_server.requests[-1].body["messages"]
    assert messages[-1] == {"role": "assistant", "content": "We open at nine"}
    assert messages[-2] == {"role": "user", "content": "when do you open"}


async def test_a_stalled_openai_stream_is_continued_by_anthropic_as_a_prefilled_assistant_turn(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    openai_server.script(stall_midway(after_deltas=4, reply=text("We open at nine on weekdays.")))
    anthropic_server.script(text(" on weekdays and at ten on Saturdays."))
    config = _config(anthropic_server, openai_server, ["gpt-mini", "claude-haiku"])
    spoken, events = await _answer(config, "when do you open")
    assert spoken == "We open at nine on weekdays and at ten on Saturdays."
    last = anthropic_server.requests[-1].body["messages"][-1]
    assert last == {"role": "assistant", "content": [{"type": "text", "text": "We open at nine"}]}
    assert not [e for e in events if isinstance(e, ev.ProviderFailed) and e.model == "claude-haiku"]


async def test_the_offline_fallback_finishes_the_answer_the_stalled_model_began(
    anthropic_server: AnthropicServer, openai_server: OpenAIServer
) -> None:
    offline_only = _config(anthropic_server, openai_server, ["offline"])
    whole, _ = await _answer(offline_only, "hello")
    words = whole.split()
    assert len(words) > 4, whole
    anthropic_server.script(stall_midway(after_deltas=3, reply=text(whole)))
    config = _config(anthropic_server, openai_server, ["claude-haiku", "offline"])
    spoken, events = await _answer(config, "hello")
    assert spoken == whole  # one answer: the first three words from one model, the rest from the other
    assert any(isinstance(e, ev.ProviderFailed) and e.fallback_to == "offline" for e in events)
