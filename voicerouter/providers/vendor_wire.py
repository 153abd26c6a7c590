"""What every HTTP chat adapter needs at the vendor boundary: failure classification, tool-argument coding.

Pure functions over status codes, headers and strings; they never perform I/O and never read configuration.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from voicerouter.providers.base import ErrorKind

RAW_ARGS_KEY = "_raw"
"""Key under which undecodable tool arguments travel, so tool validation can report them back to the model."""


def kind_for_status(status_code: int) -> ErrorKind:
    """The router-facing class of an HTTP failure status."""
    if status_code == 429:
        return "rate_limited"
    if status_code in (401, 403):
        return "auth"
    if status_code == 408:
        return "timeout"
    if 400 <= status_code < 500:
        return "bad_request"
    return "server_error"


def retry_after_s(headers: Mapping[str, str], *, now_s: float | None = None) -> float | None:
    """Seconds the vendor asked us to wait: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.

    `now_s` is the wall-clock time an HTTP date is measured against (defaults to now). Returns None when the
    vendor gave no usable hint; never a negative or infinite delay.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = _finite_float(lowered.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _finite_float(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        moment = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    reference_s = time.time() if now_s is None else now_s
    return max(0.0, moment.timestamp() - reference_s)


def _finite_float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def describe_failure(exc: BaseException) -> str:
    """An exception and its cause in one line: SDK wrappers hide the transport error that explains them."""
    cause = exc.__cause__
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} ({type(cause).__name__}: {cause})" if cause is not None else text


def decode_tool_arguments(raw: str) -> dict[str, Any]:
    """A model's streamed JSON arguments as a dict; anything but a JSON object becomes `{"_raw": raw}`.

    Models do emit broken JSON; passing it on (rather than raising) lets the engine's tool validation tell the
    model exactly what was wrong so it can correct itself within the same call.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {RAW_ARGS_KEY: raw}
    if not isinstance(value, dict):
        return {RAW_ARGS_KEY: raw}
    return value


def encode_tool_arguments(args: Mapping[str, Any]) -> str:
    """Arguments as the JSON text a vendor expects back in the conversation history."""
    return json.dumps(dict(args), separators=(",", ":"), ensure_ascii=False, default=str)
