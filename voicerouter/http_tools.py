"""Tools declared in an agent's TOML that call an HTTP backend, so a CRM or ticketing API needs no Python.

The declaration gives the method, a URL template over the arguments, the argument schema, a timeout, an auth
header whose value comes from an environment variable, and which result fields the model may see. Every
backend failure becomes a typed tool outcome: 404 is a missing record, another 4xx a rejected request, 5xx a
server error, no answer in time a timeout, and a body that is not a JSON object a bad response.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from voicerouter.toolkit import RecordNotFound, RequestRejected, Tool, ToolUnavailable

ArgType = Literal["string", "integer", "number", "boolean", "date"]
_PYTHON_TYPES: dict[str, type] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "date": date,
}  # fmt: skip


class _HttpArgs(BaseModel):
    """Base of generated argument models: unknown fields are an error, as for Python tools."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HttpArgSpec(BaseModel):
    """One argument of an HTTP tool, as the model sees it."""

    model_config = ConfigDict(extra="forbid")
    type: ArgType = "string"
    description: str = ""
    required: bool = True
    enum: list[str] | None = None


class HttpToolSpec(BaseModel):
    """An `[[http_tools]]` entry of an agent's TOML."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(description="URL template: {arg} is replaced by the argument, URL-quoted")
    args: dict[str, HttpArgSpec] = Field(default_factory=dict)
    timeout_ms: int = Field(default=2000, gt=0, le=60_000)
    auth_header: str = "Authorization"
    auth_env: str | None = Field(default=None, description="environment variable holding the header's value")
    auth_scheme: str = Field(default="Bearer", description="prefix of the header value; empty for none")
    result_fields: list[str] | None = Field(default=None, description="fields the model sees; None: all")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {value[:60]!r}")
        return value


def _args_model(spec: HttpToolSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, arg in spec.args.items():
        kind: Any = Literal[tuple(arg.enum)] if arg.enum else _PYTHON_TYPES[arg.type]
        if arg.required:
            fields[name] = (kind, Field(description=arg.description))
        else:
            fields[name] = (kind | None, Field(default=None, description=arg.description))
    model: type[BaseModel] = create_model(f"{spec.name}_args", __base__=_HttpArgs, **fields)
    return model


def _request(spec: HttpToolSpec, args: dict[str, Any]) -> urllib.request.Request:
    values = {k: v.isoformat() if isinstance(v, date) else v for k, v in args.items() if v is not None}
    in_url = {k for k in values if "{" + k + "}" in spec.url}
    url = spec.url
    for key in in_url:
        url = url.replace("{" + key + "}", urllib.parse.quote(str(values[key]), safe=""))
    rest = {k: v for k, v in values.items() if k not in in_url}
    body: bytes | None = None
    headers = {"Accept": "application/json", "User-Agent": "voicerouter-http-tool"}
    if spec.method in ("GET", "DELETE"):
        if rest:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(rest)
    else:
        body = json.dumps(rest).encode()
        headers["Content-Type"] = "application/json"
    if spec.auth_env:
        secret = os.environ.get(spec.auth_env)
        if not secret:
            raise ToolUnavailable("server_error", f"{spec.auth_env} is not set: cannot authenticate")
        headers[spec.auth_header] = f"{spec.auth_scheme} {secret}".strip()
    return urllib.request.Request(url, data=body, method=spec.method, headers=headers)


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])[:200]
    return text[:200]


def call_backend(spec: HttpToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """One blocking request (tools run off the event loop); the result's visible fields or a typed failure."""
    request = _request(spec, args)
    try:
        with urllib.request.urlopen(request, timeout=spec.timeout_ms / 1000) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        if exc.code == 404:
            raise RecordNotFound(detail or f"{spec.name}: no such record") from exc
        if 400 <= exc.code < 500:
            raise RequestRejected("request", f"HTTP {exc.code}: {detail}") from exc
        raise ToolUnavailable("server_error", f"HTTP {exc.code} from the backend: {detail}") from exc
    except TimeoutError as exc:
        raise ToolUnavailable("timeout", f"no answer from the backend in {spec.timeout_ms} ms") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise ToolUnavailable("timeout", f"no answer from the backend in {spec.timeout_ms} ms") from exc
        raise ToolUnavailable("server_error", f"cannot reach the backend: {exc.reason}") from exc
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise ToolUnavailable("bad_response", f"the backend's answer is not JSON: {body[:80]!r}") from exc
    if not isinstance(parsed, dict):
        raise ToolUnavailable("bad_response", f"the backend's answer is not a JSON object: {body[:80]!r}")
    if spec.result_fields is None:
        return parsed
    return {key: parsed[key] for key in spec.result_fields if key in parsed}


def build_http_tool(spec: HttpToolSpec) -> Tool:
    """A `Tool` whose handler calls the backend; its timeout is the declared one."""
    model = _args_model(spec)

    def handler(args: BaseModel) -> dict[str, Any]:
        return call_backend(spec, args.model_dump())

    return Tool(spec.name, spec.description, model, handler, timeout_ms=spec.timeout_ms)
