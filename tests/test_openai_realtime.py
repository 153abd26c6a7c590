"""The OpenAI Realtime provider, through the real SDK, against a local GA Realtime server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TypeVar

import pytest
from openai import AsyncOpenAI

from tests.servers.realtime_server import RealtimeServer
from tests.servers.realtime_state import tone_bytes
from voicerouter.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    Usage,
)
from voicerouter.providers.realtime.client import (
    AudioDelta,
    Committed,
    FunctionCall,
    OpenAIRealtimeProvider,
    RealtimeSession,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionOutput,
    TranscriptDelta,
    TranscriptDone,
    Truncated,
)

OutputT = TypeVar("OutputT")

BOOK = ToolSpec(
    name="book_appointment",
    description="Book a slot for a patient.",
    parameters={
        "type": "object",
        "properties": {"patient_id": {"type": "string"}, "slot": {"type": "string"}},
        "required": ["patient_id", "slot"],
    },
)


def reader_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().endswith("-reader") and not t.done()]


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[RealtimeServer]:
    async with RealtimeServer() as server:
        yield server
        assert server.unconsumed == 0, f"{server.unconsumed} scripted replies were never requested"


@pytest.fixture(name="provider")
async def provider_fixture(server: RealtimeServer) -> AsyncIterator[OpenAIRealtimeProvider]:
    provider = OpenAIRealtimeProvider(api_key="test-key", websocket_base_url=server.ws_base_url)
    yield provider
    await provider.aclose()
    assert reader_tasks() == [], "a session reader task outlived its test"


@pytest.fixture(name="session")
async def session_fixture(provider: OpenAIRealtimeProvider) -> AsyncIterator[RealtimeSession]:
    session = provider.open_session()
    await session.open(instructions="You are a clinic receptionist.", tools=[BOOK])
    yield session
    await session.close()


async def until(
    session: RealtimeSession, kind: type[SessionOutput], timeout_s: float = 5.0
) -> list[SessionOutput]:
    """Every output up to and including the first of `kind`."""
    seen: list[SessionOutput] = []
    async with asyncio.timeout(timeout_s), aclosing(session.events()) as outputs:
        async for output in outputs:
            seen.append(output)
            if isinstance(output, kind):
                return seen
    raise AssertionError(f"session ended before a {kind.__name__}: {seen}")


def of(outputs: list[SessionOutput], kind: type[OutputT]) -> list[OutputT]:
    return [o for o in outputs if isinstance(o, kind)]


async def collect(provider: OpenAIRealtimeProvider, request: ChatRequest) -> list[StreamChunk]:
    async with aclosing(provider.stream(request)) as chunks:
        return [chunk async for chunk in chunks]


# -- session configuration and input audio --------------------------------------------------------


async def test_open_sends_ga_session_update_with_instructions_tools_formats_and_server_vad_off(
    server: RealtimeServer, provider: OpenAIRealtimeProvider
) -> None:
    session = provider.open_session(model="gpt-realtime")
    await session.open(
        instructions="Answer in one sentence.",
        tools=[BOOK],
        input_format="pcmu",
        output_format="pcma",
        voice="cedar",
    )
    await session.close()

    (update,) = server.events_of("session.update")
    assert update["session"] == {
        "type": "realtime",
        "instructions": "Answer in one sentence.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
            "output": {"format": {"type": "audio/pcma"}, "voice": "cedar"},
        },
        "tools": [
            {
                "type": "function",
                "name": "book_appointment",
                "description": "Book a slot for a patient.",
                "parameters": BOOK.parameters,
            }
        ],
        "tool_choice": "auto",
    }
    (conn,) = server.connections
    assert conn.model == "gpt-realtime"
    assert conn.authorization == "Bearer test-key"
    assert conn.session["audio"]["input"]["turn_detection"] is None  # the server applied it: VAD is off


async def test_appended_audio_reaches_the_server_byte_for_byte_and_commit_is_acknowledged(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    frames = [tone_bytes("audio/pcm", i * 100.0, 100.0, 300.0 + 100 * i) for i in range(3)]
    for frame in frames:
        await session.append_audio(frame)
    assert session.buffered_input_ms == 300.0

    await session.commit()
    outputs = await until(session, Committed)

    committed = outputs[-1]
    assert isinstance(committed, Committed)
    (conn,) = server.connections
    assert [c.item_id for c in conn.commits] == [committed.item_id]
    assert conn.commits[0].audio_ms == 300.0
    sent = b"".join(base64.b64decode(e["audio"]) for e in server.events_of("input_audio_buffer.append"))
    assert sent == b"".join(frames)
    assert session.buffered_input_ms == 0.0


async def test_a_server_error_arrives_as_session_error_and_the_session_stays_usable(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    await session.append_audio(bytes(48 * 40))  # 40 ms: under the API's 100 ms minimum
    await session.commit()
    error = (await until(session, SessionError))[-1]
    assert isinstance(error, SessionError)
    assert (error.kind, error.code, error.client_event) == (
        "bad_request",
        "input_audio_buffer_commit_empty",
        "input_audio_buffer.commit",
    )
    assert "input_audio_buffer.commit" in str(error.to_provider_error())

    await session.append_audio(bytes(48 * 200))
    await session.commit()
    assert isinstance((await until(session, Committed))[-1], Committed)


# -- responses ------------------------------------------------------------------------------------


async def test_a_response_streams_audio_with_its_transcript_and_reports_usage(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    text = "Your appointment is at nine tomorrow."
    server.reply_audio(text, audio_ms=1000)
    await session.create_response()
    outputs = await until(session, ResponseDone)

    assert isinstance(outputs[0], ResponseStarted)
    audio = [o for o in outputs if isinstance(o, AudioDelta)]
    assert sum(a.audio_ms for a in audio) == 1000.0
    assert b"".join(a.pcm for a in audio) == tone_bytes("audio/pcm", 0.0, 1000.0, server.tone_hz)
    assert "".join(o.text for o in outputs if isinstance(o, TranscriptDelta)) == text
    (done_transcript,) = of(outputs, TranscriptDone)
    assert isinstance(done_transcript, TranscriptDone) and done_transcript.text == text
    done = outputs[-1]
    assert isinstance(done, ResponseDone)
    assert done.status == "completed"
    assert done.response_id == outputs[0].response_id
    assert done.usage.output_audio_tokens == 20  # the server bills 1000 ms at 50 ms a token
    assert done.usage.output_text_tokens > 0 and done.usage.input_tokens > 0
    assert session.received_audio_ms(audio[0].item_id) == 1000
    assert session.active_response_id is None


async def test_a_function_call_round_trip_reaches_the_model_and_gets_an_answer(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    args = {"patient_id": "P-104", "slot": "2026-11-26T09:00"}
    server.function_call("book_appointment", args)
    server.reply_audio("You are booked for nine.", audio_ms=300)

    await session.create_response()
    outputs = await until(session, ResponseDone)
    (call,) = of(outputs, FunctionCall)
    assert isinstance(call, FunctionCall)
    assert (call.name, call.args) == ("book_appointment", args)

    await session.send_function_output(call.call_id, {"ok": True, "confirmation": "C-77"})
    await session.create_response()
    outputs = await until(session, ResponseDone)

    assert of(outputs, SessionError) == []  # the server found the call the output answers
    (output_item,) = [e["item"] for e in server.events_of("conversation.item.create")]
    assert output_item == {
        "type": "function_call_output",
        "call_id": call.call_id,
        "output": json.dumps({"ok": True, "confirmation": "C-77"}),
    }
    assert "".join(o.text for o in outputs if isinstance(o, TranscriptDelta)) == "You are booked for nine."


async def test_barge_in_cancels_mid_response_and_truncates_at_the_played_position() -> None:
    async with RealtimeServer(pace_audio=True, audio_chunk_ms=100) as server:
        provider = OpenAIRealtimeProvider(api_key="test-key", websocket_base_url=server.ws_base_url)
        async with provider.open_session() as session:
            await session.open(instructions="Talk.")
            server.reply_audio("This is a long answer that the caller will interrupt. " * 3, audio_ms=3000)
            await session.create_response()

            heard: list[AudioDelta] = []
            async with aclosing(session.events()) as outputs:
                async for output in outputs:
                    if isinstance(output, AudioDelta):
                        heard.append(output)
                        if len(heard) == 3:
                            assert await session.cancel_response() is True
                    if isinstance(output, ResponseDone):
                        done = output
                        break
            assert (done.status, done.reason) == ("cancelled", "client_cancelled")
            item_id = heard[0].item_id
            received_ms = session.received_audio_ms(item_id)
            assert received_ms is not None and 300 <= received_ms < 3000

            assert await session.truncate(item_id, 250) == 250
            truncated = (await until(session, Truncated))[-1]
            assert truncated == Truncated(item_id=item_id, audio_end_ms=250)
            assert server.connections[0].truncations == [{"item_id": item_id, "audio_end_ms": 250}]
            assert server.events_of("response.cancel")[0]["response_id"] == done.response_id
        await provider.aclose()


async def test_truncate_beyond_received_audio_is_clamped_logged_and_accepted(
    server: RealtimeServer, session: RealtimeSession, caplog: pytest.LogCaptureFixture
) -> None:
    server.reply_audio("Hello there.", audio_ms=500)
    await session.create_response()
    outputs = await until(session, ResponseDone)
    item_id = of(outputs, AudioDelta)[0].item_id

    with caplog.at_level(logging.WARNING):
        sent_ms = await session.truncate(item_id, 5000)
    outputs = await until(session, Truncated)

    assert sent_ms == 500
    assert of(outputs, SessionError) == []
    assert outputs[-1] == Truncated(item_id=item_id, audio_end_ms=500)
    assert server.events_of("conversation.item.truncate")[0]["audio_end_ms"] == 500
    assert "clamped from 5000 ms to 500 ms" in caplog.text
    # The cut shortened the item: a later truncate is clamped to the new length, not the original one.
    assert await session.truncate(item_id, 400) == 400
    assert session.received_audio_ms(item_id) == 500  # until the server confirms the second cut
    await until(session, Truncated)
    assert session.received_audio_ms(item_id) == 400


async def test_the_local_server_rejects_truncate_beyond_the_audio_it_sent_as_the_api_does(
    server: RealtimeServer,
) -> None:
    # Guards the clamp test above: without the clamp, this is the error the session would have hit.
    server.reply_audio("Hi.", audio_ms=200)
    client = AsyncOpenAI(api_key="test-key", websocket_base_url=server.ws_base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.response.create()
        item_id = None
        async for event in conn:
            if event.type == "response.output_audio.delta":
                item_id = event.item_id
            if event.type == "response.done":
                break
        assert item_id is not None
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=201)
        error = await conn.recv()
    await client.close()
    assert error.type == "error"
    assert "already shorter than 201ms" in error.error.message


async def test_cancel_response_with_nothing_in_progress_sends_nothing(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    assert await session.cancel_response() is False
    assert server.events_of("response.cancel") == []


async def test_add_item_text_writes_another_tiers_turn_and_the_voice_can_be_told_what_to_say(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    server.reply_audio("We open at eight.", audio_ms=400)
    await session.clear_input()
    await session.add_item_text("user", "When do you open?")
    await session.add_item_text("assistant", "Let me check.")
    await session.create_response(instructions="Say exactly: We open at eight.")
    outputs = await until(session, ResponseDone)

    assert of(outputs, SessionError) == []
    items = [e["item"] for e in server.events_of("conversation.item.create")]
    user_part = {"type": "input_text", "text": "When do you open?"}
    assistant_part = {"type": "output_text", "text": "Let me check."}
    assert items == [
        {"type": "message", "role": "user", "content": [user_part]},
        {"type": "message", "role": "assistant", "content": [assistant_part]},
    ]
    stored = [i for i in server.connections[0].items.values() if i["type"] == "message"][:2]
    assert [i["content"][0].get("text") for i in stored] == ["When do you open?", "Let me check."]
    (create,) = server.events_of("response.create")
    assert create["response"] == {"instructions": "Say exactly: We open at eight."}


# -- the ChatProvider contract --------------------------------------------------------------------


async def test_stream_replays_history_and_yields_a_complete_tool_call_then_one_usage(
    server: RealtimeServer, provider: OpenAIRealtimeProvider
) -> None:
    server.function_call("book_appointment", {"patient_id": "P-104", "slot": "09:00"})
    find = ToolCall(id="call_1", name="find_patient", args={"name": "Ada"})
    request = ChatRequest(
        model="gpt-realtime",
        system="You are a clinic receptionist.",
        messages=(
            ChatMessage(role="user", content="Is Ada Lovelace a patient?"),
            ChatMessage(role="assistant", tool_calls=(find,)),
            ChatMessage(role="tool", tool_call_id="call_1", name="find_patient", content='{"id": "P-104"}'),
            ChatMessage(role="assistant", content="Yes, she is."),
            ChatMessage(role="user", content="Book her at nine."),
        ),
        tools=(BOOK,),
        max_tokens=300,
    )

    chunks = await collect(provider, request)

    calls = [c for c in chunks if isinstance(c, ToolCallChunk)]
    booked = {"patient_id": "P-104", "slot": "09:00"}
    assert [(c.call.name, c.call.args) for c in calls] == [("book_appointment", booked)]
    assert isinstance(chunks[-1], Usage) and sum(isinstance(c, Usage) for c in chunks) == 1
    assert chunks[-1].input_tokens > 0 and chunks[-1].output_tokens > 0
    (update,) = server.events_of("session.update")
    assert update["session"]["output_modalities"] == ["text"]
    assert update["session"]["max_output_tokens"] == 300
    assert [e["item"]["type"] for e in server.events_of("conversation.item.create")] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert server.events_of("response.create")[0]["response"] == {"output_modalities": ["text"]}
    await server.wait_until(lambda: server.open_connections == 0)


async def test_stream_yields_text_deltas_that_join_to_the_answer(
    server: RealtimeServer, provider: OpenAIRealtimeProvider
) -> None:
    server.reply_text("We open at eight and close at six.")
    request = ChatRequest(
        model="gpt-realtime", system="Be brief.", messages=(ChatMessage(role="user", content="Hours?"),)
    )
    chunks = await collect(provider, request)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "We open at eight and close at six."
    assert isinstance(chunks[-1], Usage)


@pytest.mark.parametrize("via", ["error", "response"])
async def test_a_rate_limit_becomes_a_rate_limited_provider_error_with_retry_after(
    server: RealtimeServer, provider: OpenAIRealtimeProvider, via: str
) -> None:
    server.rate_limit(retry_after_s=1.5, via="error" if via == "error" else "response")
    request = ChatRequest(model="gpt-realtime", system="", messages=(ChatMessage(role="user", content="Hi"),))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, request)
    assert caught.value.kind == "rate_limited"
    assert caught.value.retry_after_s == 1.5
    await server.wait_until(lambda: server.open_connections == 0)


async def test_cancelling_the_stream_consumer_closes_the_socket() -> None:
    async with RealtimeServer(pace_audio=True, audio_chunk_ms=200) as server:
        provider = OpenAIRealtimeProvider(api_key="test-key", websocket_base_url=server.ws_base_url)
        server.reply_text("one two three four five six seven eight nine ten")
        messages = (ChatMessage(role="user", content="Count"),)
        request = ChatRequest(model="gpt-realtime", system="", messages=messages)
        first = asyncio.Event()

        async def consume() -> None:
            async with aclosing(provider.stream(request)) as chunks:
                async for _ in chunks:
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_until(lambda: server.connections[0].closed)
        assert reader_tasks() == []
        await provider.aclose()


# -- failures and lifecycle -----------------------------------------------------------------------


async def test_a_wrong_api_key_fails_open_with_an_auth_error(server: RealtimeServer) -> None:
    provider = OpenAIRealtimeProvider(api_key="wrong", websocket_base_url=server.ws_base_url)
    session = provider.open_session()
    with pytest.raises(ProviderError) as caught:
        await session.open(instructions="")
    assert caught.value.kind == "auth"
    assert "401" in caught.value.message
    await provider.aclose()


async def test_connection_loss_ends_events_with_a_connection_error(
    server: RealtimeServer, session: RealtimeSession
) -> None:
    await server.drop_connections()
    with pytest.raises(ProviderError) as caught:
        await until(session, ResponseDone)
    assert caught.value.kind == "connection"
    assert not session.is_open
    with pytest.raises(ProviderError) as on_send:
        await session.append_audio(bytes(480))
    assert on_send.value.kind == "connection"


async def test_close_ends_events_stops_the_reader_and_closes_the_socket(
    server: RealtimeServer, provider: OpenAIRealtimeProvider
) -> None:
    session = provider.open_session()
    await session.open(instructions="")
    assert len(reader_tasks()) == 1

    await session.close()
    await session.close()  # idempotent

    assert reader_tasks() == []
    async with asyncio.timeout(1), aclosing(session.events()) as outputs:
        assert [o async for o in outputs] == []
    await server.wait_until(lambda: server.connections[0].closed)
    with pytest.raises(ProviderError) as caught:
        await session.commit()
    assert caught.value.kind == "connection"
