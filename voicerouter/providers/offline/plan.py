"""The next move of one request: which slot to ask, which tool to call, what to confirm, what to say.

Pure over the request's slots and the tool results already in the history; it never assumes a tool
succeeded and never fills a reply with a value no tool returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from voicerouter.providers.offline.hints import (
    IntentHint,
    OfflineHints,
    PickHint,
    StepHint,
    result_reference,
    slot_reference,
)
from voicerouter.providers.offline.replies import lookup, render, spoken_text

ToolStatus = Literal["ok", "not_found", "timeout", "rejected", "invalid", "error"]


@dataclass(frozen=True)
class ToolReply:
    """A tool message read back: the result on success, else the kind of failure and its message."""

    status: ToolStatus
    data: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    field: str = ""


def read_tool_reply(content: str) -> ToolReply:
    """Classify a tool message as `ToolOutcome.for_model()` writes it."""
    if not content.startswith("ERROR:"):
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            return ToolReply("ok", {"value": content})
        return ToolReply("ok", data if isinstance(data, dict) else {"value": data})
    body = content[len("ERROR:") :].strip()
    if body.startswith("not found:"):
        return ToolReply("not_found", message=body[len("not found:") :].strip())
    if "timed out" in body:
        return ToolReply("timeout", message=body)
    if body.startswith("invalid request:") or "RequestRejected:" in body:
        reason = body.split("RequestRejected:", 1)[-1] if "RequestRejected:" in body else body[16:]
        where, _, why = reason.strip().partition(": ")
        return ToolReply("rejected", message=why or where, field=where if why else "")
    if body.startswith("invalid arguments for"):
        problems = body.split(": ", 1)[-1]
        return ToolReply("invalid", message=body, field=problems.split(":", 1)[0].split(".")[0].strip())
    return ToolReply("error", message=body)


def call_key(tool: str, args: dict[str, Any]) -> str:
    """Identity of a tool call: the same tool with the same arguments is the same question."""
    return f"{tool}:{json.dumps(args, sort_keys=True, default=str)}"


@dataclass(frozen=True)
class Action:
    """What the model does next: call a tool, or say `text` (asking for `expects` when set)."""

    kind: Literal["call", "ask", "confirm", "reply"]
    text: str = ""
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    expects: tuple[str, ...] = ()
    key: str = ""
    terminal: bool = False
    succeeded: bool = False
    failed_with: ToolStatus | None = None
    choices: tuple[str, ...] = ()  # the values of the items just listed, in order ("the second one")


@dataclass
class Episode:
    """One request of the call (book, cancel, ...) from the utterance that started it."""

    intent: IntentHint
    slots: dict[str, str] = field(default_factory=dict)
    results: dict[str, ToolReply] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    active: bool = True
    # lookups made first whatever the request: who the caller said they are, in the same breath
    prelude: tuple[StepHint, ...] = ()
    prelude_slots: tuple[str, ...] = ()


class Planner:
    """Walks an intent's steps against the results in hand; the first step without a result is next."""

    def __init__(self, hints: OfflineHints) -> None:
        self.hints = hints

    def slots_of(self, episode: Episode, kept: dict[str, str]) -> dict[str, str]:
        """The intent's slot values: defaults, then values kept from earlier requests, then this request's."""
        values = {
            name: spec.default
            for name, spec in self.hints.slots.items()
            if spec.default is not None and name in episode.intent.slots
        }
        own = {*episode.intent.slots, *episode.prelude_slots}
        values.update({k: v for k, v in kept.items() if k in own})
        values.update(episode.slots)
        return {k: v for k, v in values.items() if v is not None}

    def plan(
        self,
        episode: Episode,
        kept: dict[str, str],
        cache: dict[str, ToolReply],
        tools: frozenset[str] | None,
    ) -> Action:
        """A request's next move: ask for a missing slot, confirm, call the next tool, or reply when done."""
        slots = self.slots_of(episode, kept)
        context: dict[str, Any] = dict(slots)
        for step in episode.prelude:  # best effort: whatever it finds, the request itself goes on
            args = self._args(step, slots, context)
            if isinstance(args, Action) or (tools is not None and step.tool not in tools):
                continue
            key = call_key(step.tool, args)
            reply = episode.results.get(key) or cache.get(key)
            if reply is None:
                return Action("call", tool=step.tool, args=args, key=key)
        for step in episode.intent.steps:
            if step.only_if_missing and step.only_if_missing in slots:
                continue
            if step.only_if_said and step.only_if_said not in slots:
                continue
            if step.needs_one_of and not any(name in slots for name in step.needs_one_of):
                return self.ask(step.needs_one_of[0], context, expects=tuple(step.needs_one_of))
            args = self._args(step, slots, context)
            if isinstance(args, Action):
                return args
            key = call_key(step.tool, args)
            reply = episode.results.get(key) or (cache.get(key) if step.cache else None)
            if reply is None:
                if tools is not None and step.tool not in tools:
                    return Action("reply", self.hints.replies.unavailable, terminal=True, failed_with="error")
                if step.confirm and key not in episode.confirmed:
                    return Action("confirm", render(step.confirm, context), key=key)
                return Action("call", tool=step.tool, args=args, key=key)
            if reply.status != "ok":
                return self._failure(step, reply, context)
            result = dict(reply.data)
            context[step.tool] = result
            if step.pick is not None:
                picked = self._pick(step, step.pick, result, slots, context)
                if isinstance(picked, Action):
                    return picked
                result["picked"] = picked
            if step.only_if_missing and step.reply:
                return Action("reply", render(step.reply, context), expects=(step.only_if_missing,))
        return Action("reply", render(episode.intent.done, context), terminal=True, succeeded=True)

    def ask(self, slot: str, context: dict[str, Any], *, expects: tuple[str, ...] = ()) -> Action:
        """Ask the caller for `slot` with its prompt; the answer is read for `expects` (default: the slot)."""
        return Action("ask", render(self.hints.slots[slot].prompt, context), expects=expects or (slot,))

    def _args(
        self, step: StepHint, slots: dict[str, str], context: dict[str, Any]
    ) -> dict[str, Any] | Action:
        args: dict[str, Any] = {}
        for arg, ref in step.args.items():
            slot = slot_reference(ref)
            result = result_reference(ref)
            if slot is not None:
                name, optional = slot
                if name in slots:
                    args[arg] = slots[name]
                elif not optional:
                    return self.ask(name, context)
            elif result is not None:
                value = lookup(context, ".".join([result[0], *result[1]]))
                if value is None:  # the result lacks a field the hints rely on: say so, never guess
                    return Action("reply", self.hints.replies.unavailable, terminal=True, failed_with="error")
                args[arg] = value
            else:
                args[arg] = ref
        return args

    def _pick(
        self,
        step: StepHint,
        pick: PickHint,
        result: dict[str, Any],
        slots: dict[str, str],
        context: dict[str, Any],
    ) -> dict[str, Any] | Action:
        items = lookup(result, pick.list) or []
        if not isinstance(items, list) or not items:
            retry = (step.retry_slot,) if step.retry_slot else ()
            return Action("reply", render(pick.empty, context), expects=retry, terminal=True)
        if pick.by is not None and pick.by in slots:
            wanted = slots[pick.by]
            matches = [
                i for i in items if isinstance(i, dict) and str(i.get(pick.field or pick.by)) == wanted
            ]
            if matches:
                return dict(matches[0])
            return Action(
                "reply",
                render(pick.no_match or pick.empty, context),
                expects=(pick.by,),
                choices=_values(items, pick.field or pick.by),
            )
        if len(items) > 1 and pick.by is not None and pick.ask is not None:
            return Action(
                "ask",
                render(pick.ask, context),
                expects=(pick.by,),
                choices=_values(items, pick.field or pick.by),
            )
        return dict(items[0])

    def _failure(self, step: StepHint, reply: ToolReply, context: dict[str, Any]) -> Action:
        replies = self.hints.replies
        retry = (step.retry_slot,) if step.retry_slot else ()
        if reply.status == "not_found":
            return Action(
                "reply",
                render(step.not_found or replies.not_found, context),
                expects=retry,
                terminal=True,
                failed_with="not_found",
            )
        if reply.status == "rejected":
            reason = spoken_text(reply.message).rstrip(".")
            text = render(replies.rejected, {**context, "reason": reason})
            slot = self._slot_for_arg(step, reply.field)
            return Action(
                "reply", text, expects=(slot,) if slot else retry, terminal=True, failed_with="rejected"
            )
        if reply.status == "invalid":
            slot = self._slot_for_arg(step, reply.field)
            if slot is not None:
                text = render(replies.bad_value, {"field": slot.replace("_", " ")})
                prompt = render(self.hints.slots[slot].prompt, context)
                return Action(
                    "reply", f"{text} {prompt}", expects=(slot,), terminal=True, failed_with="invalid"
                )
        return Action("reply", replies.unavailable, terminal=True, failed_with=reply.status)

    @staticmethod
    def _slot_for_arg(step: StepHint, arg: str) -> str | None:
        ref = slot_reference(step.args.get(arg, ""))
        return ref[0] if ref else None


def _values(items: list[Any], name: str) -> tuple[str, ...]:
    return tuple(str(item.get(name, "")) for item in items if isinstance(item, dict))
