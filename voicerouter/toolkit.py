"""Typed tools: pydantic arguments and results, a declared timeout, and failures returned, never raised.

A model's bad arguments come back to it as a tool error it can correct; a missing record is a real
outcome (`RecordNotFound`), distinct from a tool that broke or timed out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class ToolSpec(BaseModel):
    """A tool as a model sees it: name, description and JSON Schema of its arguments."""

    model_config = ConfigDict(frozen=True)
    name: str
    description: str
    parameters: dict[str, Any]


class RecordNotFound(Exception):
    """The lookup ran and found nothing: the honest answer is to say so."""


class RequestRejected(Exception):
    """A well-formed request the data refuses (slot taken, day closed): the caller can choose again."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ToolUnavailable(Exception):
    """The tool's backend failed (`kind`: server_error, timeout, bad_response): the record is unknown."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ToolOutcome(BaseModel):
    """What one tool call came to: a result, or an error a model can read (and whether it timed out)."""

    model_config = ConfigDict(frozen=True)
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    timed_out: bool = False
    not_found: bool = False
    error_kind: str | None = None

    def for_model(self) -> str:
        """The text a model reads as the tool's answer."""
        if self.timed_out:
            return "ERROR: the tool timed out; the result is unknown. Tell the caller you could not check."
        if self.ok:
            return _json(self.result)
        return f"ERROR: {self.error}"


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


@lru_cache(maxsize=256)
def _args_schema(args_model: type[BaseModel]) -> str:
    """The JSON Schema of an arguments class, built once: every call's fresh tools share their classes."""
    schema = args_model.model_json_schema()
    schema.pop("title", None)
    return json.dumps(schema)


class Tool:
    """One callable capability of an agent, with the contract a model needs to call it."""

    def __init__(
        self,
        name: str,
        description: str,
        args_model: type[BaseModel],
        handler: Callable[[Any], BaseModel | dict[str, Any]],
        *,
        timeout_ms: int = 2000,
    ) -> None:
        self.name = name
        self.description = description
        self.args_model = args_model
        self.handler = handler
        self.timeout_ms = timeout_ms

    def spec(self) -> ToolSpec:
        schema = json.loads(_args_schema(self.args_model))  # each spec owns its dict
        return ToolSpec(name=self.name, description=self.description, parameters=schema)

    def validate(self, raw_args: dict[str, Any]) -> BaseModel | str:
        """Validated arguments, or an error message that names each bad field."""
        try:
            return self.args_model.model_validate(raw_args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(args)'}: {err['msg']}" for err in exc.errors()
            )
            return f"invalid arguments for {self.name}: {problems}"

    def run(self, raw_args: dict[str, Any]) -> ToolOutcome:
        """Validate and run synchronously; every failure becomes an outcome the model can read."""
        args = self.validate(raw_args)
        if isinstance(args, str):
            return ToolOutcome(ok=False, error=args)
        try:
            value = self.handler(args)
        except RecordNotFound as exc:
            return ToolOutcome(ok=False, error=f"not found: {exc}", not_found=True, error_kind="not_found")
        except RequestRejected as exc:
            return ToolOutcome(ok=False, error=f"invalid request: {exc}", error_kind="rejected")
        except ToolUnavailable as exc:
            timed_out = exc.kind == "timeout"
            error = f"{self.name}: {exc}"
            return ToolOutcome(ok=False, error=error, timed_out=timed_out, error_kind=exc.kind)
        except Exception as exc:  # a broken tool must not take the call down
            return ToolOutcome(ok=False, error=f"{self.name} failed: {type(exc).__name__}: {exc}")
        result = value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)
        return ToolOutcome(ok=True, result=result)


class ToolRegistry:
    """The tools one call may use, looked up by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"duplicate tool name {tool.name!r}")
            self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec() for tool in self._tools.values())

    def timeout_ms(self, name: str, default_ms: int = 2000) -> int:
        tool = self._tools.get(name)
        return tool.timeout_ms if tool else default_ms

    def run(self, name: str, raw_args: dict[str, Any]) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return ToolOutcome(ok=False, error=f"unknown tool {name!r} (known: {known})")
        return tool.run(raw_args)
