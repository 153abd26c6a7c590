"""The per-frame Twilio `media` parse: bytes out with no model objects, a named field for a bad frame."""

from __future__ import annotations

import base64

import pytest

from voicerouter.media.ws.twilio_messages import MediaFrameError, media_frame, parse_inbound


def _media(**fields: object) -> dict[str, object]:
    return {"event": "media", "streamSid": "MZ1", "media": fields}


def test_fast_parse_gives_the_same_bytes_as_the_full_model() -> None:
    ulaw = bytes(range(160))
    message = _media(track="inbound", chunk="3", timestamp="60", payload=base64.b64encode(ulaw).decode())
    assert media_frame(message) == ulaw == parse_inbound(message).media.audio()  # type: ignore[union-attr]


def test_frames_of_the_outbound_track_are_skipped_not_fed_as_the_caller() -> None:
    assert media_frame(_media(track="outbound", payload="//8=")) is None
    assert media_frame(_media(track="inbound_track", payload="//8=")) == b"\xff\xff"
    assert media_frame(_media(payload="//8=")) == b"\xff\xff"  # no track field: inbound, as Twilio means it


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"event": "media"}, "media:"),
        ({"event": "media", "media": "//8="}, "media:"),
        (_media(track="inbound"), "media.payload"),
        (_media(payload=123), "media.payload"),
        (_media(track=1, payload="//8="), "media.track"),
        (_media(payload="***"), "not base64"),
    ],
)
def test_a_malformed_frame_names_the_field_that_is_wrong(message: dict[str, object], field: str) -> None:
    with pytest.raises(MediaFrameError, match=field):
        media_frame(message)


def test_telephony_rates_are_listened_to_as_they_arrive_and_faster_ones_at_16_khz() -> None:
    from voicerouter.audio.listener import listening_rate_hz

    assert listening_rate_hz(8000) == 8000  # Twilio and G.711 RTP: VAD runs with no per-frame resampling
    assert listening_rate_hz(16000) == 16000
    assert listening_rate_hz(48000) == 16000  # WebRTC: resampled once, so utterances stay small
    assert listening_rate_hz(24000) == 16000  # webrtcvad does not take 24 kHz
