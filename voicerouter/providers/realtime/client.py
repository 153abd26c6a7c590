"""OpenAI Realtime (speech-to-speech over WebSocket) as a provider: audio sessions, and text via stream().

It never retries or falls back on its own (the router owns that); the session types are re-exported here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from openai import AsyncOpenAI

from voicerouter.providers.base import ChatRequest, ProviderError, StreamChunk, ToolCall, ToolCallChunk
from voicerouter.providers.base import TextDelta as ChatTextDelta
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
)
from voicerouter.providers.realtime.requests import AudioFormat
from voicerouter.providers.realtime.session import RealtimeSession

__all__ = [
    "AudioDelta",
    "AudioFormat",
    "Committed",
    "FunctionCall",
    "OpenAIRealtimeProvider",
    "RealtimeSession",
    "RealtimeUsage",
    "ResponseDone",
    "ResponseStarted",
    "SessionError",
    "SessionOutput",
    "SpeechStarted",
    "SpeechStopped",
    "TextDelta",
    "TranscriptDelta",
    "TranscriptDone",
    "Truncated",
]

_MAX_OUTPUT_TOKENS = 4096  # the API's ceiling for one response


class OpenAIRealtimeProvider:
    """`open_session()` for audio calls; `stream()` for text turns under the ChatProvider contract.

    `stream()` opens a short text-only session per request, replays the history, and yields text, complete
    tool calls and one Usage. The Realtime API takes no temperature, so `ChatRequest.temperature` is not sent.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        name: str = "openai_realtime",
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 10.0,
        idle_timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, websocket_base_url=websocket_base_url, max_retries=0
        )
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._idle_timeout_s = idle_timeout_s

    def open_session(self, *, model: str = "gpt-realtime") -> RealtimeSession:
        """A new, unopened session; call `await session.open(...)` to connect."""
        return RealtimeSession(
            self._client,
            model=model,
            provider_name=self.name,
            connect_timeout_s=self._connect_timeout_s,
            ack_timeout_s=self._ack_timeout_s,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """Text deltas and complete tool calls, then one Usage; closing the generator closes the socket."""
        session = self.open_session(model=request.model)
        try:
            await session.open(
                instructions=request.system,
                tools=request.tools,
                text_only=True,
                max_output_tokens=min(request.max_tokens, _MAX_OUTPUT_TOKENS),
            )
            await session.add_history(request.messages)
            await session.create_response(text_only=True)
            async with aclosing(session.events(idle_timeout_s=self._idle_timeout_s)) as outputs:
                async for output in outputs:
                    if isinstance(output, TextDelta):
                        yield ChatTextDelta(text=output.text)
                    elif isinstance(output, FunctionCall):
                        call = ToolCall(id=output.call_id, name=output.name, args=output.args)
                        yield ToolCallChunk(call=call)
                    elif isinstance(output, SessionError):
                        raise output.to_provider_error(self.name)
                    elif isinstance(output, ResponseDone):
                        yield output.usage.to_usage()
                        return
            raise ProviderError("connection", f"{self.name}: session ended before response.done")
        finally:
            await session.close()

    async def aclose(self) -> None:
        """Release the SDK client's HTTP pool (sessions close themselves)."""
        await self._client.close()
