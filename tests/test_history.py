"""The bounded conversation: what every model sees once a call grows long."""

from __future__ import annotations

from voicerouter.engine.history import NOTE_PREFIX, ConversationHistory
from voicerouter.providers.base import ChatMessage, ToolCall


def _turn(history: ConversationHistory, i: int, with_tool: bool = False) -> None:
    history.append(ChatMessage(role="user", content=f"user {i}"))
    if with_tool:
        call = ToolCall(id=f"c{i}", name="find_patient", args={"full_name": f"Name {i}"})
        history.append(ChatMessage(role="assistant", content="", tool_calls=(call,)))
        history.append(
            ChatMessage(role="tool", tool_call_id=f"c{i}", name="find_patient", content=f'{{"id": "P{i}"}}')
        )
    history.append(ChatMessage(role="assistant", content=f"answer {i}"))


def test_short_conversations_are_sent_whole() -> None:
    history = ConversationHistory(max_messages=24)
    for i in range(5):
        _turn(history, i)
    assert history.for_model() == history.messages


def test_long_conversations_keep_the_opening_the_recent_turns_and_a_note_of_tool_results() -> None:
    history = ConversationHistory(max_messages=12, keep_first_user_turns=1)
    _turn(history, 0)
    for i in range(1, 20):
        _turn(history, i, with_tool=(i == 2))
    view = history.for_model()
    assert len(view) <= 12
    assert view[0].content == "user 0" and view[1].content == "answer 0"  # the caller's opening stays
    note = view[2]
    assert note.role == "user" and note.content.startswith(NOTE_PREFIX)
    assert (
        'find_patient({"full_name": "Name 2"}) -> {"id": "P2"}' in note.content
    )  # ids found early stay known
    assert view[-1].content == "answer 19"
    # the cut falls at the start of a user turn: every tool result still follows its call
    for i, message in enumerate(view):
        if message.role == "tool":
            assert any(c.id == message.tool_call_id for c in view[i - 1].tool_calls)
    assert view[4].role == "user"


def test_one_huge_turn_is_kept_whole_rather_than_split() -> None:
    history = ConversationHistory(max_messages=6, keep_first_user_turns=0)
    _turn(history, 0)
    history.append(ChatMessage(role="user", content="big"))
    for i in range(8):
        call = ToolCall(id=f"x{i}", name="get_ticket", args={"ticket_id": str(i)})
        history.append(ChatMessage(role="assistant", tool_calls=(call,)))
        history.append(ChatMessage(role="tool", tool_call_id=f"x{i}", name="get_ticket", content="{}"))
    view = history.for_model()
    assert [m for m in view if m.role == "tool"] == [m for m in history.messages if m.role == "tool"]
