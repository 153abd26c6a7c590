"""A local server that speaks the Anthropic Messages API (`POST /v1/messages`), streamed and not.

It reproduces the event sequence the SDK parses (message_start, content blocks, ping, deltas, message_delta,
message_stop, error events), the error JSON, and the API's tool_use/tool_result pairing checks; no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from tests.servers.scripted import (
    Frame,
    HttpError,
    Reply,
    RequestBody,
    ScriptedServer,
    estimate_input_tokens,
    split_evenly,
    sse,
)


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_local"}


def rate_limited(retry_after_s: float | None = 1.0, *, retry_after: str | None = None) -> HttpError:
    """429 `rate_limit_error` with `retry-after` in seconds (or the raw header value given)."""
    headers = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    elif retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
    message = "This request would exceed your organization's rate limit of 50 requests per minute."
    return HttpError(429, _error_body("rate_limit_error", message), headers)


def server_error(status: int = 500) -> HttpError:
    return HttpError(status, _error_body("api_error", "Internal server error"))


def overloaded() -> HttpError:
    """529 `overloaded_error`: Anthropic's "try again shortly"."""
    return HttpError(529, _error_body("overloaded_error", "Overloaded"))


def http_error(status: int, error_type: str, message: str) -> HttpError:
    return HttpError(status, _error_body(error_type, message))


class AnthropicServer(ScriptedServer):
    endpoint = "/v1/messages"
    stream_headers: ClassVar[Mapping[str, str]] = {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
    }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth_error(self, request: web.Request) -> HttpError | None:
        # The API takes the key as `x-api-key` or as a bearer token (what this SDK version sends).
        presented = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix(
            "Bearer "
        )
        if presented != self.api_key:
            return HttpError(401, _error_body("authentication_error", "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return HttpError(
                400, _error_body("invalid_request_error", "anthropic-version: header is required")
            )
        return None

    def unscripted_error(self) -> HttpError:
        return HttpError(
            500, _error_body("api_error", "test server: no scripted behaviour left for this request")
        )

    def validation_error(self, body: RequestBody) -> HttpError | None:
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return HttpError(400, _error_body("invalid_request_error", f"{required}: Field required"))
        for position, tool in enumerate(body.get("tools") or []):
            if not tool.get("name") or "input_schema" not in tool:
                message = f"tools.{position}.custom.input_schema: Field required"
                return HttpError(400, _error_body("invalid_request_error", message))
        return _message_error(body["messages"])

    # -- rendering -------------------------------------------------------------------------------------------

    def render_stream(self, reply: Reply, body: RequestBody) -> list[Frame]:
        usage = self._usage(reply, body)
        frames = [
            Frame(
                sse(
                    {
                        "type": "message_start",
                        "message": {
                            "id": self.next_id("msg_"),
                            "type": "message",
                            "role": "assistant",
                            "model": str(body["model"]),
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {**usage, "output_tokens": 1, "service_tier": "standard"},
                        },
                    },
                    event="message_start",
                )
            )
        ]
        index = 0
        texts = reply.text_deltas(body)
        if texts:
            frames.append(_block_start(index, {"type": "text", "text": ""}))
            frames.append(Frame(sse({"type": "ping"}, event="ping")))
            for piece in texts:
                frames.append(_block_delta(index, {"type": "text_delta", "text": piece}, content=True))
            frames.append(_block_stop(index))
            index += 1
        for call in reply.tool_calls:
            block = {
                "type": "tool_use",
                "id": call.call_id or self.next_id("toolu_"),
                "name": call.name,
                "input": {},
            }
            frames.append(_block_start(index, block))
            if index == 0:
                frames.append(Frame(sse({"type": "ping"}, event="ping")))
            frames.append(_block_delta(index, {"type": "input_json_delta", "partial_json": ""}))
            for fragment in split_evenly(call.argument_text(), call.fragments):
                frames.append(
                    _block_delta(index, {"type": "input_json_delta", "partial_json": fragment}, content=True)
                )
            frames.append(_block_stop(index))
            index += 1
        output_tokens = usage_output(reply, sum(f.content for f in frames))
        frames.append(
            Frame(
                sse(
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
                            "stop_sequence": None,
                        },
                        "usage": {**usage, "output_tokens": output_tokens},
                    },
                    event="message_delta",
                )
            )
        )
        frames.append(Frame(sse({"type": "message_stop"}, event="message_stop")))
        return frames

    def render_stream_error(self, reply: Reply) -> bytes:
        error = {
            "type": "error",
            "error": {"type": reply.error_type or "overloaded_error", "message": reply.error_message},
        }
        return sse(error, event="error")

    def render_json(self, reply: Reply, body: RequestBody) -> dict[str, Any]:
        texts = reply.text_deltas(body)
        content: list[dict[str, Any]] = []
        if texts:
            content.append({"type": "text", "text": "".join(texts)})
        content.extend(
            {
                "type": "tool_use",
                "id": call.call_id or self.next_id("toolu_"),
                "name": call.name,
                "input": call.args or {},
            }
            for call in reply.tool_calls
        )
        pieces = len(texts) + sum(len(split_evenly(c.argument_text(), c.fragments)) for c in reply.tool_calls)
        return {
            "id": self.next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": str(body["model"]),
            "content": content,
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {**self._usage(reply, body), "output_tokens": usage_output(reply, pieces)},
        }

    @staticmethod
    def _usage(reply: Reply, body: RequestBody) -> dict[str, Any]:
        spec = reply.usage
        return {
            "input_tokens": spec.input_tokens
            if spec.input_tokens is not None
            else estimate_input_tokens(body),
            "cache_creation_input_tokens": spec.cache_write_input_tokens,
            "cache_read_input_tokens": spec.cached_input_tokens,
        }


def usage_output(reply: Reply, content_pieces: int) -> int:
    return reply.usage.output_tokens if reply.usage.output_tokens is not None else max(1, content_pieces)


def _block_start(index: int, block: dict[str, Any]) -> Frame:
    return Frame(
        sse(
            {"type": "content_block_start", "index": index, "content_block": block},
            event="content_block_start",
        )
    )


def _block_delta(index: int, delta: dict[str, Any], *, content: bool = False) -> Frame:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return Frame(sse(payload, event="content_block_delta"), content=content)


def _block_stop(index: int) -> Frame:
    return Frame(sse({"type": "content_block_stop", "index": index}, event="content_block_stop"))


def _message_error(messages: Any) -> HttpError | None:
    """The API's rules on turns: known roles, non-empty text, and every tool_use answered in the next turn."""
    if not isinstance(messages, list) or not messages:
        return HttpError(
            400, _error_body("invalid_request_error", "messages: at least one message is required")
        )
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") == "assistant":  # a prefill the API continues: it may not end in whitespace
        blocks = last.get("content")
        final = blocks if isinstance(blocks, str) else (blocks or [{}])[-1].get("text", "x")
        if isinstance(final, str) and final != final.rstrip():
            return HttpError(
                400,
                _error_body(
                    "invalid_request_error", "final assistant content cannot end with trailing whitespace"
                ),
            )
    previous_tool_uses: set[str] = set()
    for position, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return HttpError(
                400, _error_body("invalid_request_error", f"messages.{position}.role: unexpected {role!r}")
            )
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        results: set[str] = set()
        for number, block in enumerate(blocks or []):
            kind = block.get("type")
            if kind == "text" and not block.get("text"):
                return HttpError(
                    400,
                    _error_body("invalid_request_error", "messages: text content blocks must be non-empty"),
                )
            if kind == "tool_result":
                if role != "user" or block.get("tool_use_id") not in previous_tool_uses:
                    message_text = (
                        f"messages.{position}.content.{number}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block must "
                        "have a corresponding `tool_use` block in the previous message."
                    )
                    return HttpError(400, _error_body("invalid_request_error", message_text))
                results.add(block["tool_use_id"])
        missing = previous_tool_uses - results
        if missing:
            message_text = (
                f"messages.{position}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(sorted(missing))}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
            return HttpError(400, _error_body("invalid_request_error", message_text))
        previous_tool_uses = {
            block["id"] for block in blocks or [] if role == "assistant" and block.get("type") == "tool_use"
        }
    return None
