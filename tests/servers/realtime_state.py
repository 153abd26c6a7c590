"""What the local Realtime test server knows: scripted replies, per-connection state, and the audio it speaks.

Plain data and pure helpers; nothing here touches a socket.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Event = dict[str, Any]

BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}
MIN_COMMIT_MS = 100.0
_CONTENT_TYPES = {
    "user": {"input_text", "input_audio", "input_image"},
    "assistant": {"output_text", "output_audio"},
    "system": {"input_text"},
}


# -- script --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Spoken audio plus transcript (audio sessions) or plain text (text-only responses)."""

    text: str
    audio_ms: int | None = None  # None: about 60 ms a character


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]
    call_id: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """A rate limit, as an `error` event (no response starts) or as a failed `response.done`."""

    retry_after_s: float = 1.5
    via: Literal["error", "response"] = "error"

    def error(self) -> Event:
        return {
            "type": "tokens",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached for gpt-realtime on tokens per min (TPM): Limit 40000, "
            f"Used 40000, Requested 880. Please try again in {self.retry_after_s:g}s.",
        }


Reply = Say | Call | RateLimit


# -- per-connection state ------------------------------------------------------------------------


@dataclass
class Commit:
    item_id: str
    audio_bytes: int
    audio_ms: float


@dataclass
class ActiveResponse:
    response_id: str
    task: asyncio.Task[None]
    cancel: asyncio.Event


@dataclass
class OutputTokens:
    """Tokens a response produced, for its usage."""

    text_tokens: int = 0
    audio_tokens: int = 0


@dataclass
class RealtimeConnection:
    """What one client did on one socket: its events, session, input buffer, conversation and truncations."""

    index: int
    path: str
    model: str | None
    authorization: str | None
    session: Event
    events: list[Event] = field(default_factory=list)
    input_buffer: bytearray = field(default_factory=bytearray)
    input_bytes_total: int = 0
    commits: list[Commit] = field(default_factory=list)
    items: dict[str, Event] = field(default_factory=dict)
    item_audio_ms: dict[str, float] = field(default_factory=dict)  # assistant audio actually sent, per item
    truncations: list[Event] = field(default_factory=list)
    conversation_id: str = ""
    active: ActiveResponse | None = None
    previous_input_tokens: int = 0
    previous_audio_tokens: int = 0
    closed: bool = False

    def format_type(self, direction: Literal["input", "output"]) -> str:
        return str(self.session["audio"][direction]["format"]["type"])

    @property
    def last_item_id(self) -> str | None:
        return next(reversed(self.items), None)


def default_session(model: str | None, session_id: str) -> Event:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model or "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "expires_at": 0,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
    }


def merge_session(base: Event, update: Event) -> Event:
    """A `session.update`: only the fields present change; nested objects merge, `null` clears."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_session(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def session_problem(session: Any) -> tuple[str, str] | None:
    """Why `session.update` must refuse `session` (message, param), or None to accept it."""
    if not isinstance(session, dict) or session.get("type") != "realtime":
        return "Missing or invalid session type: expected 'realtime'.", "session.type"
    for direction in ("input", "output"):
        fmt = ((session.get("audio") or {}).get(direction) or {}).get("format")
        if fmt is None:
            continue
        pcm_at_other_rate = fmt.get("type") == "audio/pcm" and fmt.get("rate", 24000) != 24000
        if fmt.get("type") not in BYTES_PER_MS or pcm_at_other_rate:
            return f"Invalid audio format: {json.dumps(fmt)}.", f"session.audio.{direction}.format"
    for index, tool in enumerate(session.get("tools") or []):
        if tool.get("type") != "function" or not tool.get("name"):
            return "Each tool needs type 'function' and a name.", f"session.tools[{index}]"
    return None


def item_problem(conn: RealtimeConnection, item: Any) -> tuple[str, str] | None:
    """Why `conversation.item.create` must refuse `item` (message, param), or None to accept it."""
    if not isinstance(item, dict):
        return "Missing required parameter: 'item'.", "item"
    if item.get("id") in conn.items:
        return f"Item with id '{item['id']}' already exists.", "item.id"
    kind = item.get("type")
    if kind == "message":
        role = item.get("role")
        if role not in _CONTENT_TYPES:
            return (
                f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', and 'system'.",
                "item.role",
            )
        content = item.get("content") or []
        if not content:
            return "Missing required parameter: 'item.content'.", "item.content"
        for index, part in enumerate(content):
            if part.get("type") not in _CONTENT_TYPES[role]:
                return (
                    f"Invalid value: '{part.get('type')}' for a {role} message.",
                    f"item.content[{index}].type",
                )
        return None
    if kind == "function_call":
        if not item.get("name") or not isinstance(item.get("arguments"), str):
            return "A function_call item needs 'name' and string 'arguments'.", "item"
        return None
    if kind == "function_call_output":
        call_id = item.get("call_id")
        known = any(
            i.get("type") == "function_call" and i.get("call_id") == call_id for i in conn.items.values()
        )
        if not known:
            return f"Tool call ID '{call_id}' not found in conversation.", "item.call_id"
        if not isinstance(item.get("output"), str):
            return "Missing required parameter: 'item.output'.", "item.output"
        return None
    return f"Invalid value: '{kind}'. Unsupported item type.", "item.type"


# -- audio ---------------------------------------------------------------------------------------


def tone_bytes(format_type: str, start_ms: float, duration_ms: float, freq_hz: float) -> bytes:
    """A sine tone in the session's output format, continuous across chunks."""
    rate_hz = 24000 if format_type == "audio/pcm" else 8000
    first = round(start_ms * rate_hz / 1000)
    n = round((start_ms + duration_ms) * rate_hz / 1000) - first
    t = (np.arange(n) + first) / rate_hz
    pcm = np.rint(0.3 * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    if format_type == "audio/pcm":
        return pcm.tobytes()
    encode = _ulaw if format_type == "audio/pcmu" else _alaw
    return bytes(encode(int(sample)) for sample in pcm)


def _ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw(sample: int) -> int:
    mask, value = (0xD5, sample >> 3) if sample >= 0 else (0x55, -(sample >> 3) - 1)
    segment = next(
        (i for i, end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)) if value <= end), 8
    )
    if segment >= 8:
        return 0x7F ^ mask
    low = (value >> 1) & 0x0F if segment < 2 else (value >> segment) & 0x0F
    return ((segment << 4) | low) ^ mask


def split_text(value: str, parts: int) -> list[str]:
    """`value` cut into `parts` consecutive pieces (some may be empty) that join back exactly."""
    length = len(value)
    return [value[i * length // parts : (i + 1) * length // parts] for i in range(parts)]


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
