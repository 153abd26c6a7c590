"""Replays a call's history to decide the offline model's next move: requests, slots, confirmations.

Stateless: everything is rebuilt from the messages on every step, so the same history always gives the
same move; it never carries state between requests or calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicerouter.providers.base import ChatMessage
from voicerouter.providers.offline_hints import IntentHint, OfflineHints
from voicerouter.providers.offline_plan import Action, Episode, Planner, ToolReply, call_key, read_tool_reply
from voicerouter.providers.offline_understanding import Heard, extract_slots, hear

_MEMO_ENTRIES = 4096


@dataclass
class _State:
    kept: dict[str, str] = field(default_factory=dict)
    cache: dict[str, ToolReply] = field(default_factory=dict)
    episode: Episode | None = None
    before: Action | None = None
    heard: Heard | None = None
    said: dict[str, str] = field(default_factory=dict)
    last_text: str = ""


class Dialogue:
    """Folds the history into a state, then picks the move for the turn at hand."""

    def __init__(self, hints: OfflineHints) -> None:
        self.hints = hints
        self.planner = Planner(hints)
        self._heard: dict[str, Heard] = {}  # pure memo: every step replays the same earlier utterances

    def _understand(self, text: str) -> Heard:
        heard = self._heard.get(text)
        if heard is None:
            if len(self._heard) >= _MEMO_ENTRIES:
                self._heard.clear()
            heard = self._heard[text] = hear(text, self.hints)
        return heard

    def next_action(self, messages: tuple[ChatMessage, ...], tools: frozenset[str] | None) -> Action:
        state = _State()
        calls: dict[str, str] = {}
        for message in messages:
            if message.role == "user":
                self._hear(state, message.content, tools)
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

    # -- one caller utterance -----------------------------------------------------------------------
    def _hear(self, state: _State, text: str, tools: frozenset[str] | None) -> None:
        """Fold one utterance into the state: which request it is about, and what it says for it."""
        episode = state.episode if state.episode is not None and state.episode.active else None
        before = self._plan(state, tools) if episode is not None else None
        heard = self._understand(text)
        state.before, state.heard = before, heard
        target = self._target(episode, before, heard)
        wanted = list(target.slots) if target is not None else []
        wanted += [n for n, s in self.hints.slots.items() if s.keep and n not in wanted]
        expects = before.expects if before is not None else ()
        said = extract_slots(heard, wanted, self.hints, expects=expects, today=self.hints.reference_day)
        if (
            target is not None
            and episode is not None
            and target is not episode.intent
            and heard.intent is None
        ):
            offered = [k for k in said if k in target.slots and not self.hints.slots[k].keep]
            if "yes" not in heard.acts and not offered:
                target = None  # "thanks" after an answer does not start its follow-up
        state.said = said
        known = self.planner.slots_of(episode, state.kept) if episode is not None else {}
        state.kept.update({k: v for k, v in said.items() if self.hints.slots[k].keep})
        if target is None:
            if episode is not None and ("drop" in heard.acts or (before is not None and before.terminal)):
                episode.active = False
            return
        if episode is not None and target is episode.intent and not self._restarts(before, heard):
            news = {k: v for k, v in said.items() if k in target.slots and known.get(k) != v}
            self._continue(episode, before, heard, news)
            return
        carried = (
            dict(episode.slots) if episode is not None and episode.intent.follow_up == target.name else {}
        )
        carried.update(said)
        state.episode = Episode(intent=target, slots={k: v for k, v in carried.items() if k in target.slots})

    @staticmethod
    def _continue(episode: Episode, before: Action | None, heard: Heard, news: dict[str, str]) -> None:
        """An utterance about the request in progress: new values, a yes to confirm, a retry, or nothing."""
        retry = "retry" in heard.acts or (
            "yes" in heard.acts and before is not None and before.failed_with in {"timeout", "error"}
        )
        if before is not None and before.terminal and not (news or retry):
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
        if episode is None:
            return self.hints.intent(heard.guess) if heard.guess is not None else None
        if before is not None and before.succeeded:
            follow_up = episode.intent.follow_up
            return self.hints.intent(follow_up) if follow_up is not None else None
        return episode.intent

    @staticmethod
    def _restarts(before: Action | None, heard: Heard) -> bool:
        """A request said again after the last one finished well starts over ("book another one")."""
        return heard.intent is not None and before is not None and before.succeeded

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
        if "goodbye" in acts and heard.intent is None:
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
        if "no" in acts and "thanks" in acts:
            return Action("reply", replies.goodbye)
        if "thanks" in acts:
            return Action("reply", replies.thanks)
        if "greeting" in acts:
            return Action("reply", replies.greeting)
        if acts & {"yes", "no"}:
            return Action("reply", replies.acknowledge)
        return Action("reply", replies.fallback)
