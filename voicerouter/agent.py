"""Agent definitions: persona, tools and routing overrides, loaded from `<dir>/<name>.toml`.

Agents are searched in the folders of `VOICEROUTER_AGENTS_DIR` (and `--agents-dir`), then in the shipped
`agents/`: a team's own agent lives outside the package, as `<dir>/<name>.toml` or `<dir>/<name>/agent.toml`.
Loading validates everything up front and names the file and key that is wrong; it never runs tools.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicerouter.http_tools import HttpToolSpec, build_http_tool
from voicerouter.toolkit import Tool, ToolRegistry

AGENTS_DIR = Path(__file__).resolve().parent.parent / "agents"
AGENTS_DIR_ENV = "VOICEROUTER_AGENTS_DIR"  # os.pathsep-separated folders searched before the shipped one
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
    tools_module: str | None = Field(default=None, description="module exposing create_tools() -> list[Tool]")
    tools_file: str | None = Field(
        default=None, description="Python file beside the definition exposing create_tools() -> list[Tool]"
    )
    http_tools: list[HttpToolSpec] = Field(default_factory=list, description="tools over an HTTP backend")
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
        tools: list[Tool] = []
        if self.tools_module is not None:
            tools.extend(_factory(importlib.import_module(self.tools_module))())
        if self.tools_file is not None:
            path = Path(self.source).parent / self.tools_file
            tools.extend(_factory(_tools_file_module(self.name, path))())
        tools.extend(build_http_tool(spec) for spec in self.http_tools)
        return ToolRegistry(tools)


def _factory(module: ModuleType) -> Callable[[], list[Tool]]:
    factory: Callable[[], list[Tool]] = module.create_tools
    return factory


def _tools_file_module(agent: str, path: Path) -> ModuleType:
    """The agent's own tools file, imported once per process under a name of its own."""
    name = f"voicerouter_agent_tools.{agent}"
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentError(f"{path}: cannot import the agent's tools file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def agent_dirs() -> list[Path]:
    """Where agents are looked for, first match wins: the user's folders, then the shipped agents."""
    extra = [Path(p).expanduser() for p in os.environ.get(AGENTS_DIR_ENV, "").split(os.pathsep) if p]
    return [*extra, AGENTS_DIR]


def add_agent_dirs(directories: Iterable[str | Path]) -> None:
    """Search `directories` first from now on, in this process and in the workers it starts."""
    paths = [Path(d).expanduser().resolve() for d in directories]
    for path in paths:
        if not path.is_dir():
            raise AgentError(f"agents folder {path} does not exist")
    current = [p for p in os.environ.get(AGENTS_DIR_ENV, "").split(os.pathsep) if p]
    os.environ[AGENTS_DIR_ENV] = os.pathsep.join([*(str(p) for p in paths), *current])


def _definition(name: str, directory: Path) -> Path | None:
    for path in (directory / f"{name}.toml", directory / name / "agent.toml"):
        if path.is_file():
            return path
    return None


def _names_in(directory: Path) -> set[str]:
    flat = {p.stem for p in directory.glob("*.toml")}
    nested = {p.parent.name for p in directory.glob("*/agent.toml") if AGENT_NAME.fullmatch(p.parent.name)}
    return flat | nested


def available_agents(directory: Path | None = None) -> list[str]:
    """Agent names in `directory`, or in every folder searched."""
    folders = [directory] if directory is not None else agent_dirs()
    return sorted(set().union(*(_names_in(d) for d in folders)))


def load_agent(name: str, directory: Path | None = None) -> AgentSpec:
    """The named agent, validated; an error names the file and key at fault."""
    if not AGENT_NAME.fullmatch(name):
        raise AgentError(f"bad agent name {name[:40]!r}: use letters, digits, '-' and '_' only")
    folders = [directory] if directory is not None else agent_dirs()
    found = (path for path in (_definition(name, d) for d in folders) if path is not None)
    path = next(found, None)
    if path is None:
        known = ", ".join(available_agents(directory)) or "none"
        where = ", ".join(str(d) for d in folders)
        raise AgentError(f"unknown agent {name!r} (known: {known}); looked in {where}")
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
    prompt_path = path.parent / spec.prompt_file
    if not prompt_path.is_file():
        raise AgentError(f"{path}: prompt_file: {prompt_path} does not exist")
    if spec.tools_file is not None and not (path.parent / spec.tools_file).is_file():
        raise AgentError(f"{path}: tools_file: {path.parent / spec.tools_file} does not exist")
    return spec.model_copy(update={"prompt": prompt_path.read_text(encoding="utf-8"), "source": str(path)})
