"""The offline agent model: a deterministic stand-in that serves an agent when no API key is set.

It reads the whole history on every step, follows the agent's `[offline]` hints, and calls only the tools
the request offers; it never invents a record, never reads the clock and never touches the network.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import weakref
from collections.abc import AsyncGenerator

from pydantic import BaseModel, ConfigDict

from voicerouter.agent import AgentSpec
from voicerouter.lexicon.continuation import continue_from
from voicerouter.providers.base import (
    ChatRequest,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    Usage,
)
from voicerouter.providers.offline.dialogue import Dialogue
from voicerouter.providers.offline.hints import OfflineHints, parse_hints
from voicerouter.providers.offline.requests import NONE, RequestModel, request_model

CHARS_PER_TOKEN = 4


class Completion(BaseModel):
    """One model step: what to say and which tools to call, with estimated token counts."""

    model_config = ConfigDict(frozen=True)
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage


class OfflineAgentModel:
    """Deterministic chat model over an agent's offline hints; same request in, same completion out."""

    name = "offline"

    def __init__(self, agent: AgentSpec, *, model_id: str = "offline-agent-v1") -> None:
        self.agent = agent
        self.model_id = model_id
        self.hints: OfflineHints = parse_hints(agent.offline, agent.source or f"agent {agent.name}")
        self._dialogue = Dialogue(self.hints, _request_model(agent.name, self.hints))

    def complete(self, request: ChatRequest) -> Completion:
        """The next step of the conversation in `request`: a spoken reply, or one tool call."""
        tools = frozenset(spec.name for spec in request.tools)
        action = self._dialogue.next_action(request.messages, tools)
        calls: tuple[ToolCall, ...] = ()
        if action.kind == "call":
            allowed = _allowed_args(request, action.tool)
            args = {k: v for k, v in action.args.items() if allowed is None or k in allowed}
            calls = (ToolCall(id=_next_call_id(request), name=action.tool, args=args),)
        text = _not_said_yet(request.assistant_prefix, action.text) if action.kind != "call" else ""
        return Completion(text=text, tool_calls=calls, usage=estimate_usage(request, text, calls))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """The same content as `complete`: word-sized text deltas, then tool calls, then one Usage."""
        completion = self.complete(request)
        for piece in re.findall(r"\S+\s*", completion.text):
            yield TextDelta(text=piece)
            await asyncio.sleep(0)
        for call in completion.tool_calls:
            yield ToolCallChunk(call=call)
        yield completion.usage


def estimate_usage(request: ChatRequest, text: str, calls: tuple[ToolCall, ...]) -> Usage:
    """Tokens at ~4 characters each over everything the model reads (system, history, tool specs)."""
    prompt = [request.system]
    for message in request.messages:
        prompt.append(message.content)
        prompt.extend(json.dumps(c.args, sort_keys=True) + c.name for c in message.tool_calls)
    output = text + "".join(c.name + json.dumps(c.args, sort_keys=True) for c in calls)
    return Usage(
        input_tokens=math.ceil((sum(len(p) for p in prompt) + _spec_chars(request.tools)) / CHARS_PER_TOKEN),
        output_tokens=max(1, math.ceil(len(output) / CHARS_PER_TOKEN)),
    )


# id(spec) -> (a weak reference to the spec, its size as JSON). Weak: every call builds its own specs, and
# holding them made each call's specs outlive it (up to 1024 of them); an entry goes with its spec.
_SPEC_CHARS: dict[int, tuple[weakref.ref[ToolSpec], int]] = {}


def _forget_spec(key: int, ref: weakref.ref[ToolSpec]) -> None:
    if _SPEC_CHARS.get(key, (None, 0))[0] is ref:
        del _SPEC_CHARS[key]


def _spec_chars(specs: tuple[ToolSpec, ...]) -> int:
    """Characters of the tool specs as JSON; a call sends the same frozen specs with every request."""
    total = 0
    for spec in specs:
        key = id(spec)
        hit = _SPEC_CHARS.get(key)
        if hit is None or hit[0]() is not spec:
            ref = weakref.ref(spec, functools.partial(_forget_spec, key))
            hit = _SPEC_CHARS[key] = (ref, len(json.dumps(spec.model_dump(), sort_keys=True)))
        total += hit[1]
    return total


def _not_said_yet(heard: str, text: str) -> str:
    """After a stream died mid-answer the next model continues from what the caller already heard; this
    model's answer is whole, so the part already heard is dropped. An answer that does not start with it
    begins a new sentence after it."""
    if not heard.strip():
        return text
    rest = continue_from(heard, text)
    if rest is text and heard.rstrip()[-1:].isalnum():
        return ". " + text  # the heard words stopped mid-sentence: close it, then answer
    return rest


def _request_model(agent: str, hints: OfflineHints) -> RequestModel | None:
    """The trained request model shipped for this agent, if it knows exactly the hints' requests."""
    model = request_model(agent)
    if model is None or set(model.classes) != {i.name for i in hints.requests} | {NONE}:
        return None
    return model


def _next_call_id(request: ChatRequest) -> str:
    earlier = sum(len(m.tool_calls) for m in request.messages)
    return f"call_offline_{earlier + 1}"


def _allowed_args(request: ChatRequest, tool: str) -> set[str] | None:
    for spec in request.tools:
        if spec.name == tool:
            properties = spec.parameters.get("properties")
            return set(properties) if isinstance(properties, dict) else None
    return None
