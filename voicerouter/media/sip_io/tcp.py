"""SIP over TCP for the endpoint: accept connections, frame their byte streams, write responses back.

One `SipStreamParser` per connection; messages and parse errors go to the endpoint's callbacks. Outbound
messages go on the connection to their destination (opened if none is open). A connection that loses its
framing, idles too long or exceeds the connection cap is closed; it never lets a peer's bytes raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine

from voicerouter import workers
from voicerouter.media.sip.message import SipMessage
from voicerouter.media.sip.parser import SipParseError, SipStreamParser, StreamBroken
from voicerouter.media.sip.transport import Address

log = logging.getLogger(__name__)

READ_BYTES = 65_536
IDLE_TIMEOUT_S = 600.0  # a trunk's keep-alive (CRLF ping, OPTIONS) comes well within this
CONNECT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 256

OnMessage = Callable[[SipMessage, Address], None]
OnParseError = Callable[[SipParseError, Address], None]


class SipTcpServer:
    def __init__(self, on_message: OnMessage, on_parse_error: OnParseError) -> None:
        self._on_message = on_message
        self._on_parse_error = on_parse_error
        self._server: asyncio.Server | None = None
        self._writers: dict[Address, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[Address, list[bytes]] = {}

    @property
    def connections(self) -> int:
        return len(self._writers)

    @property
    def task_count(self) -> int:
        return len(self._tasks)

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._accepted, host, port, limit=READ_BYTES, reuse_port=workers.reuse_port() or None
        )

    def send(self, data: bytes, destination: Address) -> None:
        writer = self._writers.get(destination)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        queued = self._pending.setdefault(destination, [])
        queued.append(data)
        if len(queued) == 1:  # the first message to an unconnected peer opens the connection
            self._spawn(self._connect(destination), f"sip tcp connect {destination}")

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # ---- connections

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._writers) >= MAX_CONNECTIONS or not peer:
            log.warning("sip tcp: refusing a connection from %s (%d open)", peer, len(self._writers))
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(Address(peer[0], peer[1]), reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _connect(self, destination: Address) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(destination.host, destination.port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            dropped = len(self._pending.pop(destination, []))
            log.warning(
                "sip tcp: cannot connect to %s (%s); %d message(s) dropped", destination, exc, dropped
            )
            return
        for data in self._pending.pop(destination, []):
            writer.write(data)
        await self._serve(destination, reader, writer)

    async def _serve(self, peer: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers[peer] = writer
        parser = SipStreamParser()
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(READ_BYTES), IDLE_TIMEOUT_S)
                except TimeoutError:
                    log.info("sip tcp: closing %s after %.0f s idle", peer, IDLE_TIMEOUT_S)
                    return
                if not data:
                    return
                if not self._feed(parser, data, peer, writer):
                    return
        except (ConnectionError, OSError) as exc:
            log.info("sip tcp: connection from %s failed: %s", peer, exc)
        finally:
            if self._writers.get(peer) is writer:
                del self._writers[peer]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _feed(
        self, parser: SipStreamParser, data: bytes, peer: Address, writer: asyncio.StreamWriter
    ) -> bool:
        """Hand every framed message to the endpoint; False once the stream lost its framing."""
        pings = parser.keepalives
        try:
            items = parser.feed(data)
        except StreamBroken:
            return False
        for item in items:
            if isinstance(item, SipParseError):
                self._on_parse_error(item, peer)
                if item.fatal:
                    log.info("sip tcp: closing %s: %s", peer, item)
                    return False
            else:
                self._on_message(item, peer)
        for _ in range(parser.keepalives - pings):
            writer.write(b"\r\n")  # RFC 5626 §4.4.1: a CRLF pong for each CRLFCRLF ping
        return True

    def _spawn(self, coro: Coroutine[None, None, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
