"""Replays a call's history to decide the offline model's next move: requests, slots, confirmations.

Stateless: everything is rebuilt from the messages on every step, so the same history always gives the
same move; it never carries state between requests or calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher

from voicerouter.providers.base import ChatMessage
from voicerouter.providers.offline.hints import IntentHint, OfflineHints, slot_reference
from voicerouter.providers.offline.nlp.words import pick_from_list, spelled_runs, tokenize
from voicerouter.providers.offline.note import is_history_note, read_history_note
from voicerouter.providers.offline.plan import Action, Episode, Planner, ToolReply, call_key, read_tool_reply
from voicerouter.providers.offline.requests import RequestModel
from voicerouter.providers.offline.understanding import (
    Heard,
    extract_slots,
    hear,
    lone_surname,
    names_only_tagged,
    phrase_matches,
)

_MEMO_ENTRIES = 4096
_LOOK_BACK_UTTERANCES = 3


@dataclass
class _State:
    kept: dict[str, str] = field(default_factory=dict)
    cache: dict[str, ToolReply] = field(default_factory=dict)
    episode: Episode | None = None
    before: Action | None = None
    heard: Heard | None = None
    said: dict[str, str] = field(default_factory=dict)
    last_text: str = ""
    earlier: list[Heard] = field(default_factory=list)  # the caller's utterances before this one
    numbers: dict[str, str] = field(default_factory=dict)  # the last ticket, record... each request had


def _keyed(text: str, keywords: list[str]) -> bool:
    return bool(phrase_matches(tokenize(text), {"k": keywords}))


def _mends_the_first_name(word: str, given: list[str]) -> bool:
    """Whether a name word said alone corrects the first name given rather than the last: it starts
    like the first name, not like the last, and is close to it ("Linh" for "Lin", "Jon" for "John")."""
    first, last = given[0].lower(), given[-1].lower()
    said = word.lower()
    if said[:1] != first[:1] or said[:1] == last[:1] or said == first:
        return False
    return SequenceMatcher(None, said, first).ratio() >= 0.6


class Dialogue:
    """Folds the history into a state, then picks the move for the turn at hand."""

    def __init__(self, hints: OfflineHints, requests: RequestModel | None = None) -> None:
        self.hints = hints
        self.requests = requests
        self.planner = Planner(hints)
        self._heard: dict[str, Heard] = {}  # pure memo: every step replays the same earlier utterances
        self._said: dict[tuple[str, tuple[str, ...], tuple[str, ...]], dict[str, str]] = {}  # likewise
        self._spelled: dict[str, bool] = {}  # likewise

    def _understand(self, text: str) -> Heard:
        heard = self._heard.get(text)
        if heard is None:
            if len(self._heard) >= _MEMO_ENTRIES:
                self._heard.clear()
            heard = self._heard[text] = hear(text, self.hints, self.requests)
        return heard

    def _slots(self, heard: Heard, wanted: list[str], expects: tuple[str, ...]) -> dict[str, str]:
        """`extract_slots` memoised: a pure function of the words, the slots wanted and the slots asked."""
        key = (heard.text, tuple(wanted), tuple(expects))
        said = self._said.get(key)
        if said is None:
            if len(self._said) >= _MEMO_ENTRIES:
                self._said.clear()
            said = self._said[key] = extract_slots(
                heard, wanted, self.hints, expects=expects, today=self.hints.reference_day
            )
        return dict(said)

    def _spells(self, heard: Heard) -> bool:
        """Whether the utterance spells a word letter by letter; memoised like `_understand`."""
        spells = self._spelled.get(heard.text)
        if spells is None:
            if len(self._spelled) >= _MEMO_ENTRIES:
                self._spelled.clear()
            spells = self._spelled[heard.text] = bool(spelled_runs(list(heard.tokens)))
        return spells

    def next_action(self, messages: tuple[ChatMessage, ...], tools: frozenset[str] | None) -> Action:
        """The move for the last turn of `messages` (reply, ask, confirm, call a tool), replayed afresh."""
        state = _State()
        calls: dict[str, str] = {}
        for message in messages:
            if message.role == "user" and is_history_note(message.content):
                self._recall(state, message.content)
            elif message.role == "user":
                self._hear(state, message.content, tools)
                if state.heard is not None:
                    state.earlier.append(state.heard)
            elif message.role == "assistant":
                if message.content.strip():
                    state.last_text = message.content.strip()
                for call in message.tool_calls:
                    calls[call.id] = call_key(call.name, call.args)
            else:
                key = calls.get(message.tool_call_id or "")
                if key is None:
                    continue
                reply = read_tool_reply(message.content)
                if state.episode is not None:
                    state.episode.results[key] = reply
                if reply.status == "ok":
                    state.cache[key] = reply
        if not messages or messages[-1].role != "user":
            if state.episode is not None and state.episode.active:
                return self._plan(state, tools)
            return Action(
                "reply", self.hints.replies.greeting if not messages else self.hints.replies.acknowledge
            )
        return self._answer(state, tools)

    def _recall(self, state: _State, note: str) -> None:
        """The trimmed start of a long call: who the caller is and the lookups still worth reusing."""
        for noted in read_history_note(note):
            if noted.complete:
                reply = read_tool_reply(noted.content)
                if reply.status == "ok":
                    state.cache[call_key(noted.tool, noted.args)] = reply
            for step in (step for intent in self.hints.intents for step in intent.steps):
                if step.tool != noted.tool:
                    continue
                for arg, ref in step.args.items():
                    slot = slot_reference(ref)
                    if slot is not None and self.hints.slots[slot[0]].keep and arg in noted.args:
                        state.kept[slot[0]] = str(noted.args[arg])

    # -- one caller utterance -----------------------------------------------------------------------
    def _hear(self, state: _State, text: str, tools: frozenset[str] | None) -> None:
        """Fold one utterance into the state: which request it is about, and what it says for it."""
        if state.episode is not None:
            state.numbers.update(
                {
                    k: v
                    for k, v in state.episode.slots.items()
                    if self.hints.slots[k].kind in {"digits", "id"} and not self.hints.slots[k].keep
                }
            )
        episode = state.episode if state.episode is not None and state.episode.active else None
        before = self._plan(state, tools) if episode is not None else None
        heard = self._understand(text)
        if "yes?" in heard.acts and before is not None and before.kind == "confirm":
            heard = replace(heard, acts=heard.acts | {"yes"})
        state.before, state.heard = before, heard
        target = self._target(episode, before, heard)
        wanted = list(target.slots) if target is not None else []
        wanted += [n for n, s in self.hints.slots.items() if s.keep and n not in wanted]
        # a new request is no answer to the last question ("a ticket, four six three two" is no employee ID)
        switching = episode is not None and heard.intent is not None and target is not episode.intent
        expects = before.expects if before is not None and not switching else ()
        said = self._slots(heard, wanted, expects)
        if before is not None and before.choices and expects and expects[0] not in said:
            chosen = pick_from_list(heard.tokens, len(before.choices))  # "the second one"
            if chosen is None and len(before.choices) == 1 and "yes" in heard.acts:
                chosen = 0  # "I don't see one on Friday; you have Thursday at ten." "yes, that one"
            if chosen is not None:
                said[expects[0]] = before.choices[chosen]
        for name, spec in self.hints.slots.items():  # a name kept once given is not lost to a guess
            kept = state.kept.get(name)
            if spec.kind == "name" and kept and said.get(name, kept) != kept and name not in expects:
                if names_only_tagged(heard) and (before is None or before.failed_with is None):
                    del said[name]
        self._complete_name(said, heard, expects, state.kept)
        if (
            target is not None
            and episode is not None
            and target is not episode.intent
            and target.name == episode.intent.follow_up
            and heard.intent is None
        ):
            offered = [k for k in said if k in target.slots and not self.hints.slots[k].keep]
            if "yes" not in heard.acts and not offered:
                target = None  # "thanks" after an answer does not start its follow-up
        identity = self._identifies(said, state.kept)
        if target is None and episode is None:
            target = identity
        state.said = said
        known = self.planner.slots_of(episode, state.kept) if episode is not None else {}
        state.kept.update({k: v for k, v in said.items() if self.hints.slots[k].keep})
        if target is None:
            if episode is not None and ("drop" in heard.acts or (before is not None and before.terminal)):
                episode.active = False
            return
        if episode is not None and target is episode.intent and not self._restarts(before, heard):
            news = {k: v for k, v in said.items() if k in target.slots and known.get(k) != v}
            # the value just asked for, said again ("W A L S H" after "I couldn't find Walsh")
            repeated = before is not None and any(k in said for k in before.expects)
            self._continue(episode, before, heard, news, repeated=repeated)
            only_one = before is not None and len(before.choices) == 1 and before.kind != "confirm"
            said_yes = "yes" in heard.acts and "no" not in heard.acts
            if episode.active and only_one and said_yes and heard.intent == episode.intent.name:
                # "you have Thursday at ten, which one?" "yes, that one, cancel it": the go-ahead too
                ahead = self._plan(state, tools)
                if ahead.kind == "confirm":
                    episode.confirmed.add(ahead.key)
            return
        carried = (
            dict(episode.slots) if episode is not None and episode.intent.follow_up == target.name else {}
        )
        # "close that ticket": the one just looked at; the same request asked again starts from what it says
        if state.episode is not None and not carried and state.episode.intent is not target:
            # and one left unfinished lends what it was about ("see Doctor Ortiz" ... "friday, if he's free")
            kinds = {"digits", "id", "date"} | ({"choice"} if episode is not None else set())
            carried = {
                k: v
                for k, v in state.episode.slots.items()
                if k in target.slots and self.hints.slots[k].kind in kinds
            }
            # ... or the one talked about before the request just made ("you can close that ticket")
            carried.update({k: v for k, v in state.numbers.items() if k in target.slots and k not in carried})
        carried.update(said)
        carried.update(self._described_before(target, carried, state.earlier))
        state.episode = Episode(intent=target, slots={k: v for k, v in carried.items() if k in target.slots})
        if identity is not None and not self._looks_up(target, identity):
            # "hiya, it's Fiona Campbell, ticket four six one one can be closed": who first, then what
            state.episode.prelude = tuple(identity.steps)
            state.episode.prelude_slots = tuple(identity.slots)

    def _identifies(self, said: dict[str, str], kept: dict[str, str]) -> IntentHint | None:
        """ "Hi, it's Marcus Bell": who is calling, before why; the agent's `identify` request looks
        them up at once, so the request that follows starts from the record."""
        if self.hints.identify is None:
            return None
        for name, value in said.items():
            spec = self.hints.slots[name]
            if not spec.keep or kept.get(name) == value:
                continue
            if spec.kind == "name" and len(value.split()) < max(1, spec.min_words):
                continue
            if spec.kind in {"name", "id", "digits"}:
                return self.hints.intent(self.hints.identify)
        return None

    def _looks_up(self, target: IntentHint, identity: IntentHint) -> bool:
        """Whether the request (or the one it leads into) looks the caller up itself, when it needs to."""
        tools = {step.tool for step in identity.steps}
        chain = [target, *([self.hints.intent(target.follow_up)] if target.follow_up else [])]
        return any(step.tool in tools for intent in chain for step in intent.steps)

    def _described_before(
        self, target: IntentHint, given: dict[str, str], earlier: list[Heard]
    ) -> dict[str, str]:
        """ "Can you log a ticket for that then?": the problem is the one the caller described just before,
        and so is what kind of problem it is (the ERP described before makes a software ticket)."""
        found: dict[str, str] = {}
        for name in target.slots:
            spec = self.hints.slots[name]
            if spec.kind != "text" or (
                name in given and (not spec.keywords or _keyed(given[name], spec.keywords))
            ):
                continue  # a problem the request itself describes in a keyword's words stands
            for heard in reversed(earlier[-_LOOK_BACK_UTTERANCES:]):
                value = self._slots(heard, [name], ()).get(name)
                if value is not None:
                    found[name] = value
                    kinds = [
                        n
                        for n in target.slots
                        if n not in given
                        and self.hints.slots[n].kind == "choice"
                        and not self.hints.slots[n].keep
                    ]
                    found.update({k: v for k, v in self._slots(heard, kinds, ()).items() if k not in found})
                    break
        return found

    def _complete_name(
        self, said: dict[str, str], heard: Heard, expects: tuple[str, ...], kept: dict[str, str]
    ) -> None:
        """Asked to spell a last name, the caller says only that ("Clarke, C L A R K E"): it replaces
        the last name of the full name already given. A spelled surname says so even unasked."""
        spelled = [n for n, spec in self.hints.slots.items() if spec.keep and spec.kind == "name"]
        for name in dict.fromkeys([*expects, *(spelled if self._spells(heard) else [])]):
            spec = self.hints.slots[name]
            given = kept.get(name, "")
            if spec.kind != "name" or name in said or len(given.split()) < max(2, spec.min_words):
                continue
            surname = lone_surname(heard)
            if surname is not None:
                words = given.split()
                if _mends_the_first_name(surname, words):  # "Linh, L I N H" after "Lin Nguyen"
                    said[name] = " ".join([surname, *words[1:]])
                else:
                    said[name] = " ".join([*words[:-1], surname])

    @staticmethod
    def _continue(
        episode: Episode, before: Action | None, heard: Heard, news: dict[str, str], *, repeated: bool = False
    ) -> None:
        """An utterance about the request in progress: new values, a yes to confirm, a retry, or nothing."""
        retry = "retry" in heard.acts or (
            "yes" in heard.acts and before is not None and before.failed_with in {"timeout", "error"}
        )
        if before is not None and before.terminal and not (news or retry or repeated):
            episode.active = False  # finished or failed, and nothing new: the turn is about something else
            return
        if retry:
            episode.results = {
                k: r for k, r in episode.results.items() if r.status not in {"timeout", "error"}
            }
        confirming = before is not None and before.kind == "confirm"
        if confirming and before is not None and "yes" in heard.acts and "no" not in heard.acts:
            episode.confirmed.add(before.key)
        episode.slots.update(news)
        if "drop" in heard.acts:
            episode.active = False

    def _target(self, episode: Episode | None, before: Action | None, heard: Heard) -> IntentHint | None:
        """The intent this utterance is about: a new request, the one in progress, or its follow-up."""
        if heard.intent is not None:
            return self.hints.intent(heard.intent)
        # once the caller is looked up, no request is under way: what comes next is read as a first request
        identified = (
            episode is not None
            and episode.intent.name == self.hints.identify
            and before is not None
            and before.terminal
        )
        if episode is None or identified:
            fresh = self._fresh(heard)
            if fresh is not None or episode is None:
                return fresh
        if before is not None and before.succeeded:
            follow_up = episode.intent.follow_up
            if follow_up is not None:
                return self.hints.intent(follow_up)
            if self._narrows(episode.intent, heard):
                return episode.intent
            # the request is answered: what comes next is a new one, read as if none were under way
            # ("and he's still got his asthma check later this month, right?")
            return self._fresh(heard)
        failed = before is not None and before.terminal
        if failed and before is not None and not self._gives_own_value(episode.intent, before, heard):
            # it failed or found nothing: a retry, unless the words are likelier another request
            # ("huh, I never booked it then. who's free thursday morning?"); a new value for it retries
            fresh = self._fresh(heard)
            if fresh is not None and fresh is not episode.intent:
                return fresh
        return episode.intent

    def _gives_own_value(self, intent: IntentHint, before: Action, heard: Heard) -> bool:
        """Whether the words give the request a value of its own ("what about wednesday then")."""
        own = [n for n in intent.slots if not self.hints.slots[n].keep]
        return bool(self._slots(heard, own, before.expects))

    def _fresh(self, heard: Heard) -> IntentHint | None:
        """The request an utterance starts when none is under way: its values' or its likeliest one,
        unless that would act at once on a hunch (a transfer has no slot to ask, no question to confirm)."""
        if heard.guess is not None:
            return self.hints.intent(heard.guess)
        hunch = self.hints.intent(heard.hunch) if heard.hunch is not None else None
        return hunch if hunch is not None and hunch.slots else None

    def _narrows(self, intent: IntentHint, heard: Heard) -> bool:
        """ "sorry, just saturdays" after the hours: a value for the request just answered asks it again."""
        own = [
            n for n in intent.slots if not self.hints.slots[n].keep and self.hints.slots[n].kind == "choice"
        ]
        return bool(own) and bool(self._slots(heard, own, ()))

    @staticmethod
    def _restarts(before: Action | None, heard: Heard) -> bool:
        """After a request finished well, the same request again starts over: said again ("book another
        one"), or narrowed ("sorry, just saturdays" after the hours)."""
        return before is not None and before.succeeded

    def _plan(self, state: _State, tools: frozenset[str] | None) -> Action:
        assert state.episode is not None
        return self.planner.plan(state.episode, state.kept, state.cache, tools)

    # -- the reply to the last utterance --------------------------------------------------------------
    def _answer(self, state: _State, tools: frozenset[str] | None) -> Action:
        replies = self.hints.replies
        heard = state.heard
        assert heard is not None
        acts = heard.acts
        contributed = bool(state.said) or heard.intent is not None
        episode = state.episode if state.episode is not None and state.episode.active else None
        if "repeat" in acts and not contributed:
            return Action("reply", state.last_text or replies.greeting)
        if "hold" in acts and not contributed:
            return Action("reply", replies.hold)
        if "drop" in acts and heard.intent is None:
            return Action("reply", replies.dropped)
        confirming = state.before is not None and state.before.kind == "confirm" and "yes" in acts
        if "goodbye" in acts and heard.intent is None and not confirming:  # "yep, that's it" says yes
            return Action("reply", replies.goodbye)
        if episode is not None:
            action = self._plan(state, tools)
            before = state.before
            if (
                before is not None
                and before.kind == "confirm"
                and "no" in acts
                and "yes" not in acts
                and action.key == before.key
            ):
                return Action("reply", replies.declined, expects=before.expects)
            if (
                before is not None
                and not contributed
                and not acts & {"yes", "no", "retry"}
                and action.kind != "call"
                and action.text == before.text
            ):
                return Action(
                    action.kind, f"{replies.not_heard} {action.text}", expects=action.expects, key=action.key
                )
            return action
        introduced = any(self.hints.slots[k].keep for k in state.said) and heard.intent is None
        if introduced and not acts & {"thanks", "goodbye", "no"}:
            return Action("reply", replies.introduced)  # "hi, this is Elena Rossi": who, not yet why
        if "no" in acts and "thanks" in acts:
            return Action("reply", replies.goodbye)
        if "thanks" in acts:
            return Action("reply", replies.thanks)
        if "greeting" in acts:
            return Action("reply", replies.greeting)
        if acts & {"yes", "no"}:
            return Action("reply", replies.acknowledge)
        return Action("reply", replies.fallback)
