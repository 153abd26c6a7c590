"""OpenAI Realtime (GA) client events, built as the SDK's own TypedDicts so the type checker holds the shape.

Pure constructors: they never send anything, never hold state and never read the session's history.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from openai.types.realtime import (
    ConversationItemCreateEventParam,
    InputAudioBufferAppendEventParam,
    InputAudioBufferClearEventParam,
    InputAudioBufferCommitEventParam,
    RealtimeAudioFormatsParam,
    RealtimeFunctionToolParam,
    ResponseCancelEventParam,
    ResponseCreateEventParam,
    SessionUpdateEventParam,
)
from openai.types.realtime.conversation_item_truncate_event_param import ConversationItemTruncateEventParam
from openai.types.realtime.realtime_audio_input_turn_detection_param import (
    RealtimeAudioInputTurnDetectionParam,
)
from openai.types.realtime.realtime_response_create_params_param import RealtimeResponseCreateParamsParam
from openai.types.realtime.realtime_session_create_request_param import RealtimeSessionCreateRequestParam

from voicerouter.providers.base import ChatMessage, ToolSpec

AudioFormat = Literal["pcm16", "pcmu", "pcma"]
"""Audio on the socket: PCM16 mono at 24 kHz, or G.711 µ-law / A-law at 8 kHz (telephony, no resampling)."""

BYTES_PER_MS: dict[AudioFormat, int] = {"pcm16": 48, "pcmu": 8, "pcma": 8}

_WIRE_FORMATS: dict[AudioFormat, RealtimeAudioFormatsParam] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "pcmu": {"type": "audio/pcmu"},
    "pcma": {"type": "audio/pcma"},
}


def audio_ms(n_bytes: int, fmt: AudioFormat) -> float:
    """Duration of `n_bytes` of audio in `fmt`, in milliseconds."""
    return n_bytes / BYTES_PER_MS[fmt]


def session_update(
    *,
    instructions: str,
    tools: Sequence[ToolSpec],
    input_format: AudioFormat,
    output_format: AudioFormat,
    voice: str,
    turn_detection: Mapping[str, Any] | None,
    text_only: bool = False,
    max_output_tokens: int | None = None,
) -> SessionUpdateEventParam:
    """The whole session configuration; `turn_detection=None` turns server VAD off: our endpointer decides."""
    session: RealtimeSessionCreateRequestParam = {
        "type": "realtime",
        "instructions": instructions,
        "output_modalities": ["text"] if text_only else ["audio"],
        "audio": {
            "input": {
                "format": _WIRE_FORMATS[input_format],
                "turn_detection": cast(RealtimeAudioInputTurnDetectionParam | None, turn_detection),
            },
            "output": {"format": _WIRE_FORMATS[output_format], "voice": voice},
        },
        "tools": [function_tool(spec) for spec in tools],
        "tool_choice": "auto",
    }
    if max_output_tokens is not None:
        session["max_output_tokens"] = max_output_tokens
    return {"type": "session.update", "session": session}


def function_tool(spec: ToolSpec) -> RealtimeFunctionToolParam:
    """One of our tool specs as a Realtime session `tools` entry."""
    return {
        "type": "function",
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
    }


def input_audio_append(audio: bytes) -> InputAudioBufferAppendEventParam:
    """Append caller audio (in the session's input format) to the server's input buffer."""
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode("ascii")}


def input_audio_commit() -> InputAudioBufferCommitEventParam:
    """Turn the buffered caller audio into a user item (the server refuses under 100 ms of audio)."""
    return {"type": "input_audio_buffer.commit"}


def input_audio_clear() -> InputAudioBufferClearEventParam:
    """Drop the buffered caller audio, when another tier answers the turn."""
    return {"type": "input_audio_buffer.clear"}


def response_create(*, instructions: str | None = None, text_only: bool = False) -> ResponseCreateEventParam:
    """Ask for a response; `instructions` replace the session's for this response only."""
    params: RealtimeResponseCreateParamsParam = {}
    if instructions is not None:
        params["instructions"] = instructions
    if text_only:
        params["output_modalities"] = ["text"]
    event: ResponseCreateEventParam = {"type": "response.create"}
    if params:
        event["response"] = params
    return event


def response_cancel(response_id: str | None) -> ResponseCancelEventParam:
    """Stop a response (the server's current one when `response_id` is None), e.g. on barge-in."""
    event: ResponseCancelEventParam = {"type": "response.cancel"}
    if response_id is not None:
        event["response_id"] = response_id
    return event


def item_truncate(item_id: str, audio_end_ms: int) -> ConversationItemTruncateEventParam:
    """Cut an assistant item to the audio the caller heard; clamp `audio_end_ms` to what was received."""
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }


def message_item(role: Literal["user", "assistant"], text: str) -> ConversationItemCreateEventParam:
    """A text message; assistant text is `output_text`, as the GA API stores what the model said."""
    if role == "user":
        return {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        }
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]},
    }


def function_call_item(call_id: str, name: str, args: Mapping[str, Any]) -> ConversationItemCreateEventParam:
    """A tool call another tier made, written into the Realtime conversation so it keeps the context."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "function_call",
            "call_id": call_id,
            "name": name,
            "arguments": json.dumps(dict(args)),
        },
    }


def function_output_item(call_id: str, output: str) -> ConversationItemCreateEventParam:
    """A tool's result for the call `call_id`, as the conversation item the model reads it from."""
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def history_items(messages: Sequence[ChatMessage]) -> list[ConversationItemCreateEventParam]:
    """The vendor-neutral history as Realtime conversation items, in order."""
    items: list[ConversationItemCreateEventParam] = []
    for index, message in enumerate(messages):
        if message.role == "tool":
            if not message.tool_call_id:
                raise ValueError(f"openai_realtime: messages[{index}]: tool message without tool_call_id")
            items.append(function_output_item(message.tool_call_id, message.content))
            continue
        if message.content:
            items.append(message_item(message.role, message.content))
        for call in message.tool_calls:
            items.append(function_call_item(call.id, call.name, call.args))
    return items
