"""Where the conversation stands when the caller speaks: what the agent last asked, proposed or listed.

Pure text analysis and a small tracker fed turn by turn; the engine feeds it live (with the tiers it chose),
`voicerouter route --history` and the training script feed it a written history. It never classifies, and
it never reads anything but the texts and tiers it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from voicerouter.events import TIERS
from voicerouter.router.features import TurnContext
from voicerouter.router.lexicon import (
    DATE_WORDS,
    FILLERS,
    FUNCTION_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    SOCIAL,
    normalize_tokens,
)

TIER_RANK = {tier: rank for rank, tier in enumerate(("speech", "triage", "reasoning"))}

# An open question ("how can I help?") asks for a new request: it is not a slot, a choice or a confirmation.
_OPEN_QUESTIONS = re.compile(
    r"\b(how (can|may|could) i help|what can i (do|help)|anything else|something else|what else|"
    r"how can we help|what brings you|what do you need|is there more|help you with today)\b"
)
_CONFIRM = re.compile(
    r"\b(shall i|should i|do you want me to|would you like me to|want me to|can i go ahead|may i go ahead|"
    r"should we|shall we|is that (ok|okay|right|correct|alright|all right)|does that (work|sound)|"
    r"sound(s)? (good|ok|okay|right)|just to confirm|to confirm|go ahead and|ok to|okay to|"
    r"are you happy|happy for me to|would that work|is that what you want|want to go ahead|"
    r"do you want to go ahead|proceed|confirm|sound right|is that alright|work for you|shall i\?)\b"
    r"|^(okay|ok|alright|all right|go ahead|right|correct|yes|good)\?$"
)
# What makes a proposal a plan: several actions, or an action that hangs on a condition or replaces another.
_ACTIONS = re.compile(
    r"\b(book|rebook|cancel|move|reschedule|open|close|send|create|add|note|check|escalate|set|put|reset|"
    r"schedule|call|merge|assign|update|switch|push|restart|order|log|transfer|swap|raise|reserve)\b"
)
_CONDITIONS = re.compile(
    r"\b(if|unless|instead|rather than|once|otherwise|either way|in case|then|so that|as long as|"
    r"back to back|both|right after|separate)\b"
)
# The agent told the caller to do something (a troubleshooting step), refused, failed, or was cut off.
_INSTRUCTION = re.compile(
    r"(^|[.!?] )(please )?(try|restart|reboot|unplug|plug|hold|forget|remove|sign out|sign in|log out|"
    r"close|quit|reopen|reconnect|clear|check|press|turn|open|go to|click|can you (remove|restart|try|"
    r"unplug|check|close|open|clear|sign|log)|could you (try|restart|remove|check))\b"
)
_REFUSAL = re.compile(
    r"\b(couldn't find|could not find|can't find|cannot find|no record|don't see|do not see|not finding|"
    r"is taken|are taken|isn't available|is not available|not available|no openings|fully booked|"
    r"not in (the|our) system|doesn't match|does not match|no patient|no ticket|no employee)\b"
)
_FAILURE = re.compile(
    r"\b(couldn't (reach|check|connect|load|access|get)|could not (reach|check|connect|load)|"
    r"having trouble|something went wrong|went wrong|timed out|not responding|try again in a moment|"
    r"say that again in a moment)\b"
)
_CUT_OFF = re.compile(r"(—|–|--|-|\.\.\.|…)\s*$")
_CHOICE = re.compile(
    r"\b(which (one|of|would|do|time|day|slot|option)|would you prefer|do you prefer|prefer|or would you|"
    r"either|one of those|one of these|options|option (one|two|1|2)|first one|second one|"
    r"the earlier|the later)\b"
)
# The slot the agent is asking for, by the words of its question (first match wins).
_SLOTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (slot, re.compile(rf"\b({pattern})\b"))
    for slot, pattern in (
        ("date_of_birth", r"date of birth|birth ?date|born|dob"),
        ("spelling", r"spell"),
        ("ticket_id", r"ticket number|ticket id|reference number|case number|ticket"),
        ("employee_id", r"employee (id|number)|staff (id|number)|badge"),
        ("phone", r"phone number|number (to|we can) reach|callback number|call you back"),
        ("email", r"email address|e-mail address|your email"),
        ("name", r"your name|full name|first and last|last name|surname|who am i speaking|patient'?s name"),
        ("name", r"name"),
        ("insurance", r"insurance|insurer|plan"),
        ("device", r"device|laptop|computer|printer|model|asset tag|serial"),
        ("time", r"what time|which time|time of day|morning or afternoon|what hour"),
        ("date", r"what day|which day|what date|which date|when would|when did|when is|when"),
        ("doctor", r"which doctor|doctor"),
        ("reason", r"reason for|what is it for|what'?s it for|what seems|symptom"),
        ("location", r"where are you|which office|location|building|floor"),
    )
)
_OPTION_ITEM = re.compile(
    r"\b(\d{1,2}(:\d\d)?( ?(am|pm))?|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"dr\.? [a-z]+|doctor [a-z]+|option (one|two|three|1|2|3))\b"
)
_SENTENCES = re.compile(r"[^.?!]*[.?!]?")
# A title's full stop ("Dr. Chen") does not end a sentence: "...with Dr. Ortiz?" is still one question.
_TITLE_STOP = re.compile(r"\b(dr|mr|mrs|ms|mx|prof|st|no)\.")
# "Let me check on that." is the agent's acknowledgement, not a step of what it proposes.
_ACKNOWLEDGEMENT = re.compile(
    r"\b(let me|let's|while i|i'll|i will|i'm going to|give me a (second|moment) to) (just |quickly )?"
    r"(check|look|pull)( on| into| up)?( that| it| this)?( up)?( for you)?\b"
)
_SIMILAR_AT = 0.5


@dataclass(frozen=True, slots=True)
class AgentCues:
    """What one agent message does: asks an open or a specific question, asks for a slot, lists options,
    proposes an action and waits for a yes."""

    question: bool = False
    open_question: bool = False
    confirmation: bool = False
    slot: str | None = None
    options: int = 0
    action: str | None = None
    plan_steps: int = 0
    instructed: bool = False
    refused: bool = False
    failed: bool = False
    cut_off: bool = False


def _question_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.findall(text) if s.strip().endswith("?")]


def agent_cues(text: str) -> AgentCues:
    """Read one agent message: its questions (only the last two sentences count), options and proposals."""
    lowered = _TITLE_STOP.sub(r"\1", " ".join(text.lower().split()))
    if not lowered:
        return AgentCues()
    questions = _question_sentences(lowered)
    tail = " ".join(s.strip() for s in _SENTENCES.findall(lowered) if s.strip())
    last = questions[-1] if questions else ""
    ends_with_question = lowered.rstrip().endswith("?")
    open_question = bool(last) and bool(_OPEN_QUESTIONS.search(last))
    confirmation = bool(last) and not open_question and bool(_CONFIRM.search(last))
    items = len({m.group(0) for m in _OPTION_ITEM.finditer(tail)})
    choice = bool(last) and not open_question and bool(_CHOICE.search(last))
    slot = None
    if last and not open_question and not confirmation and not choice:
        # "your employee ID, or your full name?" asks for a slot; "email, single sign-on, or VPN?" a choice
        slot = next((name for name, pattern in _SLOTS if pattern.search(last)), None)
    options = 0
    if choice or (last and " or " in last and not open_question and slot is None):
        options = max(items, 2)  # "which one?", "email, single sign-on, or VPN?"
    elif confirmation and items >= 2 and " or " in tail:
        options = items  # "I have 8 or 9:30. Shall I book one?"
    elif not last and (items >= 3 or (items >= 2 and " or " in tail)):
        options = items  # a list read out, no question: "Dr. Ortiz has 9, 9:30 and 11 on Saturday."
    action = None
    if confirmation:
        words = [t for t in normalize_tokens(last) if t not in FUNCTION_WORDS and t not in FILLERS]
        action = next((w for w in words if w not in ("confirm", "ahead", "go", "okay", "ok", "just")), None)
    plan_steps = 0
    if confirmation:
        proposed = _ACKNOWLEDGEMENT.sub(" ", lowered)
        actions = {m.group(0) for m in _ACTIONS.finditer(proposed)}
        conditions = {m.group(0) for m in _CONDITIONS.finditer(proposed)}
        plan_steps = len(actions) + 2 * len(conditions)
    return AgentCues(
        question=ends_with_question or bool(questions),
        open_question=open_question,
        confirmation=confirmation,
        slot=slot,
        options=min(options, 5),
        action=action,
        plan_steps=min(plan_steps, 6),
        instructed=bool(_INSTRUCTION.search(lowered)) and not confirmation,
        refused=bool(_REFUSAL.search(lowered)),
        failed=bool(_FAILURE.search(lowered)),
        cut_off=bool(_CUT_OFF.search(text)),
    )


# Words that say nothing about what is asked: a new ticket number or day is a new value, not a retry.
_NOT_REQUEST_WORDS = (
    frozenset(w for phrases in SOCIAL.values() for p in phrases for w in p.split())
    | NUMBER_WORDS
    | ORDINALS
    | DATE_WORDS
    | FILLERS
    | FUNCTION_WORDS
    | {"<num>"}
)


def content_words(text: str) -> frozenset[str]:
    """The words of a caller turn that carry its request (no fillers, function or social words)."""
    return frozenset(t for t in normalize_tokens(text) if t not in _NOT_REQUEST_WORDS and len(t) > 2)


def same_request(a: str, b: str) -> bool:
    """True when two caller turns ask for the same thing: most of the shorter one's words recur."""
    wa, wb = content_words(a), content_words(b)
    small = min(len(wa), len(wb))
    return small >= 2 and len(wa & wb) / small >= _SIMILAR_AT


@dataclass(frozen=True, slots=True)
class PendingProposal:
    """An action the agent proposed and is waiting to hear yes to, with the tier of the turn behind it."""

    action: str | None
    tier: str | None
    tool: str | None = None
    args: tuple[tuple[str, str], ...] = ()


@dataclass
class DialogueState:
    """The call's state for routing, fed in call order: `agent_said()` for each agent message,
    `user_said()` for each caller turn with the tier that answered it; `context_for()` the next turn."""

    agent: str | None = None
    user_turns: list[str] = field(default_factory=list)
    user_tiers: list[str | None] = field(default_factory=list)
    last_agent: AgentCues = field(default_factory=AgentCues)
    pending: PendingProposal | None = None

    def agent_said(
        self, text: str, *, tool: str | None = None, args: Iterable[tuple[str, object]] = ()
    ) -> None:
        """An agent message the caller heard (`tool`/`args`: the last tool call of that answer, if any)."""
        if not text.strip():
            return
        cues = agent_cues(text)
        tier = self.user_tiers[-1] if self.user_tiers else None
        if cues.confirmation or cues.options:
            proposal = PendingProposal(
                action=cues.action,
                tier=tier,
                tool=tool,
                args=tuple((str(k), str(v)) for k, v in args),
            )
            previous = self.pending
            if previous is not None and _outranks(previous.tier, tier):
                # "Saturday at 10. Shall I book it?" after a plan: the plan's tier still stands behind it
                proposal = replace(proposal, tier=previous.tier)
            self.pending = proposal
        else:
            self.pending = None
        self.last_agent = cues

    def user_said(self, text: str, tier: str | None) -> None:
        """A caller turn and the tier that answered it (None when unknown)."""
        self.user_turns.append(text)
        self.user_tiers.append(tier if tier in TIERS else None)

    def retries_of(self, text: str) -> int:
        """How many earlier caller turns asked for the same thing as `text`."""
        return sum(same_request(text, earlier) for earlier in self.user_turns)

    def context_for(self, text: str) -> TurnContext:
        """The router's context for the caller turn `text`, given everything fed so far."""
        cues = self.last_agent
        first_turn = not self.user_turns
        pending = self.pending
        asked = cues.question and not cues.open_question and not first_turn
        return TurnContext(
            previous_tier=self.user_tiers[-1] if self.user_tiers else None,
            agent_asked_question=asked,
            pending_slot=cues.slot if asked else None,
            retries=self.retries_of(text),
            turn_index=len(self.user_turns),
            agent=self.agent,
            pending_confirmation=bool(pending and cues.confirmation),
            pending_action=pending.action if pending else None,
            pending_tool=pending.tool if pending else None,
            pending_args=pending.args if pending else (),
            proposing_tier=pending.tier if pending else None,
            listed_options=cues.options,
            proposal_steps=cues.plan_steps,
            agent_instructed=cues.instructed,
            agent_refused=cues.refused,
            agent_failed=cues.failed,
            agent_cut_off=cues.cut_off,
        )


def _outranks(a: str | None, b: str | None) -> bool:
    return a is not None and TIER_RANK.get(a, -1) > TIER_RANK.get(b or "", -1)


Classify = Callable[[str, TurnContext], str]


def context_from_history(
    history: Sequence[tuple[str, str]], text: str, *, agent: str | None, classify: Classify
) -> TurnContext:
    """The context of `text` after a written history of (role, text) pairs, role "agent" or "user".

    The tier of each earlier caller turn is not written down, so `classify` decides it as the router would
    have, in its own context: the same chain of decisions a live call makes.
    """
    state = DialogueState(agent=agent)
    for role, said in history:
        if role == "agent":
            state.agent_said(said)
        elif role == "user":
            state.user_said(said, classify(said, state.context_for(said)))
        else:
            raise ValueError(f"history role {role!r} is neither 'agent' nor 'user'")
    return state.context_for(text)
