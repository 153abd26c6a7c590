"""The transaction layer: matches messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2) and owns them.

It stamps `received`/`rport` on incoming Vias (§18.2.1, RFC 3581), routes responses back (§18.2.2),
releases every transaction that terminates, and never interprets a request for the dialog or call.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable

from voicerouter.media.sip.client_transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
)
from voicerouter.media.sip.fields import FieldError, Via
from voicerouter.media.sip.message import SipMessage, SipRequest, SipResponse
from voicerouter.media.sip.server_transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
)
from voicerouter.media.sip.transaction_base import (
    AckReceived,
    RequestReceived,
    SipTimers,
    StrayResponse,
    Transaction,
    TransactionEvent,
    TransactionKey,
)
from voicerouter.media.sip.transport import Address, Outbound, Transport


class UnknownTransaction(KeyError):
    """The TU named a transaction that does not exist (never created, or already released)."""


def server_key(request: SipRequest) -> TransactionKey:
    """§17.2.3: branch + sent-by + method, ACK matching its INVITE; RFC 2543 peers by dialog fields."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.rfc3261_branch:
        return TransactionKey("server", via.branch or "", method, via.sent_by)
    cseq = request.cseq.number
    legacy = f"2543|{request.uri}|{request.from_addr.tag}|{request.call_id}|{cseq}|{via}"
    return TransactionKey("server", legacy, method, via.sent_by)


def client_key(message: SipMessage) -> TransactionKey:
    """§17.1.3: a response matches by its top Via branch and its CSeq method."""
    return TransactionKey("client", message.top_via.branch or "", message.cseq.method)


def response_destination(via: Via, source: Address, transport: Transport) -> Address:
    """§18.2.2 with RFC 3581: back to the source port when rport was asked for (or on a connection)."""
    if transport.reliable or "rport" in via.params:
        return source
    maddr = via.params.get("maddr")
    port = via.port or 5060
    return Address(maddr, port) if maddr else Address(source.host, port)


def stamp_received(request: SipRequest, source: Address) -> None:
    """§18.2.1: note on the top Via where the request really came from (needed to reach NATed peers)."""
    values = request.headers.values("Via")
    via = request.top_via
    received = via.params.get("received")
    stamped = via
    if _host_differs(via.host, source.host) and received is None:
        stamped = stamped.with_params(received=source.host)
    if "rport" in via.params and not via.params.get("rport"):
        stamped = stamped.with_params(rport=str(source.port))
        if stamped.params.get("received") is None:
            stamped = stamped.with_params(received=source.host)
    if stamped is not via:
        request.headers.remove("Via")
        for value in [str(stamped), *values[1:]]:
            request.headers.add("Via", value)


def _host_differs(via_host: str, source_host: str) -> bool:
    try:
        return ipaddress.ip_address(via_host) != ipaddress.ip_address(source_host)
    except ValueError:
        return True  # a host name in sent-by is always followed by received=


class TransactionLayer:
    """All live transactions of one SIP endpoint; the TU talks to them by `TransactionKey`."""

    def __init__(self, timers: SipTimers | None = None) -> None:
        self.timers = timers or SipTimers()
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._outbox: list[Outbound] = []
        self._events: list[TransactionEvent] = []
        self._deadlines: list[tuple[float, TransactionKey]] = []  # a heap; stale entries are skipped

    @property
    def count(self) -> int:
        return len(self._clients) + len(self._servers)

    def receive(self, message: SipMessage, source: Address, transport: Transport, now_ms: float) -> None:
        """Feed one parsed message; the TU learns about it through `events()`."""
        if isinstance(message, SipResponse):
            touched = self._receive_response(message, source, now_ms)
        else:
            touched = self._receive_request(message, source, transport, now_ms)
        if touched is not None:
            self._collect([touched])

    def send_request(
        self, request: SipRequest, destination: Address, transport: Transport, now_ms: float
    ) -> TransactionKey:
        """Start a client transaction for a request whose top Via carries a fresh z9hG4bK branch."""
        key = client_key(request)
        if key in self._clients:
            raise ValueError(f"client transaction {key.branch} {key.method} already exists")
        kind = ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        transaction = kind(key, request, destination, transport, self.timers, now_ms)
        self._clients[key] = transaction
        self._collect([transaction])
        return key

    def send_response(self, key: TransactionKey, response: SipResponse, now_ms: float) -> None:
        transaction = self.server(key)
        transaction.send(response, now_ms)
        self._collect([transaction])

    def send_stateless(self, message: SipMessage, destination: Address, transport: Transport) -> None:
        """Bytes outside any transaction: the ACK for a 2xx, or the answer to a request that did not parse."""
        self._outbox.append(Outbound(message.to_bytes(), destination, transport))

    def send_raw(self, data: bytes, destination: Address, transport: Transport) -> None:
        """Bytes the TU retransmits itself: the 2xx to an INVITE until its ACK (§13.3.1.4)."""
        self._outbox.append(Outbound(data, destination, transport))

    def reply_destination(self, request: SipRequest, source: Address, transport: Transport) -> Address:
        return response_destination(request.top_via, source, transport)

    def server(self, key: TransactionKey) -> ServerTransaction:
        try:
            return self._servers[key]
        except KeyError:
            raise UnknownTransaction(f"no server transaction {key.method} {key.branch}") from None

    def client(self, key: TransactionKey) -> ClientTransaction:
        try:
            return self._clients[key]
        except KeyError:
            raise UnknownTransaction(f"no client transaction {key.method} {key.branch}") from None

    def has(self, key: TransactionKey) -> bool:
        return key in self._servers or key in self._clients

    def invite_for_cancel(self, cancel: SipRequest) -> ServerInviteTransaction | None:
        """§9.2: the INVITE server transaction a CANCEL targets (same key, method INVITE)."""
        key = server_key(cancel)
        found = self._servers.get(TransactionKey("server", key.branch, "INVITE", key.sent_by))
        return found if isinstance(found, ServerInviteTransaction) else None

    def transport_failed(self, key: TransactionKey) -> None:
        """The socket layer could not deliver for this transaction (§8.1.3.1: a 503 to the TU)."""
        transaction = self._clients.get(key) or self._servers.get(key)
        if transaction is not None:
            transaction.transport_failed()
            self._collect([transaction])

    def next_timer_ms(self) -> float | None:
        while self._deadlines:
            deadline, key = self._deadlines[0]
            transaction = self._live(key)
            if transaction is not None and transaction.next_timer_ms() == deadline:
                return deadline
            heapq.heappop(self._deadlines)  # the transaction ended or moved its timer since
        return None

    def on_timer(self, now_ms: float) -> None:
        due: dict[TransactionKey, Transaction] = {}
        while (deadline := self.next_timer_ms()) is not None and deadline <= now_ms:
            _, key = heapq.heappop(self._deadlines)
            transaction = self._live(key)
            if transaction is not None:
                due[key] = transaction
        for transaction in due.values():
            transaction.on_timer(now_ms)
        self._collect(due.values())

    def data_to_send(self) -> list[Outbound]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[TransactionEvent]:
        out, self._events = self._events, []
        return out

    def _receive_request(
        self, request: SipRequest, source: Address, transport: Transport, now_ms: float
    ) -> Transaction | None:
        stamp_received(request, source)
        key = server_key(request)
        existing = self._servers.get(key)
        if existing is not None:
            existing.receive(request, source, now_ms)
            return existing
        if request.method == "ACK":
            self._events.append(AckReceived(request, source, transport))
            return None
        destination = response_destination(request.top_via, source, transport)
        kind = ServerInviteTransaction if request.method == "INVITE" else ServerNonInviteTransaction
        transaction = kind(key, request, destination, transport, self.timers, now_ms)
        self._servers[key] = transaction
        self._events.append(RequestReceived(key, request, source, transport))
        return transaction

    def _receive_response(self, response: SipResponse, source: Address, now_ms: float) -> Transaction | None:
        try:
            key = client_key(response)
        except (FieldError, ValueError):
            return None
        transaction = self._clients.get(key)
        if transaction is None:
            self._events.append(StrayResponse(response, source))
            return None
        transaction.receive(response, now_ms)
        return transaction

    def _live(self, key: TransactionKey) -> Transaction | None:
        return self._clients.get(key) if key.role == "client" else self._servers.get(key)

    def _collect(self, touched: Iterable[Transaction]) -> None:
        """Move the outputs of the transactions just used up; re-arm their timers or release them."""
        for transaction in touched:
            self._outbox.extend(transaction.data_to_send())
            self._events.extend(transaction.events())
            if transaction.terminated:
                if transaction.key.role == "client":
                    self._clients.pop(transaction.key, None)
                else:
                    self._servers.pop(transaction.key, None)
            elif (deadline := transaction.next_timer_ms()) is not None:
                heapq.heappush(self._deadlines, (deadline, transaction.key))
