"""SIP dialogs (RFC 3261 §12): identity, route set, remote target and CSeq bookkeeping of one call leg.

A dialog builds the in-dialog requests we send (BYE, REFER) and checks the CSeq order of those we receive;
it never sends anything and never decides whether a call goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from voicerouter.media.sip.fields import NameAddr, parse_name_addr
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.message import SipRequest
from voicerouter.media.sip.transport import Address, Transport
from voicerouter.media.sip.uri import SipUri, parse_uri


class DialogState(StrEnum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogStateError(Exception):
    def __init__(self, dialog_id: DialogId, state: DialogState, action: str) -> None:
        super().__init__(f"dialog {dialog_id.call_id}: cannot {action} while {state.value}")
        self.state = state


class DialogId(NamedTuple):
    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    """How we appear in Via and Contact: the advertised address (not 0.0.0.0) and transport."""

    host: str
    port: int
    transport: Transport = Transport.UDP
    contact_user: str = "voicerouter"

    def contact(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "" if self.transport is Transport.UDP else f";transport={self.transport.value.lower()}"
        return f"<sip:{self.contact_user}@{host}:{self.port}{suffix}>"

    def via(self, branch: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"SIP/2.0/{self.transport.value} {host}:{self.port};branch={branch};rport"


class Dialog:
    """One dialog as the UAS of an INVITE sees it (§12.1.1)."""

    def __init__(
        self,
        dialog_id: DialogId,
        *,
        local: NameAddr,
        remote: NameAddr,
        remote_target: SipUri,
        route_set: list[NameAddr],
        remote_seq: int,
        local_seq: int,
    ) -> None:
        self.id = dialog_id
        self.local = local
        self.remote = remote
        self.remote_target = remote_target
        self.route_set = route_set
        self.remote_seq = remote_seq
        self.local_seq = local_seq
        self.state = DialogState.EARLY

    @classmethod
    def as_uas(cls, request: SipRequest, local_tag: str, initial_local_seq: int) -> Dialog:
        """From a dialog-creating INVITE: Record-Route in order, Contact as remote target."""
        contact = request.contact
        if contact is None:
            raise ValueError(f"INVITE {request.call_id} has no Contact: cannot create a dialog")
        routes = [parse_name_addr(value, "Record-Route") for value in request.headers.values("Record-Route")]
        remote = request.from_addr
        return cls(
            DialogId(request.call_id, local_tag, remote.tag or ""),
            local=request.to_addr.with_tag(local_tag),
            remote=remote,
            remote_target=contact.sip_uri(),
            route_set=routes,
            remote_seq=request.cseq.number,
            local_seq=initial_local_seq,
        )

    def confirm(self) -> None:
        if self.state is DialogState.TERMINATED:
            raise DialogStateError(self.id, self.state, "confirm")
        self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    def accepts_cseq(self, request: SipRequest) -> bool:
        """§12.2.2: a request with a lower CSeq than the last is out of order (answer 500)."""
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return True
        if number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def refresh_target(self, request: SipRequest) -> None:
        """A target-refresh request (re-INVITE) may move the peer: take its Contact."""
        contact = request.contact
        if contact is not None:
            self.remote_target = contact.sip_uri()

    def new_request(
        self, method: str, local: LocalEndpoint, branch: str, extra: Headers | None = None
    ) -> tuple[SipRequest, Address]:
        """An in-dialog request (§12.2.1.1) and where to send it (first route, else the remote target)."""
        if self.state is DialogState.TERMINATED:
            raise DialogStateError(self.id, self.state, f"send {method}")
        self.local_seq += 1
        uri, routes = self._request_uri_and_routes()
        headers = Headers()
        headers.add("Via", local.via(branch))
        for route in routes:
            headers.add("Route", str(route))
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self.local))
        headers.add("To", str(self.remote))
        headers.add("Call-ID", self.id.call_id)
        headers.add("CSeq", f"{self.local_seq} {method}")
        headers.add("Contact", local.contact())
        for name, value in extra or Headers():
            headers.add(name, value)
        return SipRequest(headers=headers, method=method, uri=uri), self._next_hop()

    def _request_uri_and_routes(self) -> tuple[SipUri, list[NameAddr]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].sip_uri()
        if "lr" in first.params:
            return self.remote_target, list(self.route_set)
        strict_uri = SipUri(first.host, first.user, None, first.port, first.scheme, first.params)
        return strict_uri, [*self.route_set[1:], NameAddr(str(self.remote_target))]  # §12.2.1.1

    def _next_hop(self) -> Address:
        target = self.route_set[0].sip_uri() if self.route_set else self.remote_target
        maddr = target.params.get("maddr")
        default_port = 5061 if target.scheme == "sips" else 5060
        return Address(maddr or target.host, target.port or default_port)


def hop_for(uri: str | SipUri) -> Address:
    """Where an out-of-dialog request to this URI goes (no DNS here: a name stays a name)."""
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    default_port = 5061 if parsed.scheme == "sips" else 5060
    return Address(parsed.params.get("maddr") or parsed.host, parsed.port or default_port)
