"""The pieces of one user agent that its parts share: config, transaction layer, event queue, id source.

Call control and mid-call handling write through this context instead of calling into the user agent,
so no part reaches up to the one that owns it. It holds no call state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from voicerouter.media.sip.dialog import LocalEndpoint
from voicerouter.media.sip.fields import BRANCH_MAGIC_COOKIE
from voicerouter.media.sip.message import SipRequest, SipResponse
from voicerouter.media.sip.sdp import SessionDescription
from voicerouter.media.sip.transaction import TransactionLayer
from voicerouter.media.sip.transaction_base import TransactionKey
from voicerouter.media.sip.transport import Address, Transport
from voicerouter.media.sip.ua_events import UaEvent
from voicerouter.media.sip.ua_support import UserAgentConfig, build_response


@dataclass
class UaContext:
    config: UserAgentConfig
    endpoint: LocalEndpoint
    transactions: TransactionLayer
    token: Callable[[], str]
    events: list[UaEvent] = field(default_factory=list)
    owners: dict[TransactionKey, str] = field(default_factory=dict)  # client transaction → call/registration

    def branch(self) -> str:
        return BRANCH_MAGIC_COOKIE + self.token()

    def response(
        self,
        request: SipRequest,
        status: int,
        *,
        reason: str | None = None,
        to_tag: str | None = None,
        dialog: bool = False,
        sdp: SessionDescription | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> SipResponse:
        return build_response(
            request,
            status,
            server=self.config.server_name,
            reason=reason,
            to_tag=to_tag,
            contact=self.endpoint.contact() if dialog else None,
            sdp=sdp,
            extra=extra,
        )

    def respond(
        self,
        key: TransactionKey,
        request: SipRequest,
        status: int,
        now_ms: float,
        *,
        reason: str | None = None,
        to_tag: str | None = None,
        dialog: bool = False,
        sdp: SessionDescription | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> SipResponse:
        """Build and send a response on a server transaction."""
        response = self.response(
            request, status, reason=reason, to_tag=to_tag, dialog=dialog, sdp=sdp, extra=extra
        )
        self.transactions.send_response(key, response, now_ms)
        return response

    def send_request(
        self, request: SipRequest, destination: Address, transport: Transport, owner: str, now_ms: float
    ) -> TransactionKey:
        key = self.transactions.send_request(request, destination, transport, now_ms)
        self.owners[key] = owner
        return key
