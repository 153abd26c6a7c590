"""SDP offer/answer (RFC 3264) for a G.711 telephone leg: PCMU or PCMA, RFC 4733 events, hold and unhold.

The answer takes the first codec of the caller's list that we support, keeps the caller's
telephone-event payload type, and mirrors direction; it never opens a port or sends media.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voicerouter.media.sip.sdp import (
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
)
from voicerouter.media.sip.transport import Address

TELEPHONE_EVENT = "telephone-event"
DEFAULT_EVENT_PT = 101
SUPPORTED_PTIME_MS = (10, 20, 30, 40, 50, 60)


class NoUsableMedia(SdpError):
    """The offer is valid but has nothing we can take: answer 488 Not Acceptable Here."""

    status = 488


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    payload_type: int
    clock_rate_hz: int = 8000


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
_STATIC = {"0": PCMU, "8": PCMA}


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def mirrored(self) -> Direction:
        """The answer's direction for an offer's: sendonly ↔ recvonly."""
        return {Direction.SENDONLY: Direction.RECVONLY, Direction.RECVONLY: Direction.SENDONLY}.get(
            self, self
        )

    @staticmethod
    def of(sends: bool, receives: bool) -> Direction:
        if sends and receives:
            return Direction.SENDRECV
        return Direction.SENDONLY if sends else (Direction.RECVONLY if receives else Direction.INACTIVE)


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Our side of the audio stream: where we receive RTP and what we accept."""

    address: str
    rtp_port: int
    codecs: tuple[Codec, ...] = (PCMU, PCMA)
    ptime_ms: int = 20
    telephone_events: bool = True
    session_id: str = ""  # empty: the user agent picks one per call
    username: str = "voicerouter"

    @property
    def addrtype(self) -> str:
        return "IP6" if ":" in self.address else "IP4"


@dataclass(frozen=True, slots=True)
class NegotiatedMedia:
    """What both sides agreed on; `direction` is ours (sendonly = we send, the caller only listens)."""

    remote_rtp: Address
    remote_rtcp: Address
    codec: Codec
    telephone_event_pt: int | None
    ptime_ms: int
    direction: Direction
    on_hold: bool  # the caller put us on hold (sendonly/inactive offer or the 0.0.0.0 address)


def answer_offer(
    offer: SessionDescription, local: LocalMedia, session_version: int = 0
) -> tuple[SessionDescription, NegotiatedMedia]:
    """The answer to an offer and the media it settles; `NoUsableMedia` when no audio stream fits."""
    answer_media: list[MediaDescription] = []
    negotiated: NegotiatedMedia | None = None
    for offered in offer.media:
        result = None if negotiated is not None else _accept_stream(offer, offered, local)
        if result is None:
            answer_media.append(MediaDescription(offered.media, 0, offered.proto, list(offered.formats)))
            continue
        media, negotiated = result
        answer_media.append(media)
    if negotiated is None:
        raise NoUsableMedia("no audio stream offers PCMU or PCMA over RTP/AVP")
    return _session(local, session_version, answer_media), negotiated


def make_offer(
    local: LocalMedia, session_version: int = 0, direction: Direction = Direction.SENDRECV
) -> SessionDescription:
    """Our offer when the caller sent none (late offer) or asked for one in a re-INVITE."""
    formats = [str(codec.payload_type) for codec in local.codecs]
    attributes: list[tuple[str, str | None]] = [
        ("rtpmap", f"{c.payload_type} {c.name}/{c.clock_rate_hz}") for c in local.codecs
    ]
    if local.telephone_events:
        formats.append(str(DEFAULT_EVENT_PT))
        attributes += [
            ("rtpmap", f"{DEFAULT_EVENT_PT} {TELEPHONE_EVENT}/8000"),
            ("fmtp", f"{DEFAULT_EVENT_PT} 0-16"),
        ]
    attributes += [("ptime", str(local.ptime_ms)), (direction.value, None)]
    media = MediaDescription("audio", local.rtp_port, "RTP/AVP", formats, attributes=attributes)
    return _session(local, session_version, [media])


def accept_answer(answer: SessionDescription, local: LocalMedia) -> NegotiatedMedia:
    """The media an answer to our own offer settles (the answer may only pick among what we offered)."""
    for media in answer.media:
        if media.media == "audio" and media.port != 0:
            result = _accept_stream(answer, media, local)
            if result is not None:
                return result[1]
    raise NoUsableMedia("the answer accepts no audio stream with a codec we offered")


def _accept_stream(
    session: SessionDescription, offered: MediaDescription, local: LocalMedia
) -> tuple[MediaDescription, NegotiatedMedia] | None:
    if offered.media != "audio" or offered.proto.upper() != "RTP/AVP" or offered.port == 0:
        return None
    rtpmap = offered.rtpmap()
    codec = _first_supported(offered.formats, rtpmap, local.codecs)
    if codec is None:
        return None
    codec_pt, chosen = codec
    event_pt = _telephone_event_pt(offered, rtpmap) if local.telephone_events else None
    connection = offered.connection or session.connection
    if connection is None:
        raise SdpError(f"audio stream on port {offered.port} has no c= line")
    ptime = _ptime(offered.attribute("ptime"), local.ptime_ms)
    offered_direction = _direction(offered, session)
    ours = offered_direction.mirrored()
    if connection.is_hold:
        ours = Direction.of(sends=False, receives=ours.receives)
    on_hold = connection.is_hold or not offered_direction.receives
    formats = [codec_pt] + ([str(event_pt)] if event_pt is not None else [])
    attributes: list[tuple[str, str | None]] = [
        ("rtpmap", f"{codec_pt} {chosen.name}/{chosen.clock_rate_hz}")
    ]
    if event_pt is not None:
        attributes.append(("rtpmap", f"{event_pt} {TELEPHONE_EVENT}/8000"))
        attributes.append(("fmtp", f"{event_pt} {offered.fmtp(str(event_pt)) or '0-16'}"))
    attributes += [("ptime", str(ptime)), (ours.value, None)]
    answer = MediaDescription("audio", local.rtp_port, offered.proto, formats, attributes=attributes)
    negotiated = NegotiatedMedia(
        remote_rtp=Address(connection.address, offered.port),
        remote_rtcp=_rtcp_address(offered, connection),
        codec=Codec(chosen.name, int(codec_pt), chosen.clock_rate_hz),
        telephone_event_pt=event_pt,
        ptime_ms=ptime,
        direction=ours,
        on_hold=on_hold,
    )
    return answer, negotiated


def _first_supported(
    formats: list[str], rtpmap: dict[str, tuple[str, int, int]], supported: tuple[Codec, ...]
) -> tuple[str, Codec] | None:
    by_name = {codec.name.upper(): codec for codec in supported}
    for pt in formats:
        if pt in rtpmap:
            name, rate, channels = rtpmap[pt]
            codec = by_name.get(name.upper())
            if codec is not None and rate == codec.clock_rate_hz and channels == 1:
                return pt, codec
        elif pt in _STATIC and _STATIC[pt].name in by_name:
            return pt, _STATIC[pt]
    return None


def _telephone_event_pt(offered: MediaDescription, rtpmap: dict[str, tuple[str, int, int]]) -> int | None:
    for pt in offered.formats:
        name, rate, _ = rtpmap.get(pt, ("", 0, 0))
        if name.lower() == TELEPHONE_EVENT and rate == 8000 and pt.isdigit():
            return int(pt)
    return None


def _direction(media: MediaDescription, session: SessionDescription) -> Direction:
    for scope in (media.attributes, session.attributes):
        for name, _ in scope:
            if name in Direction.__members__.values():
                return Direction(name)
    return Direction.SENDRECV


def _ptime(value: str | None, default_ms: int) -> int:
    if value is None:
        return default_ms
    try:
        ptime = int(float(value))
    except ValueError:
        return default_ms
    return ptime if ptime in SUPPORTED_PTIME_MS else default_ms


def _rtcp_address(media: MediaDescription, connection: Connection) -> Address:
    """RFC 3605 a=rtcp when given, else the RTP port + 1 (RFC 3550 §11)."""
    value = media.attribute("rtcp")
    if value:
        parts = value.split()
        if parts[0].isdigit():
            host = parts[3] if len(parts) >= 4 else connection.address
            return Address(host, int(parts[0]))
    return Address(connection.address, media.port + 1)


def _session(local: LocalMedia, version: int, media: list[MediaDescription]) -> SessionDescription:
    return SessionDescription(
        origin=Origin(local.username, local.session_id or "0", version, "IN", local.addrtype, local.address),
        session_name=local.username,
        connection=Connection(local.address, local.addrtype),
        media=media,
    )
