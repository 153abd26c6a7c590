"""Preemptive generation: the model starts on the caller's words at a pause, before the end of turn is sure.

The caller's pause is time the model can use: the route and the request are made on the recogniser's words
at the VAD stop. If the turn ends with those same words the request simply becomes the turn's (its output,
held meanwhile, is played back into the turn); if the caller resumes or the words change it is cancelled and
its tokens are counted as waste. Nothing it asks for runs before the turn is confirmed, so no tool, and in
particular no state-changing one, ever runs preemptively. Data and pure helpers; the engine acts on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voicerouter.engine import io
from voicerouter.providers.base import ChatMessage, ChatRequest
from voicerouter.router.policy import RouteDecision

_NOT_WORD = re.compile(r"[^a-z0-9' ]+")


@dataclass
class Speculation:
    """One preemptive request and the model output held back until its turn is confirmed."""

    text: str
    decision: RouteDecision
    model: str
    gen_id: int
    turn_id: int
    started_ms: float
    request: ChatRequest
    held: list[io.Input] = field(default_factory=list)

    def hold(self, item: io.Input) -> None:
        self.held.append(item)

    @property
    def produced_chars(self) -> int:
        """Output so far (text and tool arguments), for the estimate of wasted tokens."""
        chars = 0
        for item in self.held:
            if isinstance(item, io.ModelDelta):
                chars += len(item.text)
            elif isinstance(item, io.ModelToolCall):
                chars += len(item.call.name) + len(str(item.call.args))
        return chars

    @property
    def has_text(self) -> bool:
        return any(isinstance(item, io.ModelDelta) and item.text.strip() for item in self.held)

    def asked_with(self, messages: tuple[ChatMessage, ...]) -> bool:
        """Whether the request saw exactly this conversation (the caller's last words may differ in case
        and punctuation only)."""
        asked = self.request.messages
        return (
            len(asked) == len(messages)
            and asked[:-1] == messages[:-1]
            and same_words(asked[-1].content, messages[-1].content)
        )

    def reported_usage(self) -> io.ModelDone | None:
        return next((item for item in self.held if isinstance(item, io.ModelDone)), None)


def same_words(a: str, b: str) -> bool:
    """Whether two transcripts say the same words (case, punctuation and spacing aside)."""
    return _NOT_WORD.sub(" ", a.lower()).split() == _NOT_WORD.sub(" ", b.lower()).split()
