"""Cassettes: every provider exchange of a live run (request fingerprint -> streamed chunks with their
timing), stored so that a later run replays it offline, on the virtual clock, with no key and no cost.

Recording wraps the real providers (`RecordingProviders`); replaying turns an entry back into the timeline
the simulator feeds the engine (`Cassette.timeline`). A request never seen is a miss: the simulator answers
it with its behaviour profile instead, and the report counts it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from voicerouter.agent import AgentSpec
from voicerouter.engine import io
from voicerouter.providers.base import (
    ChatProvider,
    ChatRequest,
    ProviderError,
    StreamChunk,
    TextDelta,
    ToolCallChunk,
    ToolCallStarted,
    Usage,
)

_CHUNK: TypeAdapter[StreamChunk] = TypeAdapter(StreamChunk)


def fingerprint(model: str, request: ChatRequest) -> str:
    """What makes two requests the same exchange: the config model, its vendor id and everything sent."""
    body = {
        "model": model,
        "vendor_model": request.model,
        "system": request.system,
        "messages": [m.model_dump(mode="json") for m in request.messages],
        "tools": [t.model_dump(mode="json") for t in request.tools],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class RecordedChunk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ms: float  # since the request was sent
    chunk: dict[str, Any]


class RecordedError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ms: float
    kind: str
    message: str
    retry_after_s: float | None = None


class Exchange(BaseModel):
    """One request and the stream that answered it, as the provider delivered it."""

    model_config = ConfigDict(extra="forbid")
    fingerprint: str
    model: str
    vendor_model: str
    turn_id: int | None = None
    first_token_ms: float | None = None  # first text or tool-call chunk: the model's own first token
    done_ms: float
    chunks: list[RecordedChunk]
    error: RecordedError | None = None


class Cassette:
    """A folder of exchanges, one JSON file each, named by fingerprint."""

    def __init__(self, directory: str | Path | None) -> None:
        """`directory` None: nothing is written, the exchanges are only timed (`recorded`)."""
        self.directory = Path(directory) if directory is not None else None
        self._loaded: dict[str, Exchange] | None = None
        self.hits = 0
        self.misses: list[dict[str, Any]] = []
        self.recorded: list[tuple[Exchange, bool]] = []  # this run's exchanges, and whether each completed

    def path(self, fp: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{fp[:40]}.json"

    def note(self, exchange: Exchange, *, complete: bool) -> None:
        """Keep an exchange's timing; a complete one (answered or failed) is also stored."""
        self.recorded.append((exchange, complete))
        if complete and self.directory is not None:
            self.save(exchange)

    def save(self, exchange: Exchange) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(exchange.fingerprint)
        if not path.exists():  # the first answer to a request is the one replayed
            path.write_text(exchange.model_dump_json(indent=1), encoding="utf-8")

    def _entries(self) -> dict[str, Exchange]:
        if self._loaded is None:
            loaded: dict[str, Exchange] = {}
            directory = self.directory
            files = sorted(directory.glob("*.json")) if directory is not None and directory.is_dir() else []
            for file in files:
                try:
                    exchange = Exchange.model_validate_json(file.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise ValueError(f"{file}: not a cassette exchange: {exc}") from exc
                loaded[exchange.fingerprint] = exchange
            self._loaded = loaded
        return self._loaded

    def __len__(self) -> int:
        return len(self._entries())

    def find(self, model: str, request: ChatRequest) -> Exchange | None:
        exchange = self._entries().get(fingerprint(model, request))
        if exchange is None:
            self.misses.append(
                {"model": model, "turn_id": request.turn_id, "fingerprint": fingerprint(model, request)}
            )
        else:
            self.hits += 1
        return exchange

    @staticmethod
    def timeline(exchange: Exchange, gen_id: int) -> list[tuple[float, io.Input]]:
        """The engine inputs the recorded stream amounts to, at their recorded times."""
        steps: list[tuple[float, io.Input]] = []
        usage = Usage()
        for recorded in exchange.chunks:
            chunk = _CHUNK.validate_python(recorded.chunk)
            if isinstance(chunk, TextDelta):
                steps.append((recorded.ms, io.ModelDelta(gen_id=gen_id, text=chunk.text)))
            elif isinstance(chunk, ToolCallChunk):
                steps.append((recorded.ms, io.ModelToolCall(gen_id=gen_id, call=chunk.call)))
            elif isinstance(chunk, ToolCallStarted):
                steps.append((recorded.ms, io.ModelProgress(gen_id=gen_id)))
            else:
                usage = chunk
        if exchange.error is not None:
            error = ProviderError(
                exchange.error.kind,  # type: ignore[arg-type]
                exchange.error.message,
                retry_after_s=exchange.error.retry_after_s,
            )
            steps.append((exchange.error.ms, io.ModelFailed(gen_id=gen_id, error=error)))
        else:
            steps.append((exchange.done_ms, io.ModelDone(gen_id=gen_id, usage=usage)))
        return steps


class _RecordingProvider:
    """A real provider whose every complete (or failed) stream is written to the cassette."""

    def __init__(self, inner: ChatProvider, model: str, cassette: Cassette) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = model
        self.cassette = cassette

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        started = time.perf_counter()
        chunks: list[RecordedChunk] = []
        first_ms: float | None = None

        def now_ms() -> float:
            return round((time.perf_counter() - started) * 1000, 1)

        def exchange(error: RecordedError | None = None) -> Exchange:
            return Exchange(
                fingerprint=fingerprint(self.model, request),
                model=self.model,
                vendor_model=request.model,
                turn_id=request.turn_id,
                first_token_ms=first_ms,
                done_ms=now_ms(),
                chunks=chunks,
                error=error,
            )

        try:
            async for chunk in self.inner.stream(request):
                ms = now_ms()
                if first_ms is None and not isinstance(chunk, Usage):
                    first_ms = ms
                chunks.append(RecordedChunk(ms=ms, chunk=chunk.model_dump(mode="json")))
                yield chunk
        except ProviderError as exc:
            error = RecordedError(
                ms=now_ms(), kind=exc.kind, message=exc.message, retry_after_s=exc.retry_after_s
            )
            self.cassette.note(exchange(error), complete=True)
            raise
        except BaseException:  # closed or cancelled midway: timed, but not an answer to replay
            self.cassette.note(exchange(), complete=False)
            raise
        self.cassette.note(exchange(), complete=True)


class RecordingProviders:
    """A provider lookup (as a call session takes) that records every exchange into `cassette`."""

    def __init__(self, inner: Any, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette
        self._wrapped: dict[tuple[str, str], _RecordingProvider] = {}

    def get(self, model: str, agent: AgentSpec) -> ChatProvider:
        key = (model, agent.name)
        if key not in self._wrapped:
            self._wrapped[key] = _RecordingProvider(self.inner.get(model, agent), model, self.cassette)
        return self._wrapped[key]
