"""The user agent's configuration, capabilities and inbound policy checks, and its response builder.

Everything here is a pure function of a request and the configuration: which source may call, which
extensions we refuse, what a response carries. It never keeps call state and never sends anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork

from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.sdp import SessionDescription
from voicerouter.media.sip.transport import Address, Transport

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY"
ACCEPT = "application/sdp"
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()  # we ask for no option tag and honour none in Require
KNOWN_METHODS = frozenset(
    "INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK SUBSCRIBE NOTIFY PUBLISH INFO REFER MESSAGE UPDATE".split()
)
DIALOG_ONLY_METHODS = frozenset(("BYE", "NOTIFY", "PRACK", "UPDATE", "INFO"))


class UserAgentConfig(BaseModel):
    """How the SIP endpoint presents itself and whom it lets in (part of `voicerouter.toml` later)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    advertised_host: str = Field(
        default="127.0.0.1", description="address put in Via/Contact/SDP: the public one behind NAT"
    )
    port: int = Field(default=5060, gt=0, lt=65536)
    transport: Transport = Transport.UDP
    contact_user: str = "voicerouter"
    server_name: str = "voicerouter"
    allowed_sources: tuple[IPvAnyNetwork, ...] = Field(
        default=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
        description="networks whose INVITEs are accepted; others get 403",
    )
    auth_realm: str = "voicerouter"
    auth_users: dict[str, str] = Field(
        default_factory=dict, description="user → password; when set, inbound INVITEs are digest-challenged"
    )
    auth_status: int = Field(default=401, description="401 (WWW-Authenticate) or 407 (Proxy-Authenticate)")
    auth_algorithms: tuple[Literal["SHA-256", "MD5"], ...] = Field(
        default=("SHA-256", "MD5"),
        min_length=1,
        description="challenges offered, in order (RFC 8760: SHA-256 first; MD5 alone for old peers)",
    )
    unanswered_timeout_s: float = Field(
        default=120.0, gt=0, description="an INVITE nobody accepts or rejects gets 480 after this long"
    )
    in_dialog_to_source: bool = Field(
        default=False,
        description="send BYE/REFER to the INVITE's source, not its Contact (callers behind NAT)",
    )


def source_allowed(config: UserAgentConfig, source: Address) -> bool:
    try:
        address = ipaddress.ip_address(source.host)
    except ValueError:
        return False
    return any(address in network for network in config.allowed_sources)


def unsupported_extensions(request: SipRequest) -> list[str]:
    """§8.2.2.3: option tags in Require that we do not support (answer 420 listing them)."""
    if request.method in ("ACK", "CANCEL"):
        return []
    return [tag for tag in request.headers.values("Require") if tag.lower() not in SUPPORTED_EXTENSIONS]


def build_response(
    request: SipRequest,
    status: int,
    *,
    server: str,
    reason: str | None = None,
    to_tag: str | None = None,
    contact: str | None = None,
    sdp: SessionDescription | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> SipResponse:
    """A response with the headers this UA always adds; dialog-creating ones copy Record-Route."""
    response = make_response(request, status, reason, to_tag)
    if contact is not None and status < 300:
        for value in request.headers.get_all("Record-Route"):
            response.headers.add("Record-Route", value)
        response.headers.add("Contact", contact)
    if status == 405 or (request.method in ("INVITE", "OPTIONS") and 200 <= status < 300):
        response.headers.add("Allow", ALLOW)
    for name, value in extra:
        response.headers.add(name, value)
    response.headers.add("Server", server)
    if sdp is not None:
        response.headers.add("Content-Type", "application/sdp")
        response.body = sdp.to_bytes()
    return response
