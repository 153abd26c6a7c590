"""Agent definitions: persona, tools and routing overrides, loaded from `agents/<name>.toml`.

Loading validates everything up front and names the file and key that is wrong; it never runs tools.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicerouter.toolkit import Tool, ToolRegistry

AGENTS_DIR = Path(__file__).resolve().parent.parent / "agents"
AGENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # names come from callers (URLs, SIP users): never a path


class AgentError(Exception):
    """An agent definition that cannot be used, with the file and key at fault."""


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str
    description: str = ""
    prompt_file: str
    greeting: str = "Hello, how can I help?"
    tools_module: str = Field(description="module exposing create_tools() -> list[Tool]")
    routing: dict[str, Any] = Field(default_factory=dict, description="overrides of [routing] in config")
    offline: dict[str, Any] = Field(default_factory=dict, description="hints for the offline agent model")
    acknowledgements: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=list,
        description="short lines said at once when the answer will be slow to start; empty: never",
    )

    prompt: str = ""
    source: str = ""

    def create_tools(self) -> ToolRegistry:
        """A fresh registry over a fresh copy of the agent's data, so calls never see each other's writes."""
        module = importlib.import_module(self.tools_module)
        factory: Callable[[], list[Tool]] = module.create_tools
        return ToolRegistry(factory())


def available_agents(directory: Path = AGENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_agent(name: str, directory: Path = AGENTS_DIR) -> AgentSpec:
    if not AGENT_NAME.fullmatch(name):
        raise AgentError(f"bad agent name {name[:40]!r}: use letters, digits, '-' and '_' only")
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_agents(directory)) or "none"
        raise AgentError(f"unknown agent {name!r} (known: {known}); looked for {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AgentError(f"{path}: {exc}") from exc
    try:
        spec = AgentSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AgentError(f"{path}: {where}: {err['msg']}") from exc
    prompt_path = directory / spec.prompt_file
    if not prompt_path.is_file():
        raise AgentError(f"{path}: prompt_file: {prompt_path} does not exist")
    return spec.model_copy(update={"prompt": prompt_path.read_text(encoding="utf-8"), "source": str(path)})
