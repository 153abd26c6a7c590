"""Scores one simulated call against its labels: routing, tool arguments, refusals, latency and cost.

Definitions (also in README): first token = end of the caller's turn to the agent's first token;
tool-arg accuracy = expected calls made with the right name and normalised arguments (and answered: a call
that timed out did not do its job, unless the turn is labelled `unavailable`) over expected calls plus wrong
extra calls; refusal rate = missing-record turns where the agent said it could not find the record and
invented none, over such turns whose lookup answered; a lookup that timed out makes the turn an
`unavailable` one, right when the agent says it could not check and invents nothing. "Invented" = the
answer asserts record details that no tool returned and the caller never said (sim/details.py).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.details import as_text, unsupported_details
from sim.runner import CallResult
from voicerouter import events as ev
from voicerouter.agent import load_agent
from voicerouter.events import Label

MUTATING_PREFIXES = ("book", "reschedule", "cancel", "create", "close", "reset", "update", "transfer")
_REFUSAL = re.compile(
    r"(couldn'?t|could not|can'?t|cannot|unable to|wasn'?t able to|didn'?t|did not|don'?t|do not)\s+"
    r"(find|locate|see|match)|no (record|appointment|ticket|patient|employee|account|match)s?\b|"
    r"not (able to find|in our (system|records))|doesn'?t (exist|match)|there is no|there's no",
    re.IGNORECASE,
)
_COULD_NOT_CHECK = re.compile(
    r"(couldn'?t|could not|can'?t|cannot|unable to|wasn'?t able to) (check|reach|look)", re.IGNORECASE
)


def says_not_found(text: str) -> bool:
    return bool(_REFUSAL.search(text))


def normalise_value(value: Any) -> str:
    """Compare arguments as people would: case, spacing, leading zeros and number formats don't matter."""
    text = str(value).strip().lower()
    text = re.sub(r"\s+", " ", text)
    if re.fullmatch(r"\d{1,2}:\d{2}(:00)?", text):
        hour, minute = text.split(":")[:2]
        return f"{int(hour):02d}:{minute}"
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        return str(int(float(text)))
    return text


def args_match(
    expected: dict[str, Any],
    actual: dict[str, Any],
    canonical: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> bool:
    """Every expected argument present with an equal normalised value; extra optional args are fine.
    `canonical` (the agent's tools' own reading of their arguments) makes two names of one record equal."""
    if canonical is not None:
        expected, actual = canonical(expected), canonical(actual)
    return all(k in actual and normalise_value(v) == normalise_value(actual[k]) for k, v in expected.items())


@functools.lru_cache(maxsize=32)
def canonical_args_of(agent: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The agent's tools module's `canonical_args`, if it has one (and the agent is a shipped one)."""
    try:
        name = load_agent(agent).tools_module
        module = importlib.import_module(name) if name else None
    except Exception:
        return None
    found = getattr(module, "canonical_args", None)
    return found if callable(found) else None


@dataclass
class TurnScore:
    turn: int
    text: str
    heard: str
    tier_expected: str | None
    tier_routed: str | None
    model: str | None
    expected_tool: dict[str, Any] | None
    tool_calls: list[dict[str, Any]]
    tool_correct: bool | None
    wrong_extra_calls: int
    refusal_expected: bool
    refused: bool | None
    invented: bool | None
    unavailable_expected: bool
    first_token_ms: int | None
    cost_usd: float
    interrupted: bool
    fallbacks: int
    answer: str
    mistakes: list[str] = field(default_factory=list)
    said_could_not_check: bool | None = None
    invented_details: list[str] = field(default_factory=list)
    first_audio_ms: int | None = None  # the caller's end of speech to the agent's first audio
    first_answer_audio_ms: int | None = (
        None  # ... to the first audio of the answer (after any acknowledgement)
    )


@dataclass
class CallScore:
    call_id: str
    agent: str
    source: str
    turns: list[TurnScore]
    cost_usd: float
    word_errors: int
    reference_words: int
    interruptions: int
    fallbacks: int
    timed_out_tools: int
    seed: int = 0
    faults_fired: list[str] = field(default_factory=list)
    cassette_hits: int = 0
    cassette_misses: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # live runs: each provider request timed
    events: list[ev.Event] = field(default_factory=list)  # kept only when a run records its calls
    preempted_turns: int = 0  # turns answered by a request started at the caller's pause
    discarded: int = 0  # preemptive requests cancelled (the caller went on, or said something else)
    wasted_tokens: int = 0
    wasted_cost_usd: float = 0.0


def _by_turn(events: list[ev.Event]) -> dict[int, list[ev.Event]]:
    grouped: dict[int, list[ev.Event]] = {}
    for event in events:
        turn_id = getattr(event, "turn_id", None)
        if isinstance(turn_id, int) and turn_id > 0:
            grouped.setdefault(turn_id, []).append(event)
    return grouped


def says_could_not_check(text: str) -> bool:
    return bool(_COULD_NOT_CHECK.search(text))


def score_call(result: CallResult, labels: dict[int, Label]) -> CallScore:
    grouped = _by_turn(result.events)
    turns: list[TurnScore] = []
    sources: list[str] = []  # what tools returned and the caller said so far: details an answer may state
    total_cost = 0.0
    interruptions = fallbacks = timed_out = 0
    for turn_id in sorted(grouped):
        events = grouped[turn_id]
        label = labels.get(turn_id)
        started = next((e for e in events if isinstance(e, ev.TurnStarted)), None)
        route = [e for e in events if isinstance(e, ev.RouteDecided)]
        completed = next((e for e in events if isinstance(e, ev.TurnCompleted)), None)
        calls = [e for e in events if isinstance(e, ev.ToolCalled)]
        results = [e for e in events if isinstance(e, ev.ToolResult)]
        final = next((e for e in reversed(events) if isinstance(e, ev.AgentText) and e.final), None)
        interrupted = any(isinstance(e, ev.TurnInterrupted) for e in events)
        turn_fallbacks = sum(1 for e in events if isinstance(e, ev.ProviderFailed))
        answer = final.text if final else ""
        cost = completed.cost_usd if completed else 0.0
        total_cost += cost
        interruptions += interrupted
        fallbacks += turn_fallbacks
        timed_out += sum(1 for r in results if r.timed_out)

        clean, heard = result.transcripts.get(turn_id, (started.text if started else "", ""))
        sources.extend([clean, heard, started.text if started else ""])
        sources.extend(as_text(c.args) for c in calls)
        sources.extend(as_text(r.result) for r in results if r.ok and r.result is not None)
        sources.extend(r.error for r in results if r.error and not r.timed_out)
        timed_out_tools = {r.name for r in results if r.timed_out}
        answered_tools = {r.name for r in results if not r.timed_out}

        expected = label.tool.model_dump() if label and label.tool else None
        canonical = canonical_args_of(result.agent) if expected is not None else None
        tool_correct: bool | None = None
        wrong_extra = 0
        unavailable_label = bool(label and label.unavailable)
        if expected is not None:
            matching = [
                c
                for c in calls
                if c.name == expected["name"] and args_match(expected["args"], c.args, canonical)
            ]
            lost = expected["name"] in timed_out_tools and expected["name"] not in answered_tools
            tool_correct = bool(matching) and (unavailable_label or not lost)
            wrong_extra = sum(
                1
                for c in calls
                if c.name == expected["name"] and not args_match(expected["args"], c.args, canonical)
            )
        elif label is not None:
            wrong_extra = sum(1 for c in calls if c.name.startswith(MUTATING_PREFIXES))

        # a missing-record turn whose lookup timed out cannot be refused: it is judged as unavailable
        unavailable_expected = unavailable_label or bool(label and label.refusal and timed_out_tools)
        refusal_expected = bool(label and label.refusal) and not unavailable_expected
        refused = invented = could_not_check = None
        invented_details: list[str] = []
        if refusal_expected or unavailable_expected:
            invented_details = sorted(unsupported_details(answer, sources))
            invented = bool(invented_details)
            refused = says_not_found(answer)
            could_not_check = says_could_not_check(answer)
        turns.append(
            TurnScore(
                turn=turn_id,
                text=clean,
                heard=heard,
                tier_expected=label.tier if label else None,
                tier_routed=route[-1].tier if route else None,
                model=completed.model if completed else None,
                expected_tool=expected,
                tool_calls=[{"name": c.name, "args": c.args} for c in calls],
                tool_correct=tool_correct,
                wrong_extra_calls=wrong_extra,
                refusal_expected=refusal_expected,
                refused=refused,
                invented=invented,
                unavailable_expected=unavailable_expected,
                first_token_ms=completed.first_token_ms if completed else None,
                cost_usd=cost,
                interrupted=interrupted,
                fallbacks=turn_fallbacks,
                answer=answer,
                mistakes=result.mistakes.get(turn_id, []),
                said_could_not_check=could_not_check,
                invented_details=invented_details,
                first_audio_ms=_since_speech_end(result, result.first_audio_ms, turn_id),
                first_answer_audio_ms=_since_speech_end(result, result.first_answer_audio_ms, turn_id),
            )
        )
    return CallScore(
        call_id=result.call_id,
        agent=result.agent,
        source=result.source,
        turns=turns,
        cost_usd=total_cost,
        word_errors=result.word_errors,
        reference_words=result.reference_words,
        interruptions=interruptions,
        fallbacks=fallbacks,
        timed_out_tools=timed_out,
        faults_fired=list(result.faults_fired),
        cassette_hits=result.cassette_hits,
        cassette_misses=list(result.cassette_misses),
        **_preemption(result.events),
    )


def _preemption(events: list[ev.Event]) -> dict[str, Any]:
    discarded = [e for e in events if isinstance(e, ev.LlmDiscarded)]
    return {
        "preempted_turns": sum(
            1 for e in events if isinstance(e, ev.RouteDecided) and e.reason.endswith("started at the pause")
        ),
        "discarded": len(discarded),
        "wasted_tokens": sum(e.tokens_in + e.tokens_out for e in discarded),
        "wasted_cost_usd": sum(e.cost_usd for e in discarded),
    }


def _since_speech_end(result: CallResult, stage_ms: dict[int, float], turn_id: int) -> int | None:
    """How long after the caller stopped speaking a stage of turn `turn_id` came (None: it never did)."""
    end = result.speech_end_ms.get(turn_id)
    at = stage_ms.get(turn_id)
    return round(at - end) if end is not None and at is not None else None
