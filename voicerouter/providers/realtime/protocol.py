"""The client side of an OpenAI Realtime (GA) conversation, sans-I/O: server events in, typed outputs out.

It never touches a socket, a task or a clock, so every rule here (audio accounting, truncate clamping,
function-call assembly, error classes) is testable with plain dicts.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from voicerouter.providers.realtime.outputs import (
    AudioDelta,
    Committed,
    FunctionCall,
    RealtimeUsage,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionOutput,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TranscriptDelta,
    TranscriptDone,
    Truncated,
    session_error,
)
from voicerouter.providers.realtime.requests import BYTES_PER_MS, AudioFormat, audio_ms

log = logging.getLogger(__name__)

_REMEMBERED_CLIENT_EVENTS = 512


class _PendingCall:
    __slots__ = ("arguments", "done", "item_id", "name", "response_id")

    def __init__(self, response_id: str, item_id: str, name: str) -> None:
        self.response_id = response_id
        self.item_id = item_id
        self.name = name
        self.arguments: list[str] = []
        self.done: str | None = None


class RealtimeProtocol:
    """The client side of one Realtime conversation: stamps client events, folds server events into outputs.

    It remembers how much audio each assistant item delivered, so a truncate can never ask for more than was
    received (the server rejects that), and it assembles function-call arguments from streamed fragments.

    Driving it: pass every request through `stamp()` and send what it returns as one text frame; feed every
    received text frame, parsed, to `receive()` and act on the outputs it returns, in order; before a
    truncate, ask `clamp_truncate()` for the point to send. It holds no queue: nothing is left to drain.
    """

    def __init__(self, *, output_format: AudioFormat = "pcm16") -> None:
        self.output_format: AudioFormat = output_format
        self.session_created = False
        self.session_ready = False
        self.active_response_id: str | None = None
        self.response_requested = False
        self._next_event = 0
        self._client_events: OrderedDict[str, str] = OrderedDict()
        self._item_audio_bytes: dict[str, int] = {}
        self._calls: dict[str, _PendingCall] = {}

    # -- client side --------------------------------------------------------------------------------

    def stamp(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Give a client event an id, so a later server `error` can say which request it was about.

        Then send the returned event (JSON, one text frame); an `error` naming its id comes back from
        `receive()` as a `SessionError` whose `client_event` is this event's type."""
        self._next_event += 1
        event_id = f"vr_evt_{self._next_event}"
        self._client_events[event_id] = str(event["type"])
        while len(self._client_events) > _REMEMBERED_CLIENT_EVENTS:
            self._client_events.popitem(last=False)
        if event["type"] == "response.create":
            self.response_requested = True
        return {**event, "event_id": event_id}

    def client_event_type(self, event_id: str | None) -> str | None:
        """The type of the event `stamp()` gave `event_id` (the last 512 are kept), else None."""
        return self._client_events.get(event_id) if event_id else None

    def received_audio_ms(self, item_id: str) -> int | None:
        """Whole milliseconds of audio received for an item, or None if no audio arrived for it.

        To cut the item where the caller stopped hearing it, call `clamp_truncate()` rather than this."""
        n_bytes = self._item_audio_bytes.get(item_id)
        return None if n_bytes is None else n_bytes // BYTES_PER_MS[self.output_format]

    def clamp_truncate(self, item_id: str, audio_end_ms: int) -> int:
        """The truncation point the server will accept: within [0, audio received for the item].

        Then send `item_truncate(item_id, clamped_ms)` through `stamp()`; the server's `Truncated` reply,
        fed to `receive()`, shortens the item's count to match. ValueError if no audio arrived for it."""
        received_ms = self.received_audio_ms(item_id)
        if received_ms is None:
            raise ValueError(f"openai_realtime: truncate: no audio was received for item {item_id!r}")
        clamped_ms = min(max(0, audio_end_ms), received_ms)
        if clamped_ms != audio_end_ms:
            log.warning(
                "openai_realtime: truncate of item %s clamped from %d ms to %d ms (audio received: %d ms)",
                item_id,
                audio_end_ms,
                clamped_ms,
                received_ms,
            )
        return clamped_ms

    # -- server side --------------------------------------------------------------------------------

    def receive(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        """Fold one parsed server event into state; return what the engine should see (often nothing).

        Feed every received text frame here, in order, then act on the outputs; `active_response_id`,
        `session_ready` and `received_audio_ms()` reflect the event once this returns."""
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, event) if handler is not None else []

    def _on_session_created(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        self.session_created = True
        return []

    def _on_session_updated(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        self.session_ready = True
        return []

    def _on_error(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        error = event.get("error") or {}
        client_event = self.client_event_type(error.get("event_id"))
        if client_event == "response.create":
            self.response_requested = False
        return [session_error(error, client_event=client_event, response_id=None)]

    def _on_committed(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [Committed(item_id=str(event["item_id"]), previous_item_id=event.get("previous_item_id"))]

    def _on_speech_started(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [
            SpeechStarted(item_id=str(event["item_id"]), audio_start_ms=int(event.get("audio_start_ms", 0)))
        ]

    def _on_speech_stopped(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [SpeechStopped(item_id=str(event["item_id"]), audio_end_ms=int(event.get("audio_end_ms", 0)))]

    def _on_response_created(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        response_id = str((event.get("response") or {}).get("id", ""))
        self.active_response_id = response_id
        self.response_requested = False
        return [ResponseStarted(response_id=response_id)]

    def _on_output_item_added(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        item = event.get("item") or {}
        if item.get("type") == "function_call":
            call = _PendingCall(
                str(event.get("response_id", "")), str(item.get("id", "")), str(item.get("name", ""))
            )
            self._calls[str(item.get("call_id", ""))] = call
        return []

    def _on_audio_delta(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        item_id = str(event["item_id"])
        try:
            pcm = base64.b64decode(event.get("delta", ""), validate=True)
        except (binascii.Error, ValueError):
            return [SessionError(kind="server_error", message=f"undecodable audio delta for item {item_id}")]
        self._item_audio_bytes[item_id] = self._item_audio_bytes.get(item_id, 0) + len(pcm)
        return [
            AudioDelta(
                response_id=str(event.get("response_id", "")),
                item_id=item_id,
                pcm=pcm,
                audio_ms=audio_ms(len(pcm), self.output_format),
            )
        ]

    def _on_transcript_delta(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [
            TranscriptDelta(
                response_id=str(event.get("response_id", "")),
                item_id=str(event["item_id"]),
                text=event["delta"],
            )
        ]

    def _on_transcript_done(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [
            TranscriptDone(
                response_id=str(event.get("response_id", "")),
                item_id=str(event["item_id"]),
                text=str(event.get("transcript", "")),
            )
        ]

    def _on_text_delta(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        return [
            TextDelta(
                response_id=str(event.get("response_id", "")),
                item_id=str(event["item_id"]),
                text=event["delta"],
            )
        ]

    def _pending_call(self, event: Mapping[str, Any]) -> _PendingCall:
        call_id = str(event["call_id"])
        call = self._calls.get(call_id)
        if call is None:  # fragments before (or without) output_item.added: learn the call from them
            call = _PendingCall(str(event.get("response_id", "")), str(event.get("item_id", "")), "")
            self._calls[call_id] = call
        return call

    def _on_arguments_delta(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        self._pending_call(event).arguments.append(str(event.get("delta", "")))
        return []

    def _on_arguments_done(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        call = self._pending_call(event)
        call.done = str(event.get("arguments", "")) or "".join(call.arguments)
        call.name = str(event.get("name") or call.name)
        return []

    def _on_output_item_done(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        call_id = str(item.get("call_id", ""))
        call = self._calls.pop(call_id, None)
        if item.get("status") == "incomplete":
            log.debug("openai_realtime: dropping function call %s cut off before completion", call_id)
            return []
        if call is None:
            call = _PendingCall(str(event.get("response_id", "")), str(item.get("id", "")), "")
        call.name = call.name or str(item.get("name", ""))
        if call.done is None:
            call.done = str(item.get("arguments") or "") or "".join(call.arguments)
        return [self._finish_call(call_id, call)]

    def _finish_call(self, call_id: str, call: _PendingCall) -> SessionOutput:
        raw = call.done if call.done is not None else "".join(call.arguments)
        try:
            args = json.loads(raw) if raw.strip() else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return SessionError(
                kind="bad_request",
                message=f"function call {call.name!r} ({call_id}): arguments are not a JSON object: "
                f"{raw[:200]!r}",
                response_id=call.response_id,
            )
        return FunctionCall(
            response_id=call.response_id, item_id=call.item_id, call_id=call_id, name=call.name, args=args
        )

    def _on_truncated(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        item_id, end_ms = str(event["item_id"]), int(event["audio_end_ms"])
        if item_id in self._item_audio_bytes:  # the item's audio is now only what precedes the cut
            cut_bytes = end_ms * BYTES_PER_MS[self.output_format]
            self._item_audio_bytes[item_id] = min(self._item_audio_bytes[item_id], cut_bytes)
        return [Truncated(item_id=item_id, audio_end_ms=end_ms)]

    def _on_response_done(self, event: Mapping[str, Any]) -> list[SessionOutput]:
        response = event.get("response") or {}
        response_id = str(response.get("id", ""))
        status = str(response.get("status") or "completed")
        details = response.get("status_details") or {}
        outputs: list[SessionOutput] = []
        # Calls whose output_item.done never came: complete ones count only if the response completed.
        for call_id in [cid for cid, call in self._calls.items() if call.response_id == response_id]:
            call = self._calls.pop(call_id)
            if status == "completed" and call.done is not None:
                outputs.append(self._finish_call(call_id, call))
        if status == "failed":
            error = details.get("error") or {"message": f"response {response_id} failed"}
            outputs.append(session_error(error, client_event=None, response_id=response_id))
        if self.active_response_id == response_id:
            self.active_response_id = None
        outputs.append(
            ResponseDone(
                response_id=response_id,
                status=status,
                reason=details.get("reason"),
                usage=parse_usage(response.get("usage") or {}),
            )
        )
        return outputs


def parse_usage(usage: Mapping[str, Any]) -> RealtimeUsage:
    """Token counts from a `response.done` usage object, missing fields as zero."""
    inp = usage.get("input_token_details") or {}
    out = usage.get("output_token_details") or {}
    cached = inp.get("cached_tokens_details") or {}
    return RealtimeUsage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_input_tokens=int(inp.get("cached_tokens") or 0),
        input_text_tokens=int(inp.get("text_tokens") or 0),
        input_audio_tokens=int(inp.get("audio_tokens") or 0),
        cached_audio_tokens=int(cached.get("audio_tokens") or 0),
        output_text_tokens=int(out.get("text_tokens") or 0),
        output_audio_tokens=int(out.get("audio_tokens") or 0),
    )


_HANDLERS = {
    "session.created": RealtimeProtocol._on_session_created,
    "session.updated": RealtimeProtocol._on_session_updated,
    "error": RealtimeProtocol._on_error,
    "input_audio_buffer.committed": RealtimeProtocol._on_committed,
    "input_audio_buffer.speech_started": RealtimeProtocol._on_speech_started,
    "input_audio_buffer.speech_stopped": RealtimeProtocol._on_speech_stopped,
    "response.created": RealtimeProtocol._on_response_created,
    "response.output_item.added": RealtimeProtocol._on_output_item_added,
    "response.output_item.done": RealtimeProtocol._on_output_item_done,
    "response.output_audio.delta": RealtimeProtocol._on_audio_delta,
    "response.output_audio_transcript.delta": RealtimeProtocol._on_transcript_delta,
    "response.output_audio_transcript.done": RealtimeProtocol._on_transcript_done,
    "response.output_text.delta": RealtimeProtocol._on_text_delta,
    "response.function_call_arguments.delta": RealtimeProtocol._on_arguments_delta,
    "response.function_call_arguments.done": RealtimeProtocol._on_arguments_done,
    "conversation.item.truncated": RealtimeProtocol._on_truncated,
    "response.done": RealtimeProtocol._on_response_done,
}
