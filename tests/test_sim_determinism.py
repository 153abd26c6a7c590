"""Replay determinism: the same seed gives the same report in one process or many, and whatever ran before.

Guards the speed work in the replay path (memos shared by every call of a process, a frozen start-up heap,
worker processes): none of it may change a single event or gate number.
"""

from __future__ import annotations

from sim.faults import Faults, ToolFault
from sim.replay import RunOptions, _Context, run_scripts
from sim.report import GATE_KEYS, build_report
from sim.script import CallScript, UserTurn
from voicerouter.events import ExpectedToolCall, Label

_CALLS = {
    "book": (
        "clinic",
        (
            "hi there",
            "i'd like to book an appointment, it's sarah smyth",
            "december third at half past two",
            "yes",
            "thanks bye",
        ),
    ),
    "cancel-missing": (
        "clinic",
        ("I want to cancel my appointment, my name is Jon Smyth", "sorry it's John Smith", "no, wait", "bye"),
    ),
    "hours": ("clinic", ("are you open on saturday", "where can I park?", "thank you", "no that's all, bye")),
    "ticket": (
        "helpdesk",
        ("what's the status of ticket four five nine zero", "sorry, it's four five nine one", "thanks, bye"),
    ),
    "locked-out": ("helpdesk", ("my employee id is e one oh four two and I'm locked out", "yes", "bye")),
    "close": ("helpdesk", ("please close ticket 4591", "no, wait", "okay yes close it", "bye")),
}
TICKET_LABEL = Label(
    turn=2, tier="triage", tool=ExpectedToolCall(name="get_ticket", args={"ticket_id": "4591"})
)


def _scripts() -> list[CallScript]:
    scripts = []
    for call_id, (agent, texts) in _CALLS.items():
        turns = [UserTurn(text=text, gap_ms=300.0 + 150.0 * (i % 3)) for i, text in enumerate(texts)]
        if call_id == "ticket":
            turns[1].label = TICKET_LABEL
        scripts.append(CallScript(call_id=call_id, agent=agent, caller="test", turns=turns, source="test"))
    return scripts


def _options(seed: int, *, keep_events: bool = False) -> RunOptions:
    # ASR noise and a flaky tool make the run depend on each call's random stream, as real runs do.
    faults = Faults(wer=0.1, tools=[ToolFault(tool="*", probability=0.3, extra_latency_ms=400.0)])
    return RunOptions(seed=seed, faults=faults, keep_events=keep_events)


def _gate_and_first_tokens(report: dict) -> tuple[dict, dict]:
    gate = {key: report[key] for key in ("calls", "turns", *GATE_KEYS)}
    return gate, {call["call_id"]: call["first_token_ms"] for call in report["per_call"]}


def test_one_and_two_workers_give_the_same_report_for_the_same_seed() -> None:
    scripts = _scripts()
    one = build_report(run_scripts(scripts, _options(seed=3), workers=1))
    two = build_report(run_scripts(scripts, _options(seed=3), workers=2))
    assert one["turns"] == sum(len(s.turns) for s in scripts)
    assert _gate_and_first_tokens(one) == _gate_and_first_tokens(two)
    assert one["per_call"] == two["per_call"]


def test_a_different_seed_changes_the_latencies() -> None:
    scripts = _scripts()
    _, first_tokens = _gate_and_first_tokens(build_report(run_scripts(scripts, _options(seed=3))))
    _, other_seed = _gate_and_first_tokens(build_report(run_scripts(scripts, _options(seed=4))))
    assert first_tokens.keys() == other_seed.keys()
    assert first_tokens != other_seed


def test_a_call_replays_the_same_whatever_ran_before_it_in_the_process() -> None:
    """The offline model and its understanding memos serve every call of a process; a memo that kept
    anything call-specific would make a call's events depend on the calls replayed before it."""
    scripts = _scripts()

    def events_by_call(order: list[CallScript], *, fresh: bool) -> dict[str, list[str]]:
        shared = _Context(_options(seed=3, keep_events=True))
        out = {}
        for script in order:
            context = _Context(_options(seed=3, keep_events=True)) if fresh else shared
            out[script.call_id] = [event.model_dump_json() for event in context.run(script).events]
        return out

    alone = events_by_call(scripts, fresh=True)
    assert events_by_call(scripts, fresh=False) == alone
    assert events_by_call(list(reversed(scripts)), fresh=False) == alone
