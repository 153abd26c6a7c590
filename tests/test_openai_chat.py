"""OpenAIChatProvider through the real `openai` SDK against a local Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import openai
import pytest

from tests.servers.fixtures import openai_server_fixture  # noqa: F401  (registers the `openai_server` fixture)
from tests.servers.openai_server import OpenAIServer, http_error, rate_limited, server_error
from tests.servers.scripted import (
    HttpError,
    ScriptedToolCall,
    UsageSpec,
    drop_midway,
    end_early,
    stall_before_first_token,
    stall_before_headers,
    stall_midway,
    stream_error,
    text,
    tool_call,
    tool_calls,
)
from voicerouter.providers.base import (
    ChatMessage,
    ChatProvider,
    ChatRequest,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolCallStarted,
    ToolSpec,
    Usage,
)
from voicerouter.providers.openai_chat import OpenAIChatProvider

FIND_PATIENT = ToolSpec(
    name="find_patient",
    description="Look up a patient by full name and date of birth.",
    parameters={
        "type": "object",
        "properties": {
            "full_name": {"type": "string"},
            "date_of_birth": {"type": "string", "format": "date"},
        },
        "required": ["full_name", "date_of_birth"],
    },
)


def ask(
    *messages: ChatMessage,
    tools: tuple[ToolSpec, ...] = (FIND_PATIENT,),
    temperature: float | None = None,
    max_tokens: int = 400,
) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        system="You are the clinic receptionist.",
        messages=messages or (ChatMessage(role="user", content="Hi, is Dr. Ruiz in today?"),),
        tools=tools,
        temperature=temperature,
        max_tokens=max_tokens,
    )


@pytest.fixture
async def provider(openai_server: OpenAIServer) -> AsyncIterator[OpenAIChatProvider]:
    chat = OpenAIChatProvider(
        api_key=openai_server.api_key, base_url=openai_server.base_url, name="local-openai"
    )
    yield chat
    await chat.aclose()


async def collect(provider: OpenAIChatProvider, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request)]


async def failure(provider: OpenAIChatProvider, request: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await collect(provider, request)
    return caught.value


def said(chunks: list[StreamChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


# -- streaming -----------------------------------------------------------------------------------------------


async def test_text_arrives_as_several_deltas_in_order_then_one_usage(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    deltas = ("Yes,", " Dr. Ruiz", " is in", " until five.")
    openai_server.script(text("".join(deltas), deltas=deltas))

    chunks = await collect(provider, ask())

    assert [c.text for c in chunks if isinstance(c, TextDelta)] == list(deltas)
    assert [type(c) for c in chunks] == [TextDelta] * 4 + [Usage]


async def test_request_carries_system_prompt_history_tools_and_token_limit(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(text("Sure."))
    history = (
        ChatMessage(role="user", content="Hello"),
        ChatMessage(role="assistant", content="Hi! How can I help?"),
        ChatMessage(role="user", content="Book me in."),
    )

    await collect(provider, ask(*history, temperature=0.2, max_tokens=123))

    body = openai_server.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "You are the clinic receptionist."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Book me in."},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "find_patient",
                "description": FIND_PATIENT.description,
                "parameters": FIND_PATIENT.parameters,
            },
        }
    ]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 123  # a custom base_url means an OpenAI-compatible server
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.2


async def test_tools_and_temperature_are_omitted_when_unset(openai_server: OpenAIServer) -> None:
    openai_server.script(text("Hi."))
    chat = OpenAIChatProvider(
        api_key=openai_server.api_key,
        base_url=openai_server.base_url,
        max_tokens_param="max_completion_tokens",
    )
    try:
        await collect(chat, ask(tools=()))
    finally:
        await chat.aclose()

    body = openai_server.requests[0].body
    assert "tools" not in body and "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 400


async def test_one_provider_serves_concurrent_streams_each_with_its_own_answer(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    def echo(body: dict[str, Any]) -> str:
        content = body["messages"][-1]["content"]
        return "You said: " + (content if isinstance(content, str) else content[0]["text"])

    openai_server.script(*(text(echo) for _ in range(3)))
    questions = ["first question", "second question", "third question"]

    answers = await asyncio.gather(
        *(collect(provider, ask(ChatMessage(role="user", content=q))) for q in questions)
    )

    assert [said(chunks) for chunks in answers] == [f"You said: {q}" for q in questions]


async def test_provider_is_a_chat_provider_named_openai_by_default() -> None:
    chat: ChatProvider = OpenAIChatProvider(api_key="k", base_url="http://127.0.0.1:9")

    assert chat.name == "openai"
    await chat.aclose()  # type: ignore[attr-defined]


async def test_usage_reports_prompt_completion_and_cached_tokens_from_the_usage_chunk(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(
        text("Noted.", usage=UsageSpec(input_tokens=1830, output_tokens=7, cached_input_tokens=1536))
    )

    chunks = await collect(provider, ask())

    assert chunks[-1] == Usage(input_tokens=1830, output_tokens=7, cached_input_tokens=1536)
    assert sum(isinstance(c, Usage) for c in chunks) == 1


# -- tools ---------------------------------------------------------------------------------------------------


async def test_tool_call_round_trip_sends_the_call_and_its_result_back_in_wire_shape(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    args = {"full_name": "Ana López", "date_of_birth": "1990-04-01"}
    openai_server.script(
        tool_call("find_patient", args, call_id="call_abc123", fragments=5),
        text(lambda body: f"I found you: {json.loads(body['messages'][-1]['content'])['patient_id']}."),
    )
    question = ChatMessage(role="user", content="It's Ana López, born April first 1990.")

    first = await collect(provider, ask(question))

    # the call is announced as soon as it starts streaming, and yielded whole once complete
    assert [c for c in first if not isinstance(c, Usage)] == [
        ToolCallStarted(name="find_patient"),
        ToolCallChunk(call=ToolCall(id="call_abc123", name="find_patient", args=args)),
    ]
    call = first[1].call  # type: ignore[union-attr]
    result = ChatMessage(
        role="tool", tool_call_id=call.id, name=call.name, content='{"patient_id": "P-0042"}'
    )
    second = await collect(provider, ask(question, ChatMessage(role="assistant", tool_calls=(call,)), result))

    assert "".join(c.text for c in second if isinstance(c, TextDelta)) == "I found you: P-0042."
    sent = openai_server.requests[1].body["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc123",
                "type": "function",
                "function": {
                    "name": "find_patient",
                    "arguments": json.dumps(args, separators=(",", ":"), ensure_ascii=False),
                },
            }
        ],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "call_abc123", "content": '{"patient_id": "P-0042"}'}


async def test_parallel_tool_calls_are_each_yielded_complete_in_index_order(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(
        tool_calls(
            ScriptedToolCall(
                "find_patient", {"full_name": "Ana", "date_of_birth": "1990-04-01"}, call_id="call_1"
            ),
            ScriptedToolCall(
                "find_patient", {"full_name": "Luis", "date_of_birth": "1988-12-24"}, call_id="call_2"
            ),
            say="Let me check both.",
        )
    )

    chunks = await collect(provider, ask())

    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.id, c.args["full_name"]) for c in calls] == [("call_1", "Ana"), ("call_2", "Luis")]
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Let me check both."


async def test_broken_tool_arguments_come_through_raw_for_tool_validation_to_report(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(tool_call("find_patient", raw_arguments='{"full_name": "Ana', call_id="call_x"))

    chunks = await collect(provider, ask())

    assert chunks[1] == ToolCallChunk(
        call=ToolCall(id="call_x", name="find_patient", args={"_raw": '{"full_name": "Ana'})
    )


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "expected_s"),
    [("retry-after", "7", 7.0), ("retry-after", "0.5", 0.5), ("retry-after-ms", "1500", 1.5)],
)
async def test_429_is_rate_limited_with_the_retry_after_the_server_sent(
    openai_server: OpenAIServer, provider: OpenAIChatProvider, header: str, value: str, expected_s: float
) -> None:
    limited = rate_limited(None)
    openai_server.script(HttpError(429, limited.body, {header: value}))

    error = await failure(provider, ask())

    assert error.kind == "rate_limited"
    assert error.retry_after_s == expected_s
    assert "Rate limit reached" in error.message


async def test_429_retry_after_as_http_date_becomes_seconds_from_now(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(
        rate_limited(retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))
    )

    error = await failure(provider, ask())

    assert error.kind == "rate_limited"
    assert error.retry_after_s is not None and 100 < error.retry_after_s <= 120


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_server_error(
    openai_server: OpenAIServer, provider: OpenAIChatProvider, status: int
) -> None:
    openai_server.script(server_error(status))

    error = await failure(provider, ask())

    assert error.kind == "server_error"
    assert f"HTTP {status}" in error.message and "local-openai" in error.message


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "bad_request"), (404, "bad_request"), (422, "bad_request"), (403, "auth")]
)
async def test_4xx_statuses_map_to_their_kind(
    openai_server: OpenAIServer, provider: OpenAIChatProvider, status: int, kind: str
) -> None:
    openai_server.script(
        http_error(status, "The model `gpt-nope` does not exist or you do not have access to it.")
    )

    error = await failure(provider, ask())

    assert error.kind == kind
    assert "gpt-nope" in error.message


async def test_wrong_api_key_is_auth(openai_server: OpenAIServer) -> None:
    chat = OpenAIChatProvider(api_key="sk-wrong", base_url=openai_server.base_url)
    try:
        error = await failure(chat, ask())
    finally:
        await chat.aclose()

    assert error.kind == "auth"
    assert "Incorrect API key" in error.message


async def test_error_event_inside_the_stream_is_server_error_after_the_text_before_it(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(stream_error(after_deltas=2, message="The model crashed mid-answer."))
    received: list[StreamChunk] = []

    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.stream(ask()):
            received.append(chunk)

    assert caught.value.kind == "server_error"
    assert "crashed mid-answer" in caught.value.message
    assert len(received) == 2 and all(isinstance(c, TextDelta) for c in received)


async def test_refused_connection_is_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request: nothing listens there
    chat = OpenAIChatProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/v1")
    try:
        error = await failure(chat, ask())
    finally:
        await chat.aclose()

    assert error.kind == "connection"


async def test_a_body_that_ends_before_the_answer_finished_is_connection_not_success(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(end_early(after_deltas=2))
    received: list[StreamChunk] = []

    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.stream(ask()):
            received.append(chunk)

    assert caught.value.kind == "connection"
    assert not any(isinstance(c, Usage) for c in received)


async def test_connection_dropped_mid_body_is_connection(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(drop_midway(after_deltas=1))

    error = await failure(provider, ask())

    assert error.kind == "connection"
    await openai_server.wait_until_idle()


async def test_silence_beyond_the_request_timeout_is_timeout_and_closes_the_connection(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(stall_before_first_token())
    chat = OpenAIChatProvider(
        api_key=openai_server.api_key, base_url=openai_server.base_url, request_timeout_s=0.2
    )
    try:
        error = await failure(chat, ask())
    finally:
        await chat.aclose()

    assert error.kind == "timeout"
    await openai_server.wait_until_idle()
    assert openai_server.streams_aborted == 1


# -- cancellation --------------------------------------------------------------------------------------------


async def test_consumer_timeout_during_a_stall_before_first_token_closes_the_stream_without_leaks(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(stall_before_first_token())
    tasks_before = asyncio.all_tasks()
    received: list[StreamChunk] = []

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            async for chunk in provider.stream(ask()):
                received.append(chunk)

    await openai_server.wait_until_idle()
    assert received == []
    assert openai_server.streams_aborted == 1 and openai_server.streams_completed == 0
    assert asyncio.all_tasks() - tasks_before == set()


async def test_consumer_timeout_before_response_headers_closes_the_connection_without_leaks(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(stall_before_headers())
    tasks_before = asyncio.all_tasks()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await collect(provider, ask())

    await openai_server.wait_until_idle()
    assert openai_server.streams_aborted == 1
    assert asyncio.all_tasks() - tasks_before == set()


async def test_cancelling_the_consumer_mid_stream_closes_the_response(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(stall_midway(after_deltas=2))
    tasks_before = asyncio.all_tasks()
    received: list[StreamChunk] = []
    two_deltas = asyncio.Event()

    async def consume() -> None:
        async for chunk in provider.stream(ask()):
            received.append(chunk)
            if len(received) == 2:
                two_deltas.set()

    consumer = asyncio.create_task(consume())
    await two_deltas.wait()
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer

    await openai_server.wait_until_idle()
    assert consumer.cancelled()
    assert [c.text for c in received if isinstance(c, TextDelta)] == ["Sorry", " for"]
    assert openai_server.streams_aborted == 1
    assert asyncio.all_tasks() - tasks_before == set()


async def test_stopping_early_with_aclosing_closes_the_response(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(stall_midway(after_deltas=1))

    async with contextlib.aclosing(provider.stream(ask())) as stream:
        async for chunk in stream:
            assert isinstance(chunk, TextDelta)
            break

    await openai_server.wait_until_idle()
    assert openai_server.streams_aborted == 1


async def test_the_connection_is_reused_after_a_complete_stream_and_aclose_releases_it(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    openai_server.script(text("One."), text("Two."))
    await collect(provider, ask())
    await collect(provider, ask())
    assert openai_server.open_connections == 1  # keep-alive: both requests on one connection

    await provider.aclose()

    await openai_server.wait_until_idle()
    error = await failure(provider, ask())
    assert error.kind == "connection" and "aclose" in error.message


# -- the local server itself ---------------------------------------------------------------------------------


async def test_local_server_answers_non_streamed_requests_in_the_sdk_shape(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(
        tool_call("find_patient", {"full_name": "Ana"}, call_id="call_9", usage=UsageSpec(10, 3))
    )
    client = openai.AsyncOpenAI(api_key=openai_server.api_key, base_url=openai_server.base_url, max_retries=0)
    try:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Ana"}]
        )
    finally:
        await client.close()

    tool = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (tool.id, tool.function.name, json.loads(tool.function.arguments)) == (  # type: ignore[union-attr]
        "call_9",
        "find_patient",
        {"full_name": "Ana"},
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 3)  # type: ignore[union-attr]


async def test_local_server_rejects_a_tool_call_without_its_result_like_the_api(
    openai_server: OpenAIServer, provider: OpenAIChatProvider
) -> None:
    dangling = ChatMessage(
        role="assistant", tool_calls=(ToolCall(id="call_1", name="find_patient", args={}),)
    )

    error = await failure(
        provider, ask(ChatMessage(role="user", content="hi"), dangling, ChatMessage(role="user", content="?"))
    )

    assert error.kind == "bad_request"
    assert "call_1" in error.message
