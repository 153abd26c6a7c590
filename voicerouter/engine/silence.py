"""The silent caller: after the agent has finished speaking, how long to wait before asking whether anyone is
still there, and when to give up politely. Sans-I/O: times in, decisions out; the engine speaks them.
"""

from __future__ import annotations

from typing import Literal

REPROMPT = "Are you still there?"
SILENT_GOODBYE = "I haven't heard anything, so I'll end the call now. Please call back any time. Goodbye."

SilenceStep = Literal["reprompt", "hang_up"]


class SilenceWatch:
    """Counts the caller's silence from the end of the agent's speech; `after_ms` 0 turns it off.

    `reprompts` is how many times to ask "are you still there?" before the goodbye; any caller speech
    resets the count."""

    def __init__(self, *, after_ms: int, reprompts: int) -> None:
        self.after_ms = after_ms
        self.reprompts = reprompts
        self.deadline_ms: float | None = None
        self.asked = 0
        self.closing = False  # the goodbye is being said: hang up once it has been heard

    def agent_finished(self, now_ms: float) -> None:
        """The caller has heard everything the agent said: the silence starts now."""
        if self.after_ms > 0 and not self.closing:
            self.deadline_ms = now_ms + self.after_ms

    def caller_spoke(self) -> None:
        self.deadline_ms = None
        self.asked = 0
        self.closing = False

    def agent_busy(self) -> None:
        """A turn is open (the agent is thinking or speaking): nobody is waiting on the caller."""
        self.deadline_ms = None

    def due(self, now_ms: float) -> SilenceStep | None:
        """What to say when the silence ran out (then wait for the caller again), or None."""
        if self.deadline_ms is None or now_ms < self.deadline_ms:
            return None
        self.deadline_ms = None
        if self.asked < self.reprompts:
            self.asked += 1
            return "reprompt"
        self.closing = True
        return "hang_up"
