"""RFC 3261 §17 transactions walked on a virtual clock: retransmission schedules, timeouts, matching."""

from __future__ import annotations

import pytest

from tests.sip_corpus import invite_headers, message, trunk_invite
from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.parser import parse_datagram
from voicerouter.media.sip.transaction import TransactionLayer, response_destination
from voicerouter.media.sip.transaction_base import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionEvent,
    TransactionKey,
    TransactionStateError,
    TransactionTerminated,
    TransactionTimedOut,
)
from voicerouter.media.sip.transport import Address, Transport

PEER = Address("192.0.2.10", 5060)


def _parse(data: bytes) -> SipRequest | SipResponse:
    parsed = parse_datagram(data)
    assert parsed is not None
    return parsed


def _request(data: bytes) -> SipRequest:
    parsed = _parse(data)
    assert isinstance(parsed, SipRequest)
    return parsed


def _status(data: bytes) -> int:
    parsed = _parse(data)
    assert isinstance(parsed, SipResponse)
    return parsed.status


def _walk(
    layer: TransactionLayer, until_ms: float
) -> tuple[list[tuple[float, bytes]], list[TransactionEvent]]:
    """Fire every timer up to `until_ms`; returns (time, bytes) sent and the events, in order."""
    sent: list[tuple[float, bytes]] = []
    events: list[TransactionEvent] = []
    while (deadline := layer.next_timer_ms()) is not None and deadline <= until_ms:
        layer.on_timer(deadline)
        sent += [(deadline, out.data) for out in layer.data_to_send()]
        events += layer.events()
    return sent, events


def _client_invite(layer: TransactionLayer, transport: Transport = Transport.UDP) -> TransactionKey:
    request = _request(trunk_invite(branch="z9hG4bKclient1"))
    key = layer.send_request(request, PEER, transport, now_ms=0)
    assert [out.data for out in layer.data_to_send()] == [request.to_bytes()]
    return key


def _response_to(request: SipRequest, status: int, to_tag: str | None = "uas1") -> SipResponse:
    return make_response(request, status, to_tag=to_tag)


def test_client_invite_retransmits_at_t1_doubling_then_times_out_with_408() -> None:
    layer = TransactionLayer()
    key = _client_invite(layer)
    sent, events = _walk(layer, 40_000)
    assert [t for t, _ in sent] == [500, 1_500, 3_500, 7_500, 15_500, 31_500]  # gaps 500, 1000, 2000, ...
    timeouts = [e for e in events if isinstance(e, ResponseReceived)]
    assert len(timeouts) == 1 and timeouts[0].synthetic and timeouts[0].response.status == 408
    assert timeouts[0].key == key
    assert isinstance(events[-1], TransactionTerminated) and layer.count == 0


def test_client_invite_stops_retransmitting_on_1xx_and_acks_a_final_error() -> None:
    layer = TransactionLayer()
    key = _client_invite(layer)
    request = layer.client(key).request
    layer.receive(_response_to(request, 180), PEER, Transport.UDP, now_ms=100)
    assert [type(e) for e in layer.events()] == [ResponseReceived]
    layer.receive(_response_to(request, 486), PEER, Transport.UDP, now_ms=2_000)
    ack = _request(layer.data_to_send()[0].data)
    assert ack.method == "ACK" and ack.top_via.branch == "z9hG4bKclient1"
    assert ack.to_addr.tag == "uas1" and ack.cseq.number == request.cseq.number
    layer.receive(_response_to(request, 486), PEER, Transport.UDP, now_ms=2_100)  # retransmitted final
    assert [_request(o.data).method for o in layer.data_to_send()] == ["ACK"]
    assert [e.response.status for e in layer.events() if isinstance(e, ResponseReceived)] == [486]
    sent, events = _walk(layer, 60_000)
    assert sent == [] and isinstance(events[-1], TransactionTerminated)
    assert layer.count == 0


def test_client_invite_over_tcp_never_retransmits_but_still_times_out() -> None:
    layer = TransactionLayer()
    _client_invite(layer, Transport.TCP)
    sent, events = _walk(layer, 40_000)
    assert sent == []
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [408]


def test_client_invite_passes_2xx_retransmissions_up_in_the_accepted_state() -> None:
    layer = TransactionLayer()
    key = _client_invite(layer)
    ok = _response_to(layer.client(key).request, 200)
    layer.receive(ok, PEER, Transport.UDP, now_ms=300)
    layer.receive(ok, PEER, Transport.UDP, now_ms=800)
    assert [e.response.status for e in layer.events() if isinstance(e, ResponseReceived)] == [200, 200]
    assert layer.data_to_send() == []  # the ACK for a 2xx is the TU's, not the transaction's
    _walk(layer, 40_000)
    assert layer.count == 0


def _client_options(layer: TransactionLayer) -> TransactionKey:
    request = _request(
        message("OPTIONS sip:clinic@127.0.0.1 SIP/2.0", invite_headers(method="OPTIONS", branch="z9hG4bKopt"))
    )
    key = layer.send_request(request, PEER, Transport.UDP, now_ms=0)
    layer.data_to_send()
    return key


def test_non_invite_client_retransmits_capped_at_t2_and_times_out_at_64_t1() -> None:
    layer = TransactionLayer()
    _client_options(layer)
    sent, events = _walk(layer, 40_000)
    assert [t for t, _ in sent] == [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [408]


def test_non_invite_client_retransmits_every_t2_after_a_provisional_response() -> None:
    layer = TransactionLayer()
    key = _client_options(layer)
    layer.on_timer(500)
    layer.receive(_response_to(layer.client(key).request, 100, None), PEER, Transport.UDP, now_ms=600)
    layer.data_to_send()
    sent, _ = _walk(layer, 14_000)
    assert [t for t, _ in sent] == [1_500, 5_500, 9_500, 13_500]  # the pending timer fires, then T2 steps


def test_non_invite_client_absorbs_retransmitted_finals_and_ends_after_timer_k() -> None:
    layer = TransactionLayer()
    key = _client_options(layer)
    ok = _response_to(layer.client(key).request, 200)
    layer.receive(ok, PEER, Transport.UDP, now_ms=50)
    layer.receive(ok, PEER, Transport.UDP, now_ms=60)
    assert len([e for e in layer.events() if isinstance(e, ResponseReceived)]) == 1
    assert layer.next_timer_ms() == 5_050  # Timer K = T4
    _walk(layer, 6_000)
    assert layer.count == 0


def _server_invite(layer: TransactionLayer, now_ms: float = 0) -> RequestReceived:
    layer.receive(_request(trunk_invite()), PEER, Transport.UDP, now_ms)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    return events[0]


def test_server_invite_sends_100_trying_when_the_tu_is_slow() -> None:
    layer = TransactionLayer()
    _server_invite(layer)
    assert layer.data_to_send() == []
    sent, _ = _walk(layer, 250)
    assert len(sent) == 1
    trying = _parse(sent[0][1])
    assert isinstance(trying, SipResponse) and trying.status == 100 and sent[0][0] == 200
    assert trying.to_addr.tag is None


def test_server_invite_sends_no_100_when_the_tu_answers_within_200_ms() -> None:
    layer = TransactionLayer()
    event = _server_invite(layer)
    layer.send_response(event.key, _response_to(event.request, 180), now_ms=150)
    assert [_status(o.data) for o in layer.data_to_send()] == [180]
    sent, _ = _walk(layer, 1_000)
    assert sent == []


def test_server_invite_answers_a_retransmitted_invite_with_the_last_response_and_no_new_event() -> None:
    layer = TransactionLayer()
    event = _server_invite(layer)
    layer.send_response(event.key, _response_to(event.request, 180), now_ms=10)
    layer.data_to_send()
    layer.receive(_request(trunk_invite()), PEER, Transport.UDP, now_ms=500)
    assert layer.events() == []
    assert [_status(o.data) for o in layer.data_to_send()] == [180]


def test_server_invite_retransmits_an_error_until_acked_then_absorbs_acks() -> None:
    layer = TransactionLayer()
    event = _server_invite(layer)
    layer.send_response(event.key, _response_to(event.request, 486), now_ms=0)
    layer.data_to_send()
    sent, _ = _walk(layer, 8_000)
    assert [t for t, _ in sent] == [500, 1_500, 3_500, 7_500]  # Timer G: 500, 1000, 2000, 4000
    ack = message(
        "ACK sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="ACK", cseq=101, to_tag="uas1")
    )
    layer.receive(_request(ack), PEER, Transport.UDP, now_ms=8_100)
    layer.receive(_request(ack), PEER, Transport.UDP, now_ms=8_200)
    assert layer.events() == []  # the ACK of a non-2xx never reaches the TU
    sent, events = _walk(layer, 20_000)
    assert sent == [] and isinstance(events[-1], TransactionTerminated)
    assert events[-1].key == event.key and layer.count == 0


def test_server_invite_gives_up_with_timer_h_when_no_ack_comes() -> None:
    layer = TransactionLayer()
    event = _server_invite(layer)
    layer.send_response(event.key, _response_to(event.request, 404), now_ms=0)
    sent, events = _walk(layer, 40_000)
    assert max(t for t, _ in sent) < 32_000
    assert [type(e) for e in events][-2:] == [TransactionTimedOut, TransactionTerminated]


def test_server_invite_absorbs_invite_retransmissions_after_a_2xx() -> None:
    layer = TransactionLayer()
    event = _server_invite(layer)
    layer.send_response(event.key, _response_to(event.request, 200), now_ms=0)
    layer.data_to_send()
    layer.receive(_request(trunk_invite()), PEER, Transport.UDP, now_ms=600)
    assert layer.data_to_send() == [] and layer.events() == []
    layer.send_response(event.key, _response_to(event.request, 200), now_ms=500)  # the TU's 2xx resend
    assert len(layer.data_to_send()) == 1
    with pytest.raises(TransactionStateError):
        layer.send_response(event.key, _response_to(event.request, 486), now_ms=700)
    _walk(layer, 40_000)
    assert layer.count == 0


def test_non_invite_server_resends_its_final_response_and_lives_64_t1_over_udp() -> None:
    layer = TransactionLayer()
    options = message(
        "OPTIONS sip:clinic@127.0.0.1 SIP/2.0", invite_headers(method="OPTIONS", branch="z9hG4bKo2")
    )
    layer.receive(_request(options), PEER, Transport.UDP, now_ms=0)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived)
    layer.receive(_request(options), PEER, Transport.UDP, now_ms=100)  # still Trying: absorbed silently
    assert layer.data_to_send() == [] and layer.events() == []
    layer.send_response(event.key, _response_to(event.request, 200), now_ms=200)
    layer.receive(_request(options), PEER, Transport.UDP, now_ms=300)
    assert len(layer.data_to_send()) == 2
    with pytest.raises(TransactionStateError):
        layer.send_response(event.key, _response_to(event.request, 500), now_ms=400)
    assert layer.next_timer_ms() == 32_200  # Timer J
    _walk(layer, 40_000)
    assert layer.count == 0


def test_non_invite_server_over_tcp_ends_as_soon_as_it_answers() -> None:
    layer = TransactionLayer()
    options = message(
        "OPTIONS sip:clinic@127.0.0.1 SIP/2.0", invite_headers(method="OPTIONS", branch="z9hG4bKo3")
    )
    layer.receive(_request(options), PEER, Transport.TCP, now_ms=0)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived)
    layer.send_response(event.key, _response_to(event.request, 200), now_ms=1)
    assert layer.count == 0


def test_ack_for_a_2xx_has_its_own_branch_and_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    _server_invite(layer)
    ack = message(
        "ACK sip:voicerouter@127.0.0.1 SIP/2.0",
        invite_headers(method="ACK", branch="z9hG4bKack2xx", to_tag="t"),
    )
    layer.receive(_request(ack), PEER, Transport.UDP, now_ms=10)
    (event,) = layer.events()
    assert isinstance(event, AckReceived) and event.request.method == "ACK"


def test_cancel_is_its_own_transaction_and_finds_the_invite_it_targets() -> None:
    layer = TransactionLayer()
    invite = _server_invite(layer)
    cancel = message("CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="CANCEL"))
    layer.receive(_request(cancel), PEER, Transport.UDP, now_ms=50)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived) and event.key != invite.key
    target = layer.invite_for_cancel(event.request)
    assert target is not None and target.key == invite.key
    other = message(
        "CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="CANCEL", branch="z9hG4bKnone")
    )
    assert layer.invite_for_cancel(_request(other)) is None


def test_a_response_matching_no_client_transaction_is_reported_as_stray() -> None:
    layer = TransactionLayer()
    layer.receive(_response_to(_request(trunk_invite()), 200), PEER, Transport.UDP, now_ms=0)
    (event,) = layer.events()
    assert isinstance(event, StrayResponse)


def test_incoming_vias_are_stamped_with_received_and_rport() -> None:
    layer = TransactionLayer()
    layer.receive(_request(trunk_invite()), Address("198.51.100.7", 40_000), Transport.UDP, now_ms=0)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived)
    via = event.request.top_via
    assert via.params.get("received") == "198.51.100.7" and via.params.get("rport") == "40000"
    assert response_destination(via, Address("198.51.100.7", 40_000), Transport.UDP) == (
        "198.51.100.7",
        40_000,
    )


def test_without_rport_responses_go_to_the_source_ip_and_the_via_port() -> None:
    request = _request(trunk_invite().replace(b";rport", b""))
    assert response_destination(request.top_via, Address("198.51.100.7", 40_000), Transport.UDP) == (
        "198.51.100.7",
        5060,
    )
    assert response_destination(request.top_via, Address("198.51.100.7", 40_000), Transport.TCP) == (
        "198.51.100.7",
        40_000,
    )
