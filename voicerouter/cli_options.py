"""Options shared by the `voicerouter` and `sim` commands: where agents live, how logs look.

Each option acts as it is parsed (expose_value=False), so a command gains it with one decorator line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _add_agent_dirs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if not value:
        return
    from voicerouter.agent import AgentError, add_agent_dirs

    try:
        add_agent_dirs(value)
    except AgentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def agents_dir_option(command: F) -> F:
    """`--agents-dir DIR` (repeatable): agent folders searched before the shipped agents."""
    option = click.option(
        "--agents-dir", multiple=True, type=click.Path(file_okay=False), expose_value=False,
        callback=_add_agent_dirs, is_eager=True,
        help="folder of your own agents, searched before the shipped ones (repeatable; "
        "also VOICEROUTER_AGENTS_DIR)",
    )  # fmt: skip
    return option(command)


def log_format_option(level: int = logging.INFO) -> Callable[[F], F]:
    """`--log-format text|json` at `level`; JSON lines carry `call_id` and `turn_id` inside a call."""

    def configure(ctx: click.Context, param: click.Parameter, value: str) -> None:
        from voicerouter.logs import configure_logging

        configure_logging("json" if value == "json" else "text", level)

    return click.option(
        "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
        expose_value=False, callback=configure,
        help="log lines as text or as one JSON object per line (with call_id and turn_id)",
    )  # fmt: skip
