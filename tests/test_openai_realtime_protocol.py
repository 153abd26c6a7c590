"""The sans-I/O side of the Realtime provider: server events as plain dicts in, typed outputs out."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from voicerouter.providers.base import ChatMessage, ToolCall
from voicerouter.providers.realtime.outputs import (
    AudioDelta,
    FunctionCall,
    ResponseDone,
    SessionError,
    SpeechStarted,
    SpeechStopped,
    classify_error,
    retry_after_s,
)
from voicerouter.providers.realtime.protocol import RealtimeProtocol
from voicerouter.providers.realtime.requests import history_items, response_create


def call_added(call_id: str = "call_1", name: str = "book") -> dict[str, Any]:
    item = {"id": "item_1", "type": "function_call", "call_id": call_id, "name": name, "arguments": ""}
    return {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}


def args_delta(delta: str) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "response_id": "resp_1",
        "item_id": "item_1",
        "call_id": "call_1",
        "delta": delta,
    }


def call_done(status: str, arguments: str = "") -> dict[str, Any]:
    item = {"id": "item_1", "type": "function_call", "call_id": "call_1", "name": "book", "status": status}
    if arguments:
        item["arguments"] = arguments
    return {"type": "response.output_item.done", "response_id": "resp_1", "output_index": 0, "item": item}


def response_done(status: str, **details: Any) -> dict[str, Any]:
    response = {"id": "resp_1", "status": status, "status_details": details or None, "usage": None}
    return {"type": "response.done", "response": response}


def test_function_call_arguments_are_assembled_from_fragments_when_the_item_completes() -> None:
    protocol = RealtimeProtocol()
    outputs = []
    for event in [call_added(), args_delta('{"slot": '), args_delta('"09:00"}'), call_done("completed")]:
        outputs += protocol.receive(event)
    assert outputs == [
        FunctionCall(
            response_id="resp_1", item_id="item_1", call_id="call_1", name="book", args={"slot": "09:00"}
        )
    ]


def test_a_function_call_cut_off_by_a_cancel_is_never_emitted() -> None:
    protocol = RealtimeProtocol()
    protocol.receive(call_added())
    protocol.receive(args_delta('{"slot": "09'))
    done_args = {
        "type": "response.function_call_arguments.done",
        "call_id": "call_1",
        "arguments": '{"slot": "09',
    }
    protocol.receive({**done_args, "response_id": "resp_1", "item_id": "item_1", "name": "book"})
    assert protocol.receive(call_done("incomplete")) == []
    outputs = protocol.receive(response_done("cancelled", type="cancelled", reason="client_cancelled"))
    assert [type(o) for o in outputs] == [ResponseDone]
    assert isinstance(outputs[0], ResponseDone) and outputs[0].reason == "client_cancelled"


def test_a_completed_response_still_delivers_a_call_whose_item_done_never_came() -> None:
    protocol = RealtimeProtocol()
    protocol.receive(call_added())
    done = {"type": "response.function_call_arguments.done", "response_id": "resp_1", "item_id": "item_1"}
    protocol.receive({**done, "call_id": "call_1", "name": "book", "arguments": '{"slot": "10:00"}'})
    outputs = protocol.receive(response_done("completed"))
    assert [type(o) for o in outputs] == [FunctionCall, ResponseDone]
    assert isinstance(outputs[0], FunctionCall) and outputs[0].args == {"slot": "10:00"}


def test_arguments_that_are_not_a_json_object_become_a_bad_request_error() -> None:
    protocol = RealtimeProtocol()
    protocol.receive(call_added())
    (output,) = protocol.receive(call_done("completed", arguments='["not", "an", "object"]'))
    assert isinstance(output, SessionError) and output.kind == "bad_request"
    assert "'book'" in output.message and "call_1" in output.message


def test_a_failed_response_reports_its_error_class_before_the_response_done() -> None:
    protocol = RealtimeProtocol()
    error = {"type": "tokens", "code": "rate_limit_exceeded", "message": "Please try again in 250ms."}
    outputs = protocol.receive(response_done("failed", type="failed", error=error))
    assert [type(o) for o in outputs] == [SessionError, ResponseDone]
    failure = outputs[0]
    assert isinstance(failure, SessionError)
    assert (failure.kind, failure.retry_after_s, failure.response_id) == ("rate_limited", 0.25, "resp_1")


def test_a_server_error_names_the_client_event_that_caused_it() -> None:
    protocol = RealtimeProtocol()
    stamped = protocol.stamp(response_create(text_only=True))
    assert protocol.response_requested
    error = {"type": "invalid_request_error", "message": "nope", "event_id": stamped["event_id"]}
    (output,) = protocol.receive({"type": "error", "error": error})
    assert isinstance(output, SessionError) and output.client_event == "response.create"
    assert not protocol.response_requested  # the refused response will never start


def test_server_vad_events_are_surfaced_when_the_server_sends_them() -> None:
    protocol = RealtimeProtocol()
    started = protocol.receive(
        {"type": "input_audio_buffer.speech_started", "item_id": "i1", "audio_start_ms": 120}
    )
    stopped = protocol.receive(
        {"type": "input_audio_buffer.speech_stopped", "item_id": "i1", "audio_end_ms": 900}
    )
    assert started == [SpeechStarted(item_id="i1", audio_start_ms=120)]
    assert stopped == [SpeechStopped(item_id="i1", audio_end_ms=900)]


def test_g711_output_is_accounted_at_eight_bytes_a_millisecond() -> None:
    protocol = RealtimeProtocol(output_format="pcmu")
    delta = base64.b64encode(bytes(160)).decode()
    event = {"type": "response.output_audio.delta", "response_id": "r", "item_id": "a1", "delta": delta}
    (output,) = protocol.receive(event)
    assert isinstance(output, AudioDelta) and output.audio_ms == 20.0
    assert protocol.received_audio_ms("a1") == 20


def test_truncate_positions_are_clamped_into_the_received_audio() -> None:
    protocol = RealtimeProtocol()
    delta = base64.b64encode(bytes(48 * 300)).decode()
    protocol.receive(
        {"type": "response.output_audio.delta", "response_id": "r", "item_id": "a1", "delta": delta}
    )
    assert protocol.clamp_truncate("a1", -5) == 0
    assert protocol.clamp_truncate("a1", 120) == 120
    assert protocol.clamp_truncate("a1", 301) == 300
    with pytest.raises(ValueError, match="no audio was received for item 'other'"):
        protocol.clamp_truncate("other", 10)


@pytest.mark.parametrize(
    ("error_type", "code", "kind"),
    [
        ("invalid_request_error", "input_audio_buffer_commit_empty", "bad_request"),
        ("server_error", None, "server_error"),
        ("tokens", "rate_limit_exceeded", "rate_limited"),
        ("rate_limit_error", None, "rate_limited"),
        ("insufficient_quota", "insufficient_quota", "auth"),
        ("authentication_error", "invalid_api_key", "auth"),
    ],
)
def test_api_errors_map_to_router_error_kinds(error_type: str, code: str | None, kind: str) -> None:
    assert classify_error(error_type, code) == kind


def test_retry_after_is_read_from_the_message_in_seconds() -> None:
    assert retry_after_s("Rate limit reached. Please try again in 1.5s.") == 1.5
    assert retry_after_s("Please try again in 20ms") == 0.02
    assert retry_after_s("Something else went wrong.") is None


def test_history_becomes_items_in_order_and_a_tool_message_needs_its_call_id() -> None:
    messages = (
        ChatMessage(role="user", content="Book Ada."),
        ChatMessage(
            role="assistant", content="One moment.", tool_calls=(ToolCall(id="c1", name="find", args={}),)
        ),
        ChatMessage(role="tool", tool_call_id="c1", content="{}"),
    )
    items: list[dict[str, Any]] = [dict(event["item"]) for event in history_items(messages)]
    assert [i["type"] for i in items] == ["message", "message", "function_call", "function_call_output"]
    assert json.loads(items[2]["arguments"]) == {}
    with pytest.raises(ValueError, match=r"messages\[0\]: tool message without tool_call_id"):
        history_items((ChatMessage(role="tool", content="{}"),))
