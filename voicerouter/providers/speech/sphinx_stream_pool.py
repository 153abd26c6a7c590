"""Streaming recognition from the event loop: worker processes that each hold a few open decoders, fed the
caller's audio while they speak (see `sphinx_stream_worker` for the process side).

Why a pool of its own and not `SphinxPool`: a stream keeps its decoder's state between pieces of audio, so
every message of one utterance must reach the same process, which a `ProcessPoolExecutor` cannot promise.
Sending never blocks the loop: each worker has a sender thread behind a queue; replies are read when the
pipe is readable (`loop.add_reader`). When every decoder is busy or a worker has died, `open`
returns None and the caller decodes the utterance in one piece instead: a stream is a speed-up, never the
only way to be heard.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import queue
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from voicerouter.providers.speech.base import SpeechError
from voicerouter.providers.speech.sphinx_stream_worker import StreamSetup, serve
from voicerouter.providers.speech.sphinx_worker import DecodeResult

log = logging.getLogger(__name__)

DEFAULT_STREAMS_PER_WORKER = (
    6  # about 25 MB each; more callers than this speaking at once decode in one piece
)


class _Worker:
    """One process, its pipe, its sender thread and the streams open in it."""

    def __init__(self, index: int, streams_max: int) -> None:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        self.index = index
        self.conn: Connection = parent_end
        self.process: BaseProcess = context.Process(
            target=serve,
            args=(child_end, os.getpid(), streams_max),
            name=f"sphinx-stream-{index}",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.open: dict[int, SphinxStream] = {}
        self.alive = True
        self._outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(
            target=self._send_loop, name=f"sphinx-stream-send-{index}", daemon=True
        )
        self._sender.start()

    def send(self, message: tuple[Any, ...]) -> None:
        self._outbox.put(message)

    def _send_loop(self) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # the worker is gone; the reader reports it
                return

    def close(self) -> None:
        self._outbox.put(("stop",))
        self._outbox.put(None)


class SphinxStreamPool:
    """Worker processes for streaming decodes; at most `streams_per_worker` open streams in each."""

    def __init__(
        self,
        *,
        workers: int = 1,
        streams_per_worker: int = DEFAULT_STREAMS_PER_WORKER,
        name: str = "pocketsphinx",
    ) -> None:
        if workers < 1 or streams_per_worker < 1:
            raise ValueError(f"{name} streams: need workers >= 1 and streams_per_worker >= 1")
        self.name = name
        self.workers = workers
        self.streams_per_worker = streams_per_worker
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def open_streams(self) -> int:
        return sum(len(w.open) for w in self._workers)

    def open(self, setup: StreamSetup) -> SphinxStream | None:
        """A new stream, or None when no decoder is free (decode in one piece then)."""
        if self._closed:
            return None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._start_workers(loop)
        candidates = [w for w in self._workers if w.alive and len(w.open) < self.streams_per_worker]
        if not candidates:
            return None
        worker = min(candidates, key=lambda w: len(w.open))
        stream = SphinxStream(self, worker, next(self._ids), setup)
        worker.open[stream.stream_id] = stream
        worker.send(("open", stream.stream_id, setup))
        return stream

    def _start_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        self._workers = [w for w in self._workers if w.alive]
        while len(self._workers) < self.workers:
            worker = _Worker(len(self._workers), self.streams_per_worker)
            loop.add_reader(worker.conn.fileno(), self._on_readable, worker)
            self._workers.append(worker)

    def _on_readable(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._on_reply(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._lost(worker)

    def _on_reply(self, worker: _Worker, reply: tuple[Any, ...]) -> None:
        kind, stream_id, *rest = reply
        stream = worker.open.get(stream_id)
        if stream is None:
            return
        if kind == "hypothesis":
            stream._answered(("hypothesis", rest[0], rest[1]))
        elif kind == "final":  # its decoder stays taken until the carry below
            stream._answered(("final", rest[0]))
        elif kind == "carry":
            worker.open.pop(stream_id, None)
            stream.carry = rest[0]
        elif kind == "error":
            worker.open.pop(stream_id, None)
            stream._failed(SpeechError("engine_failed", f"{self.name}: stream decoding failed: {rest[0]}"))

    def _lost(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        worker.alive = False
        if self._loop is not None:
            self._loop.remove_reader(worker.conn.fileno())
        log.warning("%s: streaming worker %d stopped; its %d streams fall back", self.name, worker.index,
                    len(worker.open))  # fmt: skip
        for stream in list(worker.open.values()):
            stream._failed(SpeechError("engine_failed", f"{self.name}: streaming worker died"))
        worker.open.clear()
        worker.close()

    async def aclose(self) -> None:
        self._closed = True
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.alive and self._loop is not None:
                self._loop.remove_reader(worker.conn.fileno())
            worker.alive = False
            for stream in list(worker.open.values()):
                stream._failed(SpeechError("unavailable", f"{self.name}: streaming closed"))
            worker.close()
        for worker in workers:
            await asyncio.to_thread(_join, worker)


def _join(worker: _Worker) -> None:
    worker.process.join(timeout=5.0)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join(timeout=2.0)
    worker.conn.close()


class SphinxStream:
    """One utterance being decoded in a worker. `feed` never waits; `hypothesis` and `finish` do."""

    def __init__(self, pool: SphinxStreamPool, worker: _Worker, stream_id: int, setup: StreamSetup) -> None:
        self.pool = pool
        self.worker = worker
        self.stream_id = stream_id
        self.setup = setup
        self.fed_bytes = 0
        self.carry: str | None = None  # the utterance's cepstral mean, shortly after `finish`
        self._waiting: list[asyncio.Future[Any]] = []
        self._error: SpeechError | None = None
        self._finishing = False

    @property
    def closed(self) -> bool:
        return self._finishing or self._error is not None

    def feed(self, pcm16: bytes) -> None:
        if self.closed or not pcm16:
            return
        self.fed_bytes += len(pcm16)
        self.worker.send(("audio", self.stream_id, bytes(pcm16)))

    async def hypothesis(self) -> tuple[str, float]:
        """The words so far (confidence 0: a partial has no posterior)."""
        if self._error is not None:
            raise self._error
        if self._finishing:
            raise SpeechError("bad_input", f"{self.pool.name}: stream {self.stream_id} already finished")
        reply = await self._request(("hypothesis", self.stream_id))
        return reply[1], reply[2]

    async def finish(self) -> DecodeResult:
        """End the utterance: its final result, a search's tail after the last audio. Its cepstral mean
        follows as `carry`, to start the same caller's next stream from (`StreamSetup.cmn`)."""
        if self._error is not None:
            raise self._error
        if self._finishing:
            raise SpeechError("bad_input", f"{self.pool.name}: stream {self.stream_id} already finished")
        request = self._request(("finish", self.stream_id))
        self._finishing = True
        reply = await request
        result: DecodeResult = reply[1]
        return result

    def cancel(self) -> None:
        if self.closed:
            return
        self._finishing = True
        self.worker.open.pop(self.stream_id, None)
        self.worker.send(("cancel", self.stream_id))
        for future in self._waiting:
            if not future.done():
                future.cancel()
        self._waiting.clear()

    def _request(self, message: tuple[Any, ...]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self.worker.send(message)
        return future

    def _answered(self, reply: tuple[Any, ...]) -> None:
        if not self._waiting:
            return
        future = self._waiting.pop(0)  # a worker answers one stream's requests in order
        if not future.done():
            future.set_result(reply)

    def _failed(self, error: SpeechError) -> None:
        self._error = error
        for future in self._waiting:
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()
