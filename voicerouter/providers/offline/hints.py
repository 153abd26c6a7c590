"""The schema of an agent's `[offline]` section: slots, intents, tool steps and reply templates.

Validated once when the offline model is built, naming the key at fault; it never runs a tool.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SlotKind = Literal["name", "date", "birth_date", "time", "digits", "id", "choice", "text"]
_SLOT_REF = re.compile(r"^\$([a-z_][a-z0-9_]*)(\?)?$")
_NO_DATE_SLOTS_DAY = dt.date(2000, 1, 1)
_RESULT_REF = re.compile(r"^@([a-z_][a-z0-9_]*)((?:\.[A-Za-z0-9_]+)+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotHint(_Strict):
    """One value the model collects from the caller's words."""

    kind: SlotKind
    prompt: str = Field(description="The question that asks for this value.")
    length: int | None = Field(default=None, description="digits/id: number of digits.")
    prefix: str = Field(default="", description="id: letter in front of the digits, e.g. 'E'.")
    choices: dict[str, list[str]] = Field(default_factory=dict, description="choice: value -> phrases.")
    default: str | None = Field(default=None, description="Value used while the caller has not said one.")
    keep: bool = Field(default=False, description="Survives from one request to the next (who is calling).")
    pick: Literal["last", "earlier"] = Field(
        default="last", description="'earlier': with two mentions of the kind, take the first (move FROM)."
    )
    min_words: int = Field(default=1, description="name: words needed, e.g. 2 for first and last name.")
    keywords: list[str] = Field(default_factory=list, description="text: a request qualifies if it says one.")

    @model_validator(mode="after")
    def _complete(self) -> SlotHint:
        if self.kind in {"digits", "id"} and not self.length:
            raise ValueError(f"a {self.kind} slot needs 'length'")
        if self.kind == "choice" and not self.choices:
            raise ValueError("a choice slot needs 'choices'")
        if self.default is not None and self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self


class PickHint(_Strict):
    """Selects one item of a list in a step's result, or says why it cannot."""

    list: str = Field(description="Path of the list inside the result, e.g. 'upcoming'.")
    by: str | None = Field(default=None, description="Slot that selects the item when there are several.")
    field: str | None = Field(default=None, description="Item field compared with that slot (default: slot).")
    empty: str = Field(description="Reply when the list is empty.")
    ask: str | None = Field(default=None, description="Reply when several items remain and `by` is unknown.")
    no_match: str | None = Field(default=None, description="Reply when no item has the caller's value.")


class StepHint(_Strict):
    """One tool call of a request; args are `$slot`, `$slot?` (optional), `@tool.path` or literals."""

    tool: str
    args: dict[str, str] = Field(default_factory=dict)
    needs_one_of: list[str] = Field(default_factory=list, description="Ask for the first if all are missing.")
    only_if_missing: str | None = Field(default=None, description="Run only while this slot is unknown.")
    only_if_said: str | None = Field(default=None, description="Run only when the caller gave this slot.")
    reply: str | None = Field(default=None, description="With only_if_missing: the reply that asks for it.")
    pick: PickHint | None = None
    confirm: str | None = Field(default=None, description="Question the caller must say yes to first.")
    not_found: str | None = Field(default=None, description="Reply when the record does not exist.")
    retry_slot: str | None = Field(default=None, description="Slot a failure reply asks the caller again.")
    cache: bool = Field(default=False, description="Its result stays valid for the rest of the call.")


class IntentHint(_Strict):
    """One request the offline model handles: the phrases that open it, the slots it needs, its tool steps."""

    name: str
    keywords: list[str] = Field(description="Phrases that start this request; 'word*' matches a prefix.")
    slots: list[str] = Field(default_factory=list, description="Slots read from the caller for this request.")
    steps: list[StepHint] = Field(default_factory=list)
    done: str = Field(description="Reply once the last step succeeded.")
    follow_up: str | None = Field(default=None, description="Request a 'yes' or new values continue into.")

    @property
    def telling_slots(self) -> list[str]:
        """The slots whose values say this is the request: not those it only checks along the way
        (the service a problem report looks up first says nothing of a ticket to open)."""
        checked = {step.only_if_said for step in self.steps if step.only_if_said}
        return [slot for slot in self.slots if slot not in checked]


class Replies(_Strict):
    """The agent's fixed lines for moments no intent covers (greeting, thanks, not heard, failures)."""

    greeting: str = "Hello! How can I help you today?"
    introduced: str = "Thank you. How can I help you today?"  # the caller said who they are, not yet why
    thanks: str = "You're welcome. Is there anything else I can help with?"
    goodbye: str = "Thanks for calling. Goodbye!"
    hold: str = "Sure, take your time."
    fallback: str = "Sorry, I didn't quite get that. How can I help?"
    not_heard: str = "Sorry, I didn't catch that."
    acknowledge: str = "Okay. How else can I help?"
    not_found: str = "Sorry, I couldn't find that record."
    unavailable: str = "Sorry, I couldn't check that right now. Would you like me to try again?"
    rejected: str = "Sorry, I can't do that: {reason}."
    bad_value: str = "Sorry, I didn't get the {field}."
    declined: str = "Okay, I won't do that. What would you like to change?"
    dropped: str = "Okay, no problem. Is there anything else I can help with?"


class OfflineHints(_Strict):
    """An agent's offline-model hints: its slots, intents and replies, checked for dangling references."""

    today: dt.date | None = Field(
        default=None, description="Reference date for 'tomorrow' and 'next tuesday'; needed by date slots."
    )
    pm_below_hour: int = Field(default=7, ge=0, le=12, description="A bare 'three' means 15:00.")
    slots: dict[str, SlotHint] = Field(default_factory=dict)
    intents: list[IntentHint] = Field(default_factory=list)
    identify: str | None = Field(
        default=None,
        description="Intent run when a caller says who they are before why: it looks them up at once.",
    )
    replies: Replies = Field(default_factory=Replies)

    @property
    def reference_day(self) -> dt.date:
        """`today`; hints without date slots never read it, so any fixed day serves them."""
        return self.today or _NO_DATE_SLOTS_DAY

    @model_validator(mode="after")
    def _references(self) -> OfflineHints:
        if self.today is None:
            dated = [n for n, s in self.slots.items() if s.kind in {"date", "birth_date"}]
            if dated:
                raise ValueError(f"today: required because slot {dated[0]!r} holds a date")
        names = {intent.name for intent in self.intents}
        for n, intent in enumerate(self.intents):
            where = f"intents[{n}] ({intent.name})"
            for slot in intent.slots:
                self._slot(slot, f"{where}.slots")
            if intent.follow_up is not None and intent.follow_up not in names:
                raise ValueError(f"{where}.follow_up: unknown intent {intent.follow_up!r}")
            earlier: set[str] = set()
            for k, step in enumerate(intent.steps):
                here = f"{where}.steps[{k}]"
                for arg, ref in step.args.items():
                    slot_ref, result_ref = _SLOT_REF.match(ref), _RESULT_REF.match(ref)
                    if slot_ref:
                        self._slot(slot_ref.group(1), f"{here}.args.{arg}")
                    elif result_ref and result_ref.group(1) not in earlier:
                        raise ValueError(f"{here}.args.{arg}: {ref!r} reads a tool not called before")
                named: list[str | None] = [
                    *step.needs_one_of,
                    step.only_if_missing,
                    step.only_if_said,
                    step.retry_slot,
                    step.pick.by if step.pick else None,
                ]
                for named_slot in named:
                    if named_slot is not None:
                        self._slot(named_slot, here)
                if step.only_if_missing and not step.reply:
                    raise ValueError(f"{here}: only_if_missing needs a reply that asks for the slot")
                earlier.add(step.tool)
        if self.identify is not None and self.identify not in names:
            raise ValueError(f"identify: unknown intent {self.identify!r}")
        return self

    def _slot(self, name: str, where: str) -> None:
        if name not in self.slots:
            raise ValueError(f"{where}: unknown slot {name!r}")

    @property
    def requests(self) -> list[IntentHint]:
        """The intents a caller's words can start: all but `identify`, which only a name given starts."""
        return [intent for intent in self.intents if intent.name != self.identify]

    def intent(self, name: str) -> IntentHint:
        """The intent called `name`; the validator has made sure every name referred to exists."""
        return next(intent for intent in self.intents if intent.name == name)


def slot_reference(ref: str) -> tuple[str, bool] | None:
    """("date", optional?) for "$date" / "$date?"; None when `ref` is not a slot reference."""
    match = _SLOT_REF.match(ref)
    return (match.group(1), match.group(2) == "?") if match else None


def result_reference(ref: str) -> tuple[str, list[str]] | None:
    """("find_patient", ["picked", "patient_id"]) for "@find_patient.picked.patient_id"."""
    match = _RESULT_REF.match(ref)
    return (match.group(1), match.group(2).strip(".").split(".")) if match else None


def parse_hints(raw: dict[str, object], source: str) -> OfflineHints:
    """Validated hints, or ValueError naming `source` and the key at fault."""
    try:
        return OfflineHints.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"{source}: offline.{where}: {message}" if where else f"{source}: offline.{message}"
        ) from exc
