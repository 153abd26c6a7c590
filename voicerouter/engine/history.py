"""The call's one conversation, shared by every tier, and the policy that keeps it bounded.

Policy (documented in README): models see the system prompt, the first `keep_first_user_turns` exchanges
(callers often say who they are and why they call there), and the most recent messages up to
`max_messages`. Cuts fall only at the start of a user turn, so a tool call is never separated from its
result. What the cut removes is folded into one note that lists the tool calls made and their key
results, so identifiers found early (a patient id, a ticket number) stay known.
"""

from __future__ import annotations

import json

from voicerouter.providers.base import ChatMessage

NOTE_PREFIX = "[Earlier in this call, trimmed for length."
MAX_FACT_CHARS = 160


class ConversationHistory:
    """The call's messages in order, and the bounded view of them that every model is given."""

    def __init__(self, *, max_messages: int = 24, keep_first_user_turns: int = 1) -> None:
        self.max_messages = max_messages
        self.keep_first_user_turns = keep_first_user_turns
        self._messages: list[ChatMessage] = []
        self._user_starts: list[int] = []  # indexes of the first few user messages (the kept opening)
        self._view: tuple[ChatMessage, ...] | None = None  # for_model() of the current contents
        self._all: tuple[ChatMessage, ...] | None = None  # messages of the current contents

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """Every message so far (an immutable snapshot, made once per change)."""
        if self._all is None:
            self._all = tuple(self._messages)
        return self._all

    def __getitem__(self, index: int) -> ChatMessage:
        return self._messages[index]

    def append(self, message: ChatMessage) -> None:
        if message.role == "user" and len(self._user_starts) <= self.keep_first_user_turns:
            self._user_starts.append(len(self._messages))
        self._messages.append(message)
        self._view = self._all = None

    def replace(self, index: int, message: ChatMessage) -> None:
        """Rewrite one entry, e.g. an assistant message cut back to what the caller heard."""
        self._messages[index] = message
        self._view = self._all = None

    def last_assistant_text(self) -> str:
        for message in reversed(self._messages):
            if message.role == "assistant" and message.content:
                return message.content
        return ""

    def for_model(self) -> tuple[ChatMessage, ...]:
        """The bounded view every model gets; computed once per change, in time bounded by max_messages."""
        if self._view is None:
            self._view = self._bounded_view()
        return self._view

    def _bounded_view(self) -> tuple[ChatMessage, ...]:
        messages = self._messages
        total = len(messages)
        if total <= self.max_messages:
            return tuple(messages)
        keep = self.keep_first_user_turns
        head_end = self._user_starts[keep] if len(self._user_starts) > keep else 0
        budget = self.max_messages - head_end - 2  # room left after the opening, the note and its reply
        tail_start: int | None = None
        for i in range(total - 1, head_end - 1, -1):
            if total - i > budget and tail_start is not None:
                break
            if messages[i].role == "user":
                tail_start = i  # the earliest turn start that still fits (or the last turn, whole)
                if total - i > budget:
                    break
        if tail_start is None or tail_start <= head_end:
            return tuple(messages)
        note = ChatMessage(role="user", content=self._summarise(messages[head_end:tail_start]))
        ack = ChatMessage(role="assistant", content="Understood.")
        return (*messages[:head_end], note, ack, *messages[tail_start:])

    @staticmethod
    def _summarise(dropped: list[ChatMessage]) -> str:
        turns = sum(1 for m in dropped if m.role == "user")
        facts: list[str] = []
        calls = {c.id: c for m in dropped for c in m.tool_calls}
        for m in dropped:
            if m.role == "tool" and m.tool_call_id in calls:
                call = calls[m.tool_call_id]
                args = json.dumps(call.args, sort_keys=True)
                facts.append(f"{call.name}({args}) -> {m.content[:MAX_FACT_CHARS]}")
        text = f"{NOTE_PREFIX} {turns} caller turns omitted.]"
        if facts:
            text += " Tool results from then: " + " | ".join(facts)
        return text
