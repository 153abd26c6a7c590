"""AnthropicMessagesProvider through the real `anthropic` SDK against a local Messages server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from tests.servers.anthropic_server import AnthropicServer, http_error, overloaded, rate_limited, server_error
from tests.servers.fixtures import anthropic_server_fixture  # noqa: F401  (registers `anthropic_server`)
from tests.servers.scripted import (
    ScriptedToolCall,
    UsageSpec,
    drop_midway,
    end_early,
    slow_first_token,
    stall_before_first_token,
    stall_before_headers,
    stall_midway,
    stream_error,
    text,
    tool_call,
    tool_calls,
)
from voicerouter.providers.anthropic_messages import AnthropicMessagesProvider
from voicerouter.providers.base import (
    ChatMessage,
    ChatProvider,
    ChatRequest,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    Usage,
)

CHECK_TICKET = ToolSpec(
    name="check_ticket",
    description="Status of a helpdesk ticket by its number.",
    parameters={"type": "object", "properties": {"ticket_id": {"type": "string"}}, "required": ["ticket_id"]},
)


def ask(
    *messages: ChatMessage, tools: tuple[ToolSpec, ...] = (CHECK_TICKET,), max_tokens: int = 400
) -> ChatRequest:
    return ChatRequest(
        model="claude-haiku-4-5",
        system="You are the IT helpdesk.",
        messages=messages or (ChatMessage(role="user", content="My laptop will not boot."),),
        tools=tools,
        max_tokens=max_tokens,
    )


@pytest.fixture
async def provider(anthropic_server: AnthropicServer) -> AsyncIterator[AnthropicMessagesProvider]:
    chat = AnthropicMessagesProvider(
        api_key=anthropic_server.api_key, base_url=anthropic_server.base_url, name="local-anthropic"
    )
    yield chat
    await chat.aclose()


async def collect(provider: AnthropicMessagesProvider, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request)]


async def failure(provider: AnthropicMessagesProvider, request: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await collect(provider, request)
    return caught.value


def said(chunks: list[StreamChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


# -- streaming -----------------------------------------------------------------------------------------------


async def test_text_arrives_as_several_deltas_in_order_then_one_usage(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    deltas = ("Let's", " try a", " hard reset:", " hold power for ten seconds.")
    anthropic_server.script(text("".join(deltas), deltas=deltas))

    chunks = await collect(provider, ask())

    assert [c.text for c in chunks if isinstance(c, TextDelta)] == list(deltas)
    assert [type(c) for c in chunks] == [TextDelta] * 4 + [Usage]


async def test_text_after_a_slow_first_token_still_arrives_whole(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(slow_first_token(50, text("One moment please.")))

    chunks = await collect(provider, ask())

    assert said(chunks) == "One moment please."


async def test_request_carries_system_prompt_tools_and_max_tokens(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(text("Sure."))

    await collect(provider, ask(max_tokens=222))

    body = anthropic_server.requests[0].body
    cache = {"type": "ephemeral"}
    assert body["system"] == [{"type": "text", "text": "You are the IT helpdesk.", "cache_control": cache}]
    assert body["max_tokens"] == 222
    assert body["stream"] is True
    assert body["tools"] == [
        {
            "name": "check_ticket",
            "description": CHECK_TICKET.description,
            "input_schema": CHECK_TICKET.parameters,
            "cache_control": cache,
        }
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "My laptop will not boot.", "cache_control": cache}],
        }
    ]
    assert anthropic_server.requests[0].headers.get("anthropic-version")


async def test_one_provider_serves_concurrent_streams_each_with_its_own_answer(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    def echo(body: dict[str, Any]) -> str:
        content = body["messages"][-1]["content"]
        return "You said: " + (content if isinstance(content, str) else content[0]["text"])

    anthropic_server.script(*(text(echo) for _ in range(3)))
    questions = ["first question", "second question", "third question"]

    answers = await asyncio.gather(
        *(collect(provider, ask(ChatMessage(role="user", content=q))) for q in questions)
    )

    assert [said(chunks) for chunks in answers] == [f"You said: {q}" for q in questions]


async def test_provider_is_a_chat_provider_named_anthropic_by_default() -> None:
    chat: ChatProvider = AnthropicMessagesProvider(api_key="k", base_url="http://127.0.0.1:9")

    assert chat.name == "anthropic"
    await chat.aclose()  # type: ignore[attr-defined]


async def test_usage_counts_every_prompt_token_and_reports_cache_reads_as_cached(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    spec = UsageSpec(
        input_tokens=120, output_tokens=31, cached_input_tokens=2048, cache_write_input_tokens=300
    )
    anthropic_server.script(text("Done.", usage=spec))

    chunks = await collect(provider, ask())

    # The API's input_tokens excludes cache reads and writes; Usage.input_tokens is all of the prompt.
    assert chunks[-1] == Usage(
        input_tokens=120 + 2048 + 300,
        output_tokens=31,
        cached_input_tokens=2048,
        cache_write_input_tokens=300,
    )
    assert sum(isinstance(c, Usage) for c in chunks) == 1


# -- tools ---------------------------------------------------------------------------------------------------


async def test_tool_use_round_trip_sends_tool_use_and_tool_result_blocks_in_wire_shape(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    def echo_result(body: dict[str, object]) -> str:
        last_turn = body["messages"][-1]  # type: ignore[index]
        return f"Ticket status: {last_turn['content'][0]['content']}."

    anthropic_server.script(
        tool_call(
            "check_ticket", {"ticket_id": "INC-4711"}, call_id="toolu_01A", fragments=4, say="Checking."
        ),
        text(echo_result),
    )
    question = ChatMessage(role="user", content="What about ticket INC-4711?")

    first = await collect(provider, ask(question))

    assert said(first) == "Checking."
    calls = [c.call for c in first if isinstance(c, ToolCallChunk)]
    assert calls == [ToolCall(id="toolu_01A", name="check_ticket", args={"ticket_id": "INC-4711"})]
    answered = ChatMessage(role="assistant", content="Checking.", tool_calls=tuple(calls))
    result = ChatMessage(role="tool", tool_call_id="toolu_01A", name="check_ticket", content="in progress")
    second = await collect(provider, ask(question, answered, result))

    assert said(second) == "Ticket status: in progress."
    assert anthropic_server.requests[1].body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What about ticket INC-4711?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "check_ticket",
                    "input": {"ticket_id": "INC-4711"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A",
                    "content": "in progress",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ]


async def test_parallel_tool_results_go_back_merged_in_one_user_message(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(
        tool_calls(
            ScriptedToolCall("check_ticket", {"ticket_id": "INC-1"}, call_id="toolu_1"),
            ScriptedToolCall("check_ticket", {"ticket_id": "INC-2"}, call_id="toolu_2"),
        ),
        text("Both are closed."),
    )
    first = await collect(provider, ask())
    calls = tuple(c.call for c in first if isinstance(c, ToolCallChunk))
    assert [c.id for c in calls] == ["toolu_1", "toolu_2"]

    history = (
        ChatMessage(role="user", content="Check INC-1 and INC-2."),
        ChatMessage(role="assistant", tool_calls=calls),
        ChatMessage(role="tool", tool_call_id="toolu_1", content="closed"),
        ChatMessage(role="tool", tool_call_id="toolu_2", content="closed"),
        ChatMessage(role="user", content="Thanks, and?"),
    )
    second = await collect(provider, ask(*history))

    assert said(second) == "Both are closed."
    turns = anthropic_server.requests[1].body["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [  # no empty text block for the silent assistant turn
        {"type": "tool_use", "id": "toolu_1", "name": "check_ticket", "input": {"ticket_id": "INC-1"}},
        {"type": "tool_use", "id": "toolu_2", "name": "check_ticket", "input": {"ticket_id": "INC-2"}},
    ]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "closed"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "closed"},
        {"type": "text", "text": "Thanks, and?", "cache_control": {"type": "ephemeral"}},
    ]


async def test_broken_tool_input_comes_through_raw_for_tool_validation_to_report(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(
        tool_call("check_ticket", raw_arguments='{"ticket_id": INC-9}', call_id="toolu_bad")
    )

    chunks = await collect(provider, ask())

    assert chunks[1] == ToolCallChunk(
        call=ToolCall(id="toolu_bad", name="check_ticket", args={"_raw": '{"ticket_id": INC-9}'})
    )


async def test_tool_call_without_arguments_has_empty_args(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(tool_call("check_ticket", raw_arguments="", call_id="toolu_0"))

    chunks = await collect(provider, ask())

    assert chunks[1] == ToolCallChunk(call=ToolCall(id="toolu_0", name="check_ticket", args={}))


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after_s", "expected_s"), [(7, 7.0), (0.25, 0.25)])
async def test_429_is_rate_limited_with_the_retry_after_the_server_sent(
    anthropic_server: AnthropicServer,
    provider: AnthropicMessagesProvider,
    retry_after_s: float,
    expected_s: float,
) -> None:
    anthropic_server.script(rate_limited(retry_after_s))

    error = await failure(provider, ask())

    assert error.kind == "rate_limited"
    assert error.retry_after_s == expected_s
    assert "rate_limit_error" in error.message


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_server_error(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider, status: int
) -> None:
    anthropic_server.script(server_error(status))

    error = await failure(provider, ask())

    assert error.kind == "server_error"
    assert f"HTTP {status}" in error.message and "local-anthropic" in error.message
    assert error.retry_after_s is None


async def test_529_overloaded_is_server_error(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(overloaded())

    error = await failure(provider, ask())

    assert error.kind == "server_error"
    assert "overloaded_error" in error.message


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", "bad_request"),
        (404, "not_found_error", "bad_request"),
        (403, "permission_error", "auth"),
    ],
)
async def test_4xx_statuses_map_to_their_kind(
    anthropic_server: AnthropicServer,
    provider: AnthropicMessagesProvider,
    status: int,
    error_type: str,
    kind: str,
) -> None:
    anthropic_server.script(http_error(status, error_type, "model: claude-nope"))

    error = await failure(provider, ask())

    assert error.kind == kind
    assert "claude-nope" in error.message


async def test_wrong_api_key_is_auth(anthropic_server: AnthropicServer) -> None:
    chat = AnthropicMessagesProvider(api_key="sk-ant-wrong", base_url=anthropic_server.base_url)
    try:
        error = await failure(chat, ask())
    finally:
        await chat.aclose()

    assert error.kind == "auth"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "server_error"),
        ("api_error", "server_error"),
        ("rate_limit_error", "rate_limited"),
    ],
)
async def test_error_event_inside_the_stream_maps_by_its_error_type(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider, error_type: str, kind: str
) -> None:
    anthropic_server.script(stream_error(after_deltas=2, error_type=error_type, message="Overloaded"))
    received: list[StreamChunk] = []

    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.stream(ask()):
            received.append(chunk)

    assert caught.value.kind == kind
    assert error_type in caught.value.message
    assert len(received) == 2 and all(isinstance(c, TextDelta) for c in received)


async def test_a_body_that_ends_before_the_answer_finished_is_connection_not_success(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(end_early(after_deltas=2))
    received: list[StreamChunk] = []

    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.stream(ask()):
            received.append(chunk)

    assert caught.value.kind == "connection"
    assert not any(isinstance(c, Usage) for c in received)


async def test_connection_dropped_mid_body_is_connection(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(drop_midway(after_deltas=1))

    error = await failure(provider, ask())

    assert error.kind == "connection"
    await anthropic_server.wait_until_idle()


async def test_silence_mid_stream_beyond_the_request_timeout_is_timeout(
    anthropic_server: AnthropicServer,
) -> None:
    anthropic_server.script(stall_midway(after_deltas=1))
    chat = AnthropicMessagesProvider(
        api_key=anthropic_server.api_key, base_url=anthropic_server.base_url, request_timeout_s=0.2
    )
    try:
        error = await failure(chat, ask())
    finally:
        await chat.aclose()

    assert error.kind == "timeout"
    await anthropic_server.wait_until_idle()
    assert anthropic_server.streams_aborted == 1


# -- cancellation --------------------------------------------------------------------------------------------


async def test_consumer_timeout_during_a_stall_before_first_token_closes_the_stream_without_leaks(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(stall_before_first_token())
    tasks_before = asyncio.all_tasks()
    received: list[StreamChunk] = []

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            async for chunk in provider.stream(ask()):
                received.append(chunk)

    await anthropic_server.wait_until_idle()
    assert received == []
    assert anthropic_server.streams_aborted == 1 and anthropic_server.streams_completed == 0
    assert asyncio.all_tasks() - tasks_before == set()


async def test_consumer_timeout_before_response_headers_closes_the_connection_without_leaks(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(stall_before_headers())
    tasks_before = asyncio.all_tasks()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await collect(provider, ask())

    await anthropic_server.wait_until_idle()
    assert anthropic_server.streams_aborted == 1
    assert asyncio.all_tasks() - tasks_before == set()


async def test_cancelling_the_consumer_mid_stream_closes_the_response(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(stall_midway(after_deltas=2))
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

    await anthropic_server.wait_until_idle()
    assert consumer.cancelled()
    assert [c.text for c in received if isinstance(c, TextDelta)] == ["Sorry", " for"]
    assert anthropic_server.streams_aborted == 1
    assert asyncio.all_tasks() - tasks_before == set()


async def test_stopping_early_with_aclosing_closes_the_response(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(stall_midway(after_deltas=1))

    async with contextlib.aclosing(provider.stream(ask())) as stream:
        async for chunk in stream:
            assert isinstance(chunk, TextDelta)
            break

    await anthropic_server.wait_until_idle()
    assert anthropic_server.streams_aborted == 1


async def test_aclose_releases_the_kept_alive_connection_and_refuses_new_streams(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    anthropic_server.script(text("One."), text("Two."))
    await collect(provider, ask())
    await collect(provider, ask())
    assert anthropic_server.open_connections == 1

    await provider.aclose()

    await anthropic_server.wait_until_idle()
    error = await failure(provider, ask())
    assert error.kind == "connection" and "aclose" in error.message


# -- the local server itself ---------------------------------------------------------------------------------


async def test_local_server_answers_non_streamed_requests_in_the_sdk_shape(
    anthropic_server: AnthropicServer,
) -> None:
    anthropic_server.script(
        tool_call(
            "check_ticket", {"ticket_id": "INC-3"}, call_id="toolu_3", say="Looking.", usage=UsageSpec(9, 4)
        )
    )
    client = anthropic.AsyncAnthropic(api_key=anthropic_server.api_key, base_url=anthropic_server.base_url)
    try:
        message = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "INC-3?"}]
        )
    finally:
        await client.close()

    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"ticket_id": "INC-3"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 4)


async def test_local_server_rejects_a_tool_use_without_its_result_like_the_api(
    anthropic_server: AnthropicServer, provider: AnthropicMessagesProvider
) -> None:
    dangling = ChatMessage(
        role="assistant", tool_calls=(ToolCall(id="toolu_9", name="check_ticket", args={}),)
    )

    error = await failure(
        provider, ask(ChatMessage(role="user", content="hi"), dangling, ChatMessage(role="user", content="?"))
    )

    assert error.kind == "bad_request"
    assert "toolu_9" in error.message
