"""Per-turn bookkeeping: the state, the model attempts, the tools in flight, what was spoken and heard.

Data only; the engine in call.py decides what happens to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voicerouter.engine.states import TurnState
from voicerouter.providers.base import ToolCall
from voicerouter.router.policy import RouteDecision

_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[-\u2013\u2014](?=\s)")
SOFT_BREAK_CHARS = 140
FIRST_CLAUSE_MIN_WORDS = 4  # the answer's first words go to speech at a clause end once this many are in


@dataclass
class PendingTool:
    """A tool call the engine asked to run and is still waiting for, with its deadline."""

    call: ToolCall
    started_ms: float
    deadline_ms: float


@dataclass
class Turn:
    """One agent turn: its state in the table, the models tried, the tools out, what was said and heard."""

    turn_id: int
    text: str
    started_ms: float
    state: TurnState | None = None
    decision: RouteDecision | None = None
    chain: tuple[str, ...] = ()
    tried: list[str] = field(default_factory=list)
    model: str | None = None  # config name of the model answering now
    gen_id: int | None = None
    gen_started_ms: float = 0.0
    gen_has_output: bool = False
    first_token_deadline_ms: float | None = None
    idle_deadline_ms: float | None = None
    deadline_ms: float = 0.0
    steps: int = 0
    step_text: str = ""
    step_tool_calls: list[ToolCall] = field(default_factory=list)
    tools: dict[str, PendingTool] = field(default_factory=dict)
    tool_seq: int = 0
    spoken: str = ""  # everything this turn asked to speak, in order
    answer_from: int = 0  # where in `spoken` the answer of the current model step (and its fallbacks) began
    echo_check: str | None = None  # a continuation may start by repeating this heard text: held until known
    join_next: bool = False  # the next text released continues `spoken`: space it as one answer
    ack_text: str = ""  # the acknowledgement that opens `spoken`, if one was said
    unspoken: str = ""  # text received but not yet handed to Speak (sentence chunking)
    heard_chars: int = 0
    first_token_ms: int | None = None
    history_start: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_in: int = 0
    cost_usd: float = 0.0  # the models' cost; speech costs are kept apart
    stt_cost_usd: float = 0.0
    tts_cost_usd: float = 0.0

    def take_sentences(self, flush: bool = False) -> str:
        """The longest prefix of unspoken text that ends a sentence (all of it when flushing); before any
        of the answer was spoken, its first clause of a few words will do."""
        if flush:
            out, self.unspoken = self.unspoken, ""
            return out
        last_end = -1
        for match in _SENTENCE_END.finditer(self.unspoken):
            last_end = match.end()
        if last_end < 0 and len(self.spoken) == len(self.ack_text):
            last_end = self._first_clause_end()
        if last_end < 0 and len(self.unspoken) > SOFT_BREAK_CHARS:
            last_end = self.unspoken.rfind(", ") + 2 if ", " in self.unspoken else -1
        if last_end <= 0:
            return ""
        out, self.unspoken = self.unspoken[:last_end], self.unspoken[last_end:]
        return out

    def _first_clause_end(self) -> int:
        """Where the answer's first clause of a few words ends (after its punctuation), or -1: the caller
        hears the answer start without waiting for its whole first sentence."""
        for match in _CLAUSE_END.finditer(self.unspoken):
            if len(self.unspoken[: match.start()].split()) >= FIRST_CLAUSE_MIN_WORDS:
                return (
                    match.end() + 1 if self.unspoken[match.end() : match.end() + 1].isspace() else match.end()
                )
        return -1

    def split_heard(self) -> tuple[str, str]:
        """What the caller heard of the acknowledgement, and of the answer after it."""
        heard = self.heard_text()
        if not self.ack_text:
            return "", heard
        return heard[: len(self.ack_text)].strip(), heard[len(self.ack_text) :].strip()

    def heard_text(self) -> str:
        """What the caller actually heard, cut back to a whole word."""
        heard = self.spoken[: self.heard_chars]
        if self.heard_chars < len(self.spoken) and heard and not self.spoken[self.heard_chars].isspace():
            heard = heard[: heard.rfind(" ") + 1] if " " in heard else ""
        return heard.strip()
