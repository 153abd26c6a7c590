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
    def __init__(self, *, max_messages: int = 24, keep_first_user_turns: int = 1) -> None:
        self.max_messages = max_messages
        self.keep_first_user_turns = keep_first_user_turns
        self._messages: list[ChatMessage] = []

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        return tuple(self._messages)

    def append(self, message: ChatMessage) -> None:
        self._messages.append(message)

    def replace(self, index: int, message: ChatMessage) -> None:
        """Rewrite one entry, e.g. an assistant message cut back to what the caller heard."""
        self._messages[index] = message

    def last_assistant_text(self) -> str:
        for message in reversed(self._messages):
            if message.role == "assistant" and message.content:
                return message.content
        return ""

    def for_model(self) -> tuple[ChatMessage, ...]:
        """The bounded view every model gets."""
        messages = self._messages
        if len(messages) <= self.max_messages:
            return tuple(messages)
        starts = [i for i, m in enumerate(messages) if m.role == "user"]
        head_end = starts[self.keep_first_user_turns] if len(starts) > self.keep_first_user_turns else 0
        budget = self.max_messages - head_end - 1
        tail_start = next((i for i in starts if i >= head_end and len(messages) - i <= budget), None)
        if tail_start is None:  # one huge turn: keep it whole rather than split tool pairs
            tail_start = starts[-1] if starts else 0
        if tail_start <= head_end:
            return tuple(messages)
        dropped = messages[head_end:tail_start]
        note = ChatMessage(role="user", content=self._summarise(dropped))
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
