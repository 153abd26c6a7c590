"""Failure classification and tool-argument coding shared by the HTTP chat adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from voicerouter.providers.vendor_wire import (
    decode_tool_arguments,
    encode_tool_arguments,
    kind_for_status,
    retry_after_s,
)

NOW_S = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, "rate_limited"),
        (401, "auth"),
        (403, "auth"),
        (408, "timeout"),
        (400, "bad_request"),
        (404, "bad_request"),
        (409, "bad_request"),
        (413, "bad_request"),
        (422, "bad_request"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (529, "server_error"),
    ],
)
def test_http_status_maps_to_the_kind_the_router_acts_on(status: int, kind: str) -> None:
    assert kind_for_status(status) == kind


@pytest.mark.parametrize(
    ("headers", "expected_s"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": format_datetime(datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)}, 30.0),
        ({"retry-after": format_datetime(datetime(2026, 3, 1, 11, 59, 0, tzinfo=UTC), usegmt=True)}, 0.0),
        ({"retry-after": "-3"}, 0.0),
    ],
)
def test_retry_after_reads_milliseconds_seconds_and_http_dates(
    headers: dict[str, str], expected_s: float
) -> None:
    assert retry_after_s(headers, now_s=NOW_S) == expected_s


@pytest.mark.parametrize(
    "headers", [{}, {"retry-after": "whenever"}, {"retry-after": "inf"}, {"retry-after": "nan"}]
)
def test_retry_after_without_a_usable_hint_is_none(headers: dict[str, str]) -> None:
    assert retry_after_s(headers, now_s=NOW_S) is None


@pytest.mark.parametrize(
    ("raw", "args"),
    [
        ('{"ticket_id": "INC-1"}', {"ticket_id": "INC-1"}),
        ("", {}),
        ("  ", {}),
        ('{"ticket_id": "INC', {"_raw": '{"ticket_id": "INC'}),
        ('["INC-1"]', {"_raw": '["INC-1"]'}),
        ("null", {"_raw": "null"}),
    ],
)
def test_tool_arguments_decode_to_a_dict_or_carry_the_raw_text(raw: str, args: dict[str, object]) -> None:
    assert decode_tool_arguments(raw) == args


def test_tool_arguments_round_trip_through_their_wire_text() -> None:
    args = {"full_name": "Ana López", "slots": [1, 2], "urgent": True}

    assert decode_tool_arguments(encode_tool_arguments(args)) == args
