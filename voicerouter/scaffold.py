"""`voicerouter init`: a working agent of your own, outside the package, ready to chat, serve and replay.

It writes `<dir>/<name>/`: the agent definition, its prompt, a typed tool over a small data file with a test,
and three labelled recorded calls (user side only: `sim replay` regenerates the agent side) under `calls/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from voicerouter import events as ev
from voicerouter.agent import AGENT_NAME

AGENT_TOML = '''\
# {display}: your own agent. Run it with --agents-dir {parent} (or VOICEROUTER_AGENTS_DIR={parent}).
name = "{name}"
display_name = "{display}"
description = "Answers callers about their orders: where an order is and when it arrives."
prompt_file = "prompt.md"
greeting = "Thanks for calling {display}. How can I help you today?"
tools_file = "tools.py"          # create_tools() in this folder; or tools_module = "a.module.on.sys.path"

# A backend reached over HTTP needs no Python: declare it (the token comes from the environment).
# [[http_tools]]
# name = "find_customer"
# description = "Look up a customer by email."
# url = "https://crm.example.com/api/customers?email={{email}}"
# auth_env = "CRM_TOKEN"
# result_fields = ["customer_id", "name"]
# [http_tools.args.email]
# description = "the customer's email address"

[routing]

# How the offline agent model (no API key) handles this agent: slots it collects, requests it recognises,
# the tool steps they take and the replies it speaks. Schema: voicerouter/providers/offline/hints.py.
[offline]
today = "2026-12-01"

[offline.replies]
greeting = "Thanks for calling {display}. How can I help you today?"
fallback = "Sorry, I didn't quite get that. I can tell you where an order is and when it arrives."
goodbye = "Thanks for calling {display}. Goodbye!"
not_found = "I'm sorry, I couldn't find that order."

[offline.slots.order_id]
kind = "digits"
length = 4
prompt = "What's your order number? It has four digits."

[[offline.intents]]
name = "order_status"
keywords = ["order", "package", "parcel", "delivery", "shipment", "where is my", "track*", "arrive"]
slots = ["order_id"]
done = "Order {{order_id|digits}} is {{find_order.status}}[[, arriving on {{find_order.eta|date}}]]."

  [[offline.intents.steps]]
  tool = "find_order"
  args = {{ order_id = "$order_id" }}
  retry_slot = "order_id"
  not_found = "I'm sorry, I couldn't find an order number {{order_id|digits}}. Could you read it to me again?"
'''

PROMPT = '''\
You are the phone assistant of {display}. Callers ask where their order is and when it arrives.
Ask for the four-digit order number, look it up with find_order, and answer in one or two short sentences.
If no order has that number, say so and ask the caller to check it; never invent an order.
'''

TOOLS = '''\
"""{display}'s tools: typed arguments and results over data.json; a missing order is a real outcome."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from voicerouter.toolkit import RecordNotFound, Tool

DATA = json.loads((Path(__file__).parent / "data.json").read_text(encoding="utf-8"))


class OrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)
    order_id: str = Field(pattern=r"^\\d{{4}}$", description="Four-digit order number, e.g. '1001'.")


class Order(BaseModel):
    order_id: str
    status: str
    eta: str | None = None
    items: list[str]


def create_tools() -> list[Tool]:
    """Fresh tools over a fresh copy of the data, so calls never see each other's writes."""
    orders = copy.deepcopy(DATA["orders"])

    def find_order(args: OrderArgs) -> Order:
        record = orders.get(args.order_id)
        if record is None:
            raise RecordNotFound(f"no order {{args.order_id}}")
        return Order(order_id=args.order_id, **record)

    about = "Look up an order by its four-digit number."
    return [Tool("find_order", about, OrderArgs, find_order, timeout_ms=2000)]
'''

DATA = {
    "orders": {
        "1001": {"status": "delivered", "eta": None, "items": ["blue kettle"]},
        "1002": {"status": "on its way", "eta": "2026-12-03", "items": ["desk lamp", "two mugs"]},
        "1003": {"status": "being packed", "eta": "2026-12-05", "items": ["rain jacket"]},
    }
}

TEST = '''\
"""{display}'s tool, as a model would call it (run: pytest {name}/test_tools.py)."""

from pathlib import Path

from voicerouter.agent import load_agent


def _tools():
    return load_agent("{name}", Path(__file__).resolve().parent.parent).create_tools()


def test_a_known_order_is_found() -> None:
    outcome = _tools().run("find_order", {{"order_id": "1002"}})
    assert outcome.ok and outcome.result is not None and outcome.result["status"] == "on its way"


def test_a_missing_order_is_not_found_and_a_bad_number_is_an_error() -> None:
    assert _tools().run("find_order", {{"order_id": "9999"}}).not_found
    assert not _tools().run("find_order", {{"order_id": "12"}}).ok
'''

README = '''\
# {display}

Your own voicerouter agent. From the folder above this one:

    voicerouter chat --agent {name} --agents-dir .         # talk to it (offline, no API key)
    voicerouter route "where is my order" --agent {name} --agents-dir . --json
    sim replay {name}/calls --agents-dir .                 # replay its labelled calls, score them
    voicerouter serve --agent {name} --agents-dir .        # put it on /ws, /twilio (and SIP with --sip-port)
    pytest {name}/test_tools.py

Edit `agent.toml` (persona, routing, offline hints), `prompt.md`, `tools.py` + `data.json`, and add calls:
record a real one with `voicerouter chat --record {name}/calls` or `serve`, then add `label` lines.
'''

# (words the caller says, label fields) per call: found, missing (a refusal), social only
CALLS: dict[str, list[tuple[str, dict[str, object]]]] = {
    "01-order-on-its-way": [
        ("hi i'm calling about my order it's one zero zero two",
         {"tier": "triage", "tool": {"name": "find_order", "args": {"order_id": "1002"}}}),
        ("great thanks bye", {"tier": "speech"}),
    ],
    "02-order-not-found": [
        ("where is my order number nine nine nine nine",
         {"tier": "triage", "refusal": True, "tool": {"name": "find_order", "args": {"order_id": "9999"}}}),
        ("okay i'll check the email thanks bye", {"tier": "speech"}),
    ],
    "03-hello-and-goodbye": [
        ("hello", {"tier": "speech"}),
        ("actually never mind thanks bye", {"tier": "speech"}),
    ],
}  # fmt: skip


def _recording(name: str, greeting: str, call: str, turns: list[tuple[str, dict[str, object]]]) -> str:
    """The user side of one labelled call as recorded events, timed like a real caller."""
    call_id = f"{name}-{call}"
    items: list[ev.Event | ev.Label] = [
        ev.CallStarted(call_id=call_id, t_ms=0, agent=name, transport="sim", caller="+15550100000"),
        ev.AgentText(call_id=call_id, t_ms=0, turn_id=0, text=greeting, final=True),
    ]
    t_ms = 3500
    for n, (said, label) in enumerate(turns, start=1):
        speech_ms = 400 + 60 * len(said.split())
        items += [
            ev.UserSpeechStarted(call_id=call_id, t_ms=t_ms),
            ev.UserSpeechStopped(call_id=call_id, t_ms=t_ms + speech_ms),
            ev.UserTranscript(call_id=call_id, t_ms=t_ms + speech_ms, text=said),
            ev.Label.model_validate({"turn": n, **label}),
        ]
        t_ms += speech_ms + 4000
    ended = ev.CallEnded(call_id=call_id, t_ms=t_ms, reason="caller hung up", turns=len(turns), cost_usd=0)
    items.append(ended)
    return "".join(item.model_dump_json() + "\n" for item in items)


def scaffold(name: str, directory: Path) -> Path:
    """Write a new agent `name` into `directory/name/` and return that folder; never overwrites."""
    if not AGENT_NAME.fullmatch(name) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"bad agent name {name!r}: start with a lower-case letter; letters, digits, - and _")
    folder = directory / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists: choose another name or folder")
    display = " ".join(part.capitalize() for part in re.split(r"[-_]", name))
    fields = {"name": name, "display": display, "parent": str(directory)}
    (folder / "calls").mkdir(parents=True)
    files = {
        "agent.toml": AGENT_TOML.format(**fields),
        "prompt.md": PROMPT.format(**fields),
        "tools.py": TOOLS.format(**fields),
        "data.json": json.dumps(DATA, indent=2) + "\n",
        "test_tools.py": TEST.format(**fields),
        "README.md": README.format(**fields),
    }
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    greeting = f"Thanks for calling {display}. How can I help you today?"
    for call, turns in CALLS.items():
        (folder / "calls" / f"{name}-{call}.jsonl").write_text(_recording(name, greeting, call, turns))
    return folder
