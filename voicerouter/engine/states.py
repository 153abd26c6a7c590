"""The turn lifecycle as one explicit table of states and transitions, walkable by a test.

Every transition not in the table is an `IllegalTransition`: the engine never drifts into a state by accident.
"""

from __future__ import annotations

from enum import StrEnum


class TurnState(StrEnum):
    """Where one turn is in its lifecycle (None before it is routed)."""

    ROUTING = "routing"  # the small model is labelling a low-confidence turn (its request is out)
    GENERATING = "generating"  # a model request is out, no output yet
    STREAMING = "streaming"  # the model is producing output
    TOOL_WAIT = "tool_wait"  # tools requested by the model are running
    SPEAKING = "speaking"  # the answer is complete; the caller is still hearing it
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"


class Trigger(StrEnum):
    """What moves a turn from one state to the next."""

    VERIFY_TIER = "verify_tier"  # the classifier is unsure: ask the small model for the tier
    CLASSIFIED = "classified"  # the small model answered: the turn is routed and its model asked
    CLASSIFY_FAILED = "classify_failed"  # the small model failed: routed as unsure, its model asked
    GENERATE = "generate"
    OUTPUT = "output"  # first text or tool call of a model request
    TOOLS = "tools"  # model finished asking for tools
    TOOLS_DONE = "tools_done"
    ANSWERED = "answered"  # model finished without tools; speech still playing
    PLAYED = "played"  # playback finished
    FAIL = "fail"  # request failed or stalled: fall back (generate again) or give up
    GIVE_UP = "give_up"
    INTERRUPT = "interrupt"


class IllegalTransition(Exception):
    """A trigger the table does not allow in the turn's state: a bug in the engine, named."""

    def __init__(self, state: TurnState | None, trigger: Trigger) -> None:
        where = state.value if state else "no turn is open"
        super().__init__(f"turn cannot {trigger.value} while {where}")
        self.state = state
        self.trigger = trigger


_ACTIVE = (
    TurnState.ROUTING,
    TurnState.GENERATING,
    TurnState.STREAMING,
    TurnState.TOOL_WAIT,
    TurnState.SPEAKING,
)

TRANSITIONS: dict[tuple[TurnState | None, Trigger], TurnState] = {
    (None, Trigger.VERIFY_TIER): TurnState.ROUTING,
    (None, Trigger.GENERATE): TurnState.GENERATING,
    (None, Trigger.GIVE_UP): TurnState.SPEAKING,
    (TurnState.ROUTING, Trigger.CLASSIFIED): TurnState.GENERATING,
    (TurnState.ROUTING, Trigger.CLASSIFY_FAILED): TurnState.GENERATING,
    (TurnState.ROUTING, Trigger.GIVE_UP): TurnState.SPEAKING,
    (TurnState.GENERATING, Trigger.OUTPUT): TurnState.STREAMING,
    (TurnState.GENERATING, Trigger.FAIL): TurnState.GENERATING,
    (TurnState.GENERATING, Trigger.GIVE_UP): TurnState.SPEAKING,
    (TurnState.GENERATING, Trigger.ANSWERED): TurnState.SPEAKING,  # an empty answer
    (TurnState.STREAMING, Trigger.TOOLS): TurnState.TOOL_WAIT,
    (TurnState.STREAMING, Trigger.ANSWERED): TurnState.SPEAKING,
    (TurnState.STREAMING, Trigger.FAIL): TurnState.GENERATING,
    (TurnState.STREAMING, Trigger.GIVE_UP): TurnState.SPEAKING,
    (TurnState.TOOL_WAIT, Trigger.TOOLS_DONE): TurnState.GENERATING,
    (TurnState.TOOL_WAIT, Trigger.GIVE_UP): TurnState.SPEAKING,
    (TurnState.SPEAKING, Trigger.PLAYED): TurnState.COMPLETED,
    **{(state, Trigger.INTERRUPT): TurnState.INTERRUPTED for state in _ACTIVE},
}


def transition(state: TurnState | None, trigger: Trigger) -> TurnState:
    """The state `trigger` leads to from `state`; raises IllegalTransition when the table has no such edge."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None


def is_active(state: TurnState | None) -> bool:
    """Whether a turn in `state` is still open (it can be interrupted)."""
    return state in _ACTIVE
