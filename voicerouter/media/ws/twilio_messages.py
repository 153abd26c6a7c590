"""Twilio Media Streams messages, as Twilio sends them and as it expects them back.

Inbound: `connected`, `start` (streamSid, callSid, customParameters, mediaFormat audio/x-mulaw 8000 mono),
`media` (base64 µ-law, 20 ms, with track/chunk/timestamp), `dtmf`, `mark` (echoed once the audio queued before
it has played, or at once when a `clear` drops it) and `stop`. Outbound: `media`, `mark`, `clear`.
Pure data: parsing and building only; unknown extra fields are tolerated, as Twilio adds fields over time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

TWILIO_RATE_HZ = 8000
TWILIO_ENCODING = "audio/x-mulaw"


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Connected(_Message):
    event: Literal["connected"]
    protocol: str = "Call"
    version: str = "1.0.0"


class MediaFormat(_Message):
    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int = 1


class StartInfo(_Message):
    stream_sid: str = Field(alias="streamSid")
    account_sid: str = Field(default="", alias="accountSid")
    call_sid: str = Field(default="", alias="callSid")
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: MediaFormat = Field(alias="mediaFormat")


class Start(_Message):
    event: Literal["start"]
    sequence_number: str = Field(default="", alias="sequenceNumber")
    start: StartInfo
    stream_sid: str = Field(default="", alias="streamSid")


class MediaInfo(_Message):
    track: str = "inbound"
    chunk: str = ""
    timestamp: str = ""
    payload: str

    def audio(self) -> bytes:
        try:
            return base64.b64decode(self.payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"media.payload is not base64: {exc}") from exc


class Media(_Message):
    event: Literal["media"]
    sequence_number: str = Field(default="", alias="sequenceNumber")
    media: MediaInfo
    stream_sid: str = Field(default="", alias="streamSid")


class DtmfInfo(_Message):
    track: str = "inbound_track"
    digit: str


class Dtmf(_Message):
    event: Literal["dtmf"]
    dtmf: DtmfInfo
    stream_sid: str = Field(default="", alias="streamSid")


class MarkInfo(_Message):
    name: str


class Mark(_Message):
    event: Literal["mark"]
    mark: MarkInfo
    stream_sid: str = Field(default="", alias="streamSid")


class Stop(_Message):
    event: Literal["stop"]
    stream_sid: str = Field(default="", alias="streamSid")


Inbound = Annotated[Connected | Start | Media | Dtmf | Mark | Stop, Field(discriminator="event")]
INBOUND: TypeAdapter[Inbound] = TypeAdapter(Inbound)


def parse_inbound(data: dict[str, Any]) -> Connected | Start | Media | Dtmf | Mark | Stop:
    """Raises pydantic.ValidationError for a message Twilio would never send."""
    return INBOUND.validate_python(data)


INBOUND_TRACKS = frozenset({"inbound", "inbound_track"})


class MediaFrameError(ValueError):
    """A `media` message that Twilio would never send; the text says which field is wrong."""


def media_frame(data: dict[str, Any]) -> bytes | None:
    """The caller's µ-law bytes of one `media` message, checked by hand, not by pydantic.

    A call carries fifty of these a second, so the stream's shape is validated once at `start` and each frame
    only gets the checks that matter: `media` is an object, `payload` is base64 text, `track` (when present)
    is text. Returns None for a frame of another track (a both_tracks stream echoes our own audio back).
    """
    media = data.get("media")
    if not isinstance(media, dict):
        raise MediaFrameError("media: expected an object")
    track = media.get("track", "inbound")
    if not isinstance(track, str):
        raise MediaFrameError("media.track: expected a string")
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise MediaFrameError("media.payload: expected a base64 string")
    if track not in INBOUND_TRACKS:
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaFrameError(f"media.payload is not base64: {exc}") from exc


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _media_prefix(stream_sid: str) -> str:
    """The JSON of an outbound `media` message up to its payload, encoded once per stream."""
    return _dump({"event": "media", "streamSid": stream_sid, "media": {"payload": ""}}).removesuffix('"}}')


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Exactly `json.dumps` of the message: base64 never needs escaping, so only the stream id is encoded."""
    return _media_prefix(stream_sid) + base64.b64encode(ulaw).decode("ascii") + '"}}'


def mark_message(stream_sid: str, name: str) -> str:
    return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return _dump({"event": "clear", "streamSid": stream_sid})
