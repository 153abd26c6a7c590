"""The hand-off every agent has: ask for a person. The transport carries it out (SIP: a REFER to the
configured number); elsewhere the request is recorded and the caller is told someone will follow up.

Pure: it never transfers anything itself.
"""

from __future__ import annotations

from pydantic import Field

from tools.store import ToolArgs, ToolResult, make_tool
from voicerouter.toolkit import Tool


class TransferArgs(ToolArgs):
    reason: str = Field(description="why the caller needs a person, in a few words", max_length=200)


class TransferResult(ToolResult):
    status: str = Field(description="'transfer requested': the call system connects the caller to a person")
    reason: str


def _transfer(args: TransferArgs) -> TransferResult:
    return TransferResult(status="transfer requested", reason=args.reason)


def transfer_tool() -> Tool:
    return make_tool(
        "transfer_to_human",
        "Hand the caller to a person on the team, when they ask for one or you cannot help.",
        TransferArgs,
        _transfer,
        timeout_ms=1500,
    )
