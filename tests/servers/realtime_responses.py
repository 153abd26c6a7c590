"""How the local Realtime test server streams one scripted response: the GA event sequence, cancel included.

It writes only through the `emit` it is given and never reads client events; a cancel arrives as an Event.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import math
from collections.abc import Awaitable, Callable

from tests.servers.realtime_state import (
    BYTES_PER_MS,
    Call,
    Event,
    OutputTokens,
    RateLimit,
    RealtimeConnection,
    Reply,
    Say,
    split_text,
    tokens,
    tone_bytes,
)

Emit = Callable[[Event], Awaitable[None]]


class ResponseStream:
    """One response: `response.created`, one output item streamed piece by piece, then `response.done`.

    Between pieces it yields to the loop (or, when paced, waits on a real-time schedule) so that a
    `response.cancel` can land mid-way; a cancelled item ends `incomplete` and the response `cancelled`.
    """

    def __init__(
        self,
        *,
        emit: Emit,
        next_id: Callable[[str], str],
        conn: RealtimeConnection,
        response_id: str,
        params: Event,
        reply: Reply,
        cancel: asyncio.Event,
        pace: bool,
        chunk_ms: int,
        tone_hz: float,
    ) -> None:
        self._emit = emit
        self._next_id = next_id
        self._conn = conn
        self._response_id = response_id
        self._params = params
        self._reply = reply
        self._cancel = cancel
        self._pace_on = pace
        self._chunk_ms = chunk_ms
        self._tone_hz = tone_hz
        self._out = OutputTokens()
        self._start = 0.0

    async def run(self) -> None:
        conn, params = self._conn, self._params
        modalities = params.get("output_modalities") or conn.session.get("output_modalities") or ["audio"]
        response: Event = {
            "object": "realtime.response",
            "id": self._response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": conn.conversation_id,
            "output_modalities": modalities,
            "max_output_tokens": params.get(
                "max_output_tokens", conn.session.get("max_output_tokens", "inf")
            ),
            "audio": {"output": copy.deepcopy(conn.session["audio"]["output"])},
            "usage": None,
            "metadata": None,
        }
        usage_in = self._input_tokens()
        await self._emit({"type": "response.created", "response": copy.deepcopy(response)})
        reply = self._reply
        if isinstance(reply, RateLimit):
            response["status"] = "failed"
            response["status_details"] = {"type": "failed", "reason": None, "error": reply.error()}
        else:
            self._start = asyncio.get_running_loop().time()
            if isinstance(reply, Call):
                item = await self._function_call(reply)
            elif "audio" in modalities:
                item = await self._audio(reply)
            else:
                item = await self._text(reply)
            response["output"] = [item]
            if self._cancel.is_set():
                response["status"] = "cancelled"
                response["status_details"] = {"type": "cancelled", "reason": "client_cancelled"}
            else:
                response["status"] = "completed"
        response["usage"] = self._usage(*usage_in)
        conn.active = None
        await self._emit({"type": "response.done", "response": response})

    # -- accounting -------------------------------------------------------------------------------------

    def _input_tokens(self) -> tuple[int, int]:
        """Tokenizer stand-in: instructions, tools and items at 4 characters a token, audio by duration."""
        conn = self._conn
        instructions = self._params.get("instructions", conn.session.get("instructions") or "")
        text_tokens = tokens(str(instructions)) + tokens(json.dumps(conn.session.get("tools") or []))
        audio_tokens = 0
        for item_id, item in conn.items.items():
            for part in item.get("content", []):
                text_tokens += tokens(str(part.get("text") or part.get("transcript") or ""))
            text_tokens += tokens(str(item.get("arguments", "")) + str(item.get("output", "")))
            audio_tokens += math.ceil(conn.item_audio_ms.get(item_id, 0.0) / 50)
        audio_tokens += sum(math.ceil(commit.audio_ms / 100) for commit in conn.commits)
        return text_tokens, audio_tokens

    def _usage(self, input_text: int, input_audio: int) -> Event:
        """Usage as the API reports it; what the previous response read counts as cached (a prefix cache)."""
        conn, out = self._conn, self._out
        input_total = input_text + input_audio
        cached = min(conn.previous_input_tokens, input_total)
        cached_audio = min(conn.previous_audio_tokens, input_audio, cached)
        conn.previous_input_tokens, conn.previous_audio_tokens = input_total, input_audio
        return {
            "total_tokens": input_total + out.text_tokens + out.audio_tokens,
            "input_tokens": input_total,
            "output_tokens": out.text_tokens + out.audio_tokens,
            "input_token_details": {
                "text_tokens": input_text,
                "audio_tokens": input_audio,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {
                    "text_tokens": cached - cached_audio,
                    "audio_tokens": cached_audio,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": out.text_tokens, "audio_tokens": out.audio_tokens},
        }

    # -- streaming --------------------------------------------------------------------------------------

    async def _pace(self, chunk_index: int) -> None:
        """Wait until piece `chunk_index` is due on a real-time schedule (not sleep drift), or a cancel."""
        if not self._pace_on:
            await asyncio.sleep(0)  # lets a pending response.cancel be read between pieces
            return
        delay = self._start + chunk_index * self._chunk_ms / 1000 - asyncio.get_running_loop().time()
        if delay > 0:
            try:
                async with asyncio.timeout(delay):
                    await self._cancel.wait()
            except TimeoutError:
                pass

    async def _begin_item(self, item: Event) -> None:
        previous = self._conn.last_item_id
        self._conn.items[item["id"]] = item
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": self._response_id,
                "output_index": 0,
                "item": copy.deepcopy(item),
            }
        )
        await self._emit(
            {"type": "conversation.item.added", "item": copy.deepcopy(item), "previous_item_id": previous}
        )

    async def _end_item(self, item: Event) -> None:
        item["status"] = "incomplete" if self._cancel.is_set() else "completed"
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": self._response_id,
                "output_index": 0,
                "item": copy.deepcopy(item),
            }
        )
        await self._emit({"type": "conversation.item.done", "item": copy.deepcopy(item)})

    def _message(self) -> Event:
        return {
            "id": self._next_id("item_"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }

    async def _audio(self, reply: Say) -> Event:
        item = self._message()
        where = {
            "response_id": self._response_id,
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
        }
        await self._begin_item(item)
        await self._emit(
            {"type": "response.content_part.added", **where, "part": {"type": "audio", "transcript": ""}}
        )
        total_ms = float(reply.audio_ms if reply.audio_ms is not None else 60 * max(1, len(reply.text)))
        chunks = max(1, math.ceil(total_ms / self._chunk_ms))
        pieces = split_text(reply.text, chunks)
        format_type = self._conn.format_type("output")
        spoken, sent_ms = "", 0.0
        self._conn.item_audio_ms[item["id"]] = 0.0
        for index in range(chunks):
            await self._pace(index)
            if self._cancel.is_set():
                break
            audio = tone_bytes(
                format_type, sent_ms, min(float(self._chunk_ms), total_ms - sent_ms), self._tone_hz
            )
            delta = base64.b64encode(audio).decode("ascii")
            await self._emit({"type": "response.output_audio.delta", **where, "delta": delta})
            sent_ms += len(audio) / BYTES_PER_MS[format_type]
            self._conn.item_audio_ms[item["id"]] = sent_ms  # what a truncate may not exceed
            if pieces[index]:
                await self._emit(
                    {"type": "response.output_audio_transcript.delta", **where, "delta": pieces[index]}
                )
                spoken += pieces[index]
        await self._emit({"type": "response.output_audio.done", **where})
        await self._emit({"type": "response.output_audio_transcript.done", **where, "transcript": spoken})
        await self._emit(
            {"type": "response.content_part.done", **where, "part": {"type": "audio", "transcript": spoken}}
        )
        item["content"] = [{"type": "output_audio", "transcript": spoken}]
        await self._end_item(item)
        self._out.text_tokens += tokens(spoken)
        self._out.audio_tokens += math.ceil(sent_ms / 50)
        return item

    async def _text(self, reply: Say) -> Event:
        item = self._message()
        where = {
            "response_id": self._response_id,
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
        }
        await self._begin_item(item)
        await self._emit(
            {"type": "response.content_part.added", **where, "part": {"type": "text", "text": ""}}
        )
        written = ""
        pieces = [piece for piece in split_text(reply.text, max(1, len(reply.text.split()))) if piece]
        for index, piece in enumerate(pieces):
            await self._pace(index)
            if self._cancel.is_set():
                break
            await self._emit({"type": "response.output_text.delta", **where, "delta": piece})
            written += piece
        await self._emit({"type": "response.output_text.done", **where, "text": written})
        await self._emit(
            {"type": "response.content_part.done", **where, "part": {"type": "text", "text": written}}
        )
        item["content"] = [{"type": "output_text", "text": written}]
        await self._end_item(item)
        self._out.text_tokens += tokens(written)
        return item

    async def _function_call(self, reply: Call) -> Event:
        call_id = reply.call_id or self._next_id("call_")
        item: Event = {
            "id": self._next_id("item_"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": reply.name,
            "call_id": call_id,
            "arguments": "",
        }
        await self._begin_item(item)
        where = {
            "response_id": self._response_id,
            "item_id": item["id"],
            "output_index": 0,
            "call_id": call_id,
        }
        written = ""
        for index, piece in enumerate(split_text(json.dumps(reply.args), 3)):
            await self._pace(index)
            if self._cancel.is_set():
                break
            await self._emit({"type": "response.function_call_arguments.delta", **where, "delta": piece})
            written += piece
        await self._emit(
            {
                "type": "response.function_call_arguments.done",
                **where,
                "name": reply.name,
                "arguments": written,
            }
        )
        item["arguments"] = written
        await self._end_item(item)
        self._out.text_tokens += tokens(written)
        return item
