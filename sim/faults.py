"""The faults a simulation injects: noisy ASR, interruptions, tool faults and provider faults.

Plain pydantic models, set per scenario or from the command line; injecting them is the runner's job.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderFaultKind = Literal[
    "rate_limited", "server_error", "stall_before_first_token", "stall_midway", "slow_first_token"
]


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turns: list[int] | None = Field(
        default=None, description="user turns (1-based) it applies to; all if unset"
    )
    probability: float = Field(default=1.0, ge=0, le=1)

    def applies(self, turn: int) -> bool:
        return self.turns is None or turn in self.turns


class ProviderFault(_Fault):
    model: str = Field(description="config name of the model, or '*' for every model but 'offline'")
    kind: ProviderFaultKind
    retry_after_s: float = Field(default=5.0, ge=0)
    extra_ms: float = Field(default=3000.0, ge=0, description="delay added by slow_first_token")

    def matches(self, model: str, turn: int) -> bool:
        named = self.model == model or (self.model == "*" and model != "offline")
        return named and self.applies(turn)


class ToolFault(_Fault):
    tool: str = Field(description="tool name, or '*'")
    extra_latency_ms: float = Field(default=0.0, ge=0)
    timeout: bool = False
    error: str | None = None

    def matches(self, tool: str, turn: int) -> bool:
        return (self.tool in (tool, "*")) and self.applies(turn)


class Interruption(BaseModel):
    """The caller talks over the agent's answer to user turn `turn`, at a fraction of it or a time into it."""

    model_config = ConfigDict(extra="forbid")
    turn: int = Field(ge=1)
    at_fraction: float | None = Field(default=None, gt=0, lt=1)
    at_ms: float | None = Field(default=None, gt=0)


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wer: float = Field(default=0.0, ge=0, le=1, description="target ASR word error rate")
    providers: list[ProviderFault] = Field(default_factory=list)
    tools: list[ToolFault] = Field(default_factory=list)
    interruptions: list[Interruption] = Field(default_factory=list)
    interrupt_fraction: float | None = Field(
        default=None, gt=0, lt=1, description="barge in at this fraction of every answer"
    )

    def world(self) -> Faults:
        """Only the world's faults (tools, providers): what a recording keeps. The caller's side (noise,
        barge-ins) is already in a recording's transcripts and timing: replaying must not add it twice."""
        return Faults(providers=self.providers, tools=self.tools)

    def empty(self) -> bool:
        return self == Faults()

    def merged(self, other: Faults) -> Faults:
        """These faults plus another set (command-line faults on top of a scenario's)."""
        return Faults(
            wer=other.wer or self.wer,
            providers=[*self.providers, *other.providers],
            tools=[*self.tools, *other.tools],
            interruptions=[*self.interruptions, *other.interruptions],
            interrupt_fraction=other.interrupt_fraction or self.interrupt_fraction,
        )
