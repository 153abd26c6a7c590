"""A local server that speaks OpenAI Chat Completions (`POST /v1/chat/completions`), streamed and not.

It reproduces the wire shapes the SDK parses (chunks, tool-call deltas, usage chunk, `[DONE]`, error JSON) and
the request checks the real API applies to tool sequencing; it never reaches the network.
"""

from __future__ import annotations

import time
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


def _error_body(
    message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def rate_limited(retry_after_s: float | None = 1.0, *, retry_after: str | None = None) -> HttpError:
    """429 with `Retry-After` in seconds (or the raw header value given, e.g. an HTTP date)."""
    headers = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    elif retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
    message = "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1."
    return HttpError(429, _error_body(message, "requests", code="rate_limit_exceeded"), headers)


def server_error(status: int = 500) -> HttpError:
    message = "The server had an error while processing your request. Sorry about that!"
    return HttpError(status, _error_body(message, "server_error"))


def http_error(
    status: int, message: str, error_type: str = "invalid_request_error", code: str | None = None
) -> HttpError:
    return HttpError(status, _error_body(message, error_type, code=code))


class OpenAIServer(ScriptedServer):
    endpoint = "/v1/chat/completions"
    stream_headers: ClassVar[Mapping[str, str]] = {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "openai-version": "2020-10-01",
        "openai-processing-ms": "42",
    }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def auth_error(self, request: web.Request) -> HttpError | None:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
        return HttpError(401, _error_body(message, "invalid_request_error", code="invalid_api_key"))

    def unscripted_error(self) -> HttpError:
        return HttpError(
            500, _error_body("test server: no scripted behaviour left for this request", "server_error")
        )

    def validation_error(self, body: RequestBody) -> HttpError | None:
        if not body.get("model"):
            return HttpError(400, _error_body("you must provide a model parameter", "invalid_request_error"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return HttpError(
                400, _error_body("[] is too short - 'messages'", "invalid_request_error", param="messages")
            )
        if body.get("stream_options") is not None and not body.get("stream"):
            message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            return HttpError(400, _error_body(message, "invalid_request_error", param="stream_options"))
        for position, tool in enumerate(body.get("tools") or []):
            function = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
                message = f"Missing required parameter: 'tools[{position}].function.name'."
                return HttpError(
                    400, _error_body(message, "invalid_request_error", param=f"tools[{position}]")
                )
        return _tool_sequence_error(messages)

    # -- rendering -------------------------------------------------------------------------------------------

    def render_stream(self, reply: Reply, body: RequestBody) -> list[Frame]:
        completion_id = self.next_id("chatcmpl-")
        created = int(time.time())
        model = str(body["model"])

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_local0001",
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                    ],
                    "usage": None,
                    "obfuscation": "x1y2",
                }
            )

        texts = reply.text_deltas(body)
        frames: list[Frame] = []
        role_sent = False
        if texts or not reply.tool_calls:
            frames.append(Frame(chunk({"role": "assistant", "content": "", "refusal": None})))
            role_sent = True
        frames.extend(Frame(chunk({"content": piece}), content=True) for piece in texts)
        for index, call in enumerate(reply.tool_calls):
            opening: dict[str, Any] = {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.call_id or self.next_id("call_"),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
            if not role_sent:
                opening = {"role": "assistant", "content": None, **opening, "refusal": None}
                role_sent = True
            frames.append(Frame(chunk(opening)))
            for fragment in split_evenly(call.argument_text(), call.fragments):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                frames.append(Frame(chunk(delta), content=True))
        frames.append(Frame(chunk({}, finish_reason="tool_calls" if reply.tool_calls else "stop")))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_local0001",
                "choices": [],
                "usage": self._usage(reply, body, content_frames=sum(f.content for f in frames)),
                "obfuscation": "z9",
            }
            frames.append(Frame(sse(usage_chunk)))
        frames.append(Frame(sse("[DONE]")))
        return frames

    def render_stream_error(self, reply: Reply) -> bytes:
        return sse(_error_body(reply.error_message, reply.error_type or "server_error"))

    def render_json(self, reply: Reply, body: RequestBody) -> dict[str, Any]:
        texts = reply.text_deltas(body)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(texts) if texts or not reply.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id or self.next_id("call_"),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.argument_text()},
                }
                for call in reply.tool_calls
            ]
        content_frames = len(texts) + sum(
            len(split_evenly(c.argument_text(), c.fragments)) for c in reply.tool_calls
        )
        return {
            "id": self.next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body["model"]),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": self._usage(reply, body, content_frames=content_frames),
            "service_tier": "default",
            "system_fingerprint": "fp_local0001",
        }

    @staticmethod
    def _usage(reply: Reply, body: RequestBody, *, content_frames: int) -> dict[str, Any]:
        spec = reply.usage
        prompt = spec.input_tokens if spec.input_tokens is not None else estimate_input_tokens(body)
        completion = spec.output_tokens if spec.output_tokens is not None else max(1, content_frames)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": spec.cached_input_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _tool_sequence_error(messages: list[Any]) -> HttpError | None:
    """The API's rule: every assistant tool call is answered by a `tool` message before anything else."""
    awaiting: set[str] = set()
    for position, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            if message.get("tool_call_id") not in awaiting:
                text = (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'."
                )
                return HttpError(
                    400, _error_body(text, "invalid_request_error", param=f"messages.[{position}].role")
                )
            awaiting.discard(message["tool_call_id"])
            continue
        if awaiting:
            text = (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(sorted(awaiting))}"
            )
            return HttpError(
                400, _error_body(text, "invalid_request_error", param=f"messages.[{position}].role")
            )
        if role == "assistant":
            awaiting = {call.get("id") for call in message.get("tool_calls") or []}
    if awaiting:
        text = f"tool_call_ids did not have response messages: {', '.join(sorted(awaiting))}"
        return HttpError(400, _error_body(text, "invalid_request_error", param="messages"))
    return None
