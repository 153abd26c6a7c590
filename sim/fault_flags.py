"""The command line's fault flags (`--tool-timeout get_ticket@2`, `--provider-fault MODEL=KIND@1,3`, ...)
read into the simulator's `Faults`; a bad flag is an error naming the flag and the value.
"""

from __future__ import annotations

import re

from sim.faults import Faults, ProviderFault, ToolFault


class FaultFlagError(ValueError):
    pass


def parse_pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        if "=" not in value:
            raise FaultFlagError(f"{option} {value!r}: expected NAME=VALUE")
        name, _, rest = value.partition("=")
        pairs.append((name.strip(), rest.strip()))
    return pairs


def split_turns(value: str, option: str) -> tuple[str, list[int] | None]:
    """`SPEC@2,3` -> (SPEC, [2, 3]): the user turns (1-based) a fault applies to; all turns without `@`."""
    head, at, tail = value.rpartition("@")
    if not at or not re.fullmatch(r"[\d,\s]+", tail):
        return value, None
    turns = [int(t) for t in tail.replace(" ", "").split(",") if t]
    if not turns or min(turns) < 1:
        raise FaultFlagError(f"{option} {value!r}: turns after @ are 1-based numbers, e.g. @2 or @2,3")
    return head, turns


def faults_from_flags(
    wer: float,
    interrupt_at: float | None,
    tool_timeout: tuple[str, ...],
    tool_latency: tuple[str, ...],
    tool_error: tuple[str, ...],
    provider_fault: tuple[str, ...],
) -> Faults:
    tools = []
    for value in tool_timeout:
        name, turns = split_turns(value, "--tool-timeout")
        tools.append(ToolFault(tool=name, timeout=True, turns=turns))
    for value in tool_latency:
        spec, turns = split_turns(value, "--tool-latency")
        for name, ms in parse_pairs((spec,), "--tool-latency"):
            try:
                tools.append(ToolFault(tool=name, extra_latency_ms=float(ms), turns=turns))
            except ValueError:
                raise FaultFlagError(
                    f"--tool-latency {value!r}: expected TOOL=MS with MS a number of milliseconds"
                ) from None
    for value in tool_error:
        spec, turns = split_turns(value, "--tool-error")
        for name, message in parse_pairs((spec,), "--tool-error"):
            tools.append(ToolFault(tool=name, error=message or "service unavailable", turns=turns))
    providers = []
    for value in provider_fault:
        spec, turns = split_turns(value, "--provider-fault")
        for model, kind in parse_pairs((spec,), "--provider-fault"):
            try:
                providers.append(ProviderFault.model_validate({"model": model, "kind": kind, "turns": turns}))
            except ValueError as exc:
                raise FaultFlagError(f"--provider-fault {value}: {exc}") from exc
    return Faults(wer=wer, tools=tools, providers=providers, interrupt_fraction=interrupt_at)
