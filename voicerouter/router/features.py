"""Turn features for the offline tier classifier: normalised tokens, hashed n-grams, cue counts, call context.

Pure and fast (tens of microseconds a turn): no I/O, no randomness, no global state; the same text and context
always give the same features, so a trained weights file means the same thing on every machine.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass

from voicerouter.events import TIERS
from voicerouter.router.lexicon import (
    ANAPHORA,
    AUX_WORDS,
    DATE_WORDS,
    FILLERS,
    FUNCTION_WORDS,
    INTENT_WORDS,
    LEAD_WORDS,
    MARKERS,
    NAME_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    REQUEST_OPENERS,
    SOCIAL,
    SUBJECT_PRONOUNS,
    WH_WORDS,
    normalize_tokens,
)

__all__ = ["Features", "TurnContext", "TurnCues", "extract_features", "normalize_tokens", "turn_cues"]

# Bump whenever a change below moves a feature's index or meaning: weights files record it and refuse to load
# against a different version, because a silently shifted feature space gives confident nonsense.
FEATURE_VERSION = 3
HASH_BITS = 15
HASH_DIM = 1 << HASH_BITS


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What the engine knows about the call when the caller's turn ends.

    `agent` is carried for diagnostics but is deliberately not a feature: a turn's tier should follow from
    what the caller says and where the conversation is, not from how many lines of each agent were labelled.
    `turn_index` is likewise informational; its correlation with tier in labelled data is an artefact.
    `previous_tier` is the tier that answered the previous caller turn; `agent_asked_question` means a
    specific question (an open "how can I help?" is not one); `retries` counts earlier caller turns asking
    for the same thing. A pending confirmation (the agent proposed `pending_action`, maybe a tool call with
    arguments, and waits for a yes) carries the tier of the turn that proposed it, as do `listed_options`;
    `proposal_steps` counts the actions and conditions of the proposal (a plan has several). The agent's
    last message may also have told the caller to try something, refused (no record, slot taken), failed
    (a system it could not reach), or been cut off by the caller.
    """

    previous_tier: str | None = None
    agent_asked_question: bool = False
    pending_slot: str | None = None
    retries: int = 0
    turn_index: int = 0
    agent: str | None = None
    pending_confirmation: bool = False
    pending_action: str | None = None
    pending_tool: str | None = None
    pending_args: tuple[tuple[str, str], ...] = ()
    proposing_tier: str | None = None
    listed_options: int = 0
    proposal_steps: int = 0
    agent_instructed: bool = False
    agent_refused: bool = False
    agent_failed: bool = False
    agent_cut_off: bool = False

    def __post_init__(self) -> None:
        for name in ("previous_tier", "proposing_tier"):
            value = getattr(self, name)
            if value is not None and value not in TIERS:
                raise ValueError(f"TurnContext.{name}: {value!r} is not one of {TIERS}")
        if self.retries < 0 or self.turn_index < 0 or self.listed_options < 0:
            raise ValueError("TurnContext: retries, turn_index and listed_options must be >= 0")


@dataclass(frozen=True, slots=True)
class Features:
    """A sparse feature vector: parallel tuples, indices may repeat (their values add up)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TurnCues:
    """Counted signals of one utterance, kept separately so a decision can be explained in words."""

    n_tokens: int
    n_number: int
    longest_number_run: int
    n_date: int
    n_name_like: int
    n_spelled_letters: int
    n_disfluent: int
    n_social: int
    n_content: int
    n_intents: int
    n_anaphora: int
    n_subjects: int
    n_requests: int
    late_request: bool
    story_then_request: bool
    lead_words: int
    wh_question: bool
    why_question: bool
    aux_question: bool
    marker_counts: dict[str, int]
    social_counts: dict[str, int]
    first_core: str = ""
    n_choice_words: int = 0
    n_persisting: int = 0


LENGTH_BUCKETS = (1, 2, 3, 6, 10, 16, 25)
# A request that opens this many tokens into a turn comes after a story, a context or another request.
LATE_REQUEST_AT = 8


def core_start(tokens: list[str]) -> int:
    """Index of the first token after the discourse openers ("okay so um", "oh sorry")."""
    return next((i for i, t in enumerate(tokens) if t not in LEAD_WORDS), len(tokens))


def _phrase_count(joined: str, phrases: tuple[str, ...]) -> int:
    return sum(joined.count(f" {p} ") for p in phrases)


def turn_cues(tokens: list[str], question_mark: bool = False) -> TurnCues:
    """Count the signals the classifier's dense features are built from."""
    joined = " " + " ".join(tokens) + " "
    n_number = run = longest = n_date = n_name = n_letters = n_fill = n_content = 0
    intents: set[str] = set()
    n_anaphora = 0
    for i, tok in enumerate(tokens):
        is_number = tok == "<num>" or tok in NUMBER_WORDS or tok in ORDINALS
        if tok == "oh" and (
            (i > 0 and tokens[i - 1] in NUMBER_WORDS)
            or (i + 1 < len(tokens) and tokens[i + 1] in NUMBER_WORDS)
        ):
            is_number = True
        if is_number:
            n_number += 1
            run += 1
            longest = max(longest, run)
        else:
            run = 0
        if tok in DATE_WORDS:
            n_date += 1
        if tok in INTENT_WORDS:
            intents.add(tok)
        if tok in ANAPHORA:
            n_anaphora += 1
        if tok in NAME_WORDS:
            n_name += 1
        if len(tok) == 1 and tok.isalpha() and tok not in ("i", "a"):
            n_letters += 1
        if tok in FILLERS and not is_number:
            n_fill += 1
        elif not is_number and tok not in FUNCTION_WORDS and tok not in DATE_WORDS:
            n_content += 1
    social_counts = {name: _phrase_count(joined, phrases) for name, phrases in SOCIAL.items()}
    n_social = sum(social_counts.values())
    start = core_start(tokens)
    first = tokens[start] if start < len(tokens) else next((t for t in tokens if t not in FILLERS), "")
    requests = [i for i, pair in enumerate(itertools.pairwise(tokens)) if " ".join(pair) in REQUEST_OPENERS]
    late = next((i for i in requests if i >= start + LATE_REQUEST_AT), None)
    subjects = [t in SUBJECT_PRONOUNS for t in tokens]
    return TurnCues(
        n_tokens=len(tokens),
        n_number=n_number,
        longest_number_run=longest,
        n_date=n_date,
        n_name_like=n_name,
        n_spelled_letters=n_letters,
        n_disfluent=n_fill,
        n_social=n_social,
        n_content=max(0, n_content - n_social),
        n_intents=len(intents),
        n_anaphora=n_anaphora,
        n_subjects=sum(subjects),
        n_requests=len(requests),
        late_request=late is not None,
        story_then_request=late is not None and sum(subjects[:late]) >= 2,
        lead_words=start,
        wh_question=first in WH_WORDS,
        why_question=first == "why" or " why " in joined or " how come " in joined,
        aux_question=first in AUX_WORDS or question_mark,
        marker_counts={name: _phrase_count(joined, phrases) for name, phrases in MARKERS.items()},
        social_counts=social_counts,
        first_core=next((t for t in tokens if t not in FILLERS and t not in ("so", "and", "um")), ""),
        n_choice_words=sum(t in _CHOICE_WORDS or t in ORDINALS for t in tokens),
        n_persisting=sum(t in _PERSISTING for t in tokens),
    )


REPLY_KINDS = ("affirm", "deny", "social", "other")
_AFFIRM = frozenset(
    "yes yeah yep yup yea sure okay ok alright right correct exactly absolutely definitely perfect great "
    "please go do book fine sounds lets let 's that".split()
)
_DENY = frozenset("no nope nah not actually wait hold hang instead rather".split())
_PERSISTING = frozenset("still already tried again never nothing same luck times anymore either".split())
_CHOICE_WORDS = frozenset(
    "one first second third last earlier later earliest latest other former latter that option both "
    "neither either morning afternoon".split()
)


def reply_kind(cues: TurnCues) -> str:
    """How a turn answers a proposal: a yes, a no (or a change of mind), purely social, or something else."""
    first = cues.first_core
    if first in _DENY:
        return "deny"
    if first in _AFFIRM:
        return "affirm"
    if cues.n_social and cues.n_content == 0 and cues.n_number == 0 and cues.n_date == 0:
        return "social"
    return "other"


def choice_like(cues: TurnCues) -> bool:
    """A turn that picks one of listed options: "the second one", "the earlier", "ten thirty"."""
    return cues.n_tokens <= 8 and (cues.n_choice_words > 0 or cues.n_number > 0 or cues.n_date > 0)


def _dense_features(cues: TurnCues, context: TurnContext) -> list[tuple[str, float]]:
    """Named features with reserved indices: the cues, the context and their interactions."""
    n = cues.n_tokens
    out: list[tuple[str, float]] = []
    bucket = next((i for i, top in enumerate(LENGTH_BUCKETS) if n <= top), len(LENGTH_BUCKETS))
    out.append((f"len_bucket={bucket}", 1.0))
    out.append(("log_len", math.log1p(n) / math.log(40.0)))
    if n == 0:
        out.append(("empty", 1.0))
        return out
    flags = {
        "wh_question": cues.wh_question,
        "why_question": cues.why_question,
        "aux_question": cues.aux_question,
        "has_number": cues.n_number > 0,
        "number_run>=3": cues.longest_number_run >= 3,
        "has_date": cues.n_date > 0,
        "has_name": cues.n_name_like > 0,
        "has_letter": cues.n_spelled_letters >= 1,
        "spelled": cues.n_spelled_letters >= 2,
        "disfluent": cues.n_disfluent > 0,
        "subjects>=2": cues.n_subjects >= 2,
        "subjects>=4": cues.n_subjects >= 4,
        "requests>=2": cues.n_requests >= 2,
        "late_request": cues.late_request,
        "story_then_request": cues.story_then_request,
        "lead_then_content": cues.lead_words > 0 and cues.n_content >= 2,
    }
    out.extend((name, 1.0) for name, on in flags.items() if on)
    out.append(("number_frac", cues.n_number / n))
    out.append(("social_frac", min(1.0, cues.n_social / n)))
    out.append(("content_frac", cues.n_content / n))
    for name, count in cues.marker_counts.items():
        if count:
            out.append((f"marker:{name}", math.log1p(count)))
    n_markers = sum(cues.marker_counts.values())
    out.append(("marker_total", math.log1p(n_markers)))
    out.append(("marker_density", min(1.0, 4.0 * n_markers / n)))
    if n >= 12 and n_markers == 0:
        out.append(("long_without_markers", 1.0))
    if cues.n_intents:
        out.append(("intents=1" if cues.n_intents == 1 else "intents>=2", 1.0))
    conditions = cues.marker_counts["conditional"] + cues.marker_counts["constraint"]
    if conditions and (cues.n_intents or cues.n_requests):
        out.append(("request&condition", 1.0))
    for name, count in cues.social_counts.items():
        if count:
            out.append((f"social:{name}", math.log1p(count)))
    only_social = cues.n_social > 0 and cues.n_content == 0 and cues.n_number == 0 and cues.n_date == 0
    value_like = (
        n <= 8
        and n_markers == 0
        and (
            cues.n_number > 0
            or cues.n_date > 0
            or cues.n_spelled_letters >= 2
            or cues.n_name_like > 0
            or (cues.n_content > 0 and cues.n_social == 0 and n <= 3)
        )
    )
    if only_social:
        out.append(("only_social", 1.0))
    if value_like:
        out.append(("value_like", 1.0))
    if n <= 3 and cues.n_social == 0 and cues.n_content > 0:
        out.append(("short_content_only", 1.0))
    question = cues.wh_question or cues.aux_question or cues.why_question
    if question and n <= 8 and cues.n_anaphora and not (cues.n_intents or cues.n_number or cues.n_date):
        out.append(("short_question_about_it", 1.0))

    # Context, and the interactions a linear model cannot form by itself.
    if context.previous_tier is not None:
        out.append((f"ctx:prev={context.previous_tier}", 1.0))
        if n <= 7 and not only_social:
            out.append((f"ctx:prev={context.previous_tier}&short_followup", 1.0))
        if value_like:
            out.append(("ctx:followup&value_like", 1.0))
    if context.agent_asked_question:
        out.append(("ctx:asked", 1.0))
        if only_social:
            out.append(("ctx:asked&only_social", 1.0))
        if value_like:
            out.append(("ctx:asked&value_like", 1.0))
    if context.pending_slot:
        out.append(("ctx:slot_pending", 1.0))
        if value_like:
            out.append(("ctx:slot_pending&value_like", 1.0))
    if context.retries:
        out.append((f"ctx:retries={min(context.retries, 2)}", 1.0))
        if not only_social:
            out.append(("ctx:retries&not_social", 1.0))
            if context.previous_tier is not None:
                out.append((f"ctx:retries&prev={context.previous_tier}", 1.0))
    reply = reply_kind(cues)
    proposer = context.proposing_tier
    if context.pending_confirmation:
        out.append(("ctx:confirm", 1.0))
        out.append((f"ctx:confirm&reply={reply}", 1.0))
        if proposer is not None:
            out.append((f"ctx:confirm&proposer={proposer}", 1.0))
            out.append((f"ctx:confirm&proposer={proposer}&reply={reply}", 1.0))
    if context.listed_options:
        out.append(("ctx:options", 1.0))
        choice = choice_like(cues)
        if choice:
            out.append(("ctx:options&choice", 1.0))
        out.append((f"ctx:options&reply={reply}", 1.0))
        if proposer is not None:
            out.append((f"ctx:options&proposer={proposer}", 1.0))
            if choice:
                out.append((f"ctx:options&proposer={proposer}&choice", 1.0))
    if context.previous_tier is not None and cues.n_anaphora and n <= 10 and not only_social:
        out.append((f"ctx:prev={context.previous_tier}&anaphora", 1.0))
    if context.pending_confirmation:
        steps = min(context.proposal_steps, 4)
        plan = "plan" if steps >= 3 else "simple"
        out.append((f"ctx:confirm&steps={steps}", 1.0))
        out.append((f"ctx:confirm&{plan}", 1.0))
        out.append((f"ctx:confirm&{plan}&reply={reply}", 1.0))
    persisting = cues.n_persisting > 0
    for name, on in (
        ("instructed", context.agent_instructed),
        ("refused", context.agent_refused),
        ("failed", context.agent_failed),
        ("cut_off", context.agent_cut_off),
    ):
        if not on:
            continue
        out.append((f"ctx:{name}", 1.0))
        out.append((f"ctx:{name}&reply={reply}", 1.0))
        if persisting:
            out.append((f"ctx:{name}&persisting", 1.0))
    return out


DENSE_NAMES: tuple[str, ...] = (
    *(f"len_bucket={i}" for i in range(len(LENGTH_BUCKETS) + 1)),
    "log_len",
    "empty",
    "wh_question",
    "why_question",
    "aux_question",
    "has_number",
    "number_run>=3",
    "has_date",
    "has_name",
    "has_letter",
    "spelled",
    "disfluent",
    "subjects>=2",
    "subjects>=4",
    "requests>=2",
    "late_request",
    "story_then_request",
    "lead_then_content",
    "number_frac",
    "social_frac",
    "content_frac",
    *(f"marker:{name}" for name in MARKERS),
    "marker_total",
    "marker_density",
    "long_without_markers",
    "intents=1",
    "intents>=2",
    "request&condition",
    *(f"social:{name}" for name in SOCIAL),
    "only_social",
    "value_like",
    "short_content_only",
    "short_question_about_it",
    *(f"ctx:prev={t}" for t in TIERS),
    *(f"ctx:prev={t}&short_followup" for t in TIERS),
    "ctx:followup&value_like",
    "ctx:asked",
    "ctx:asked&only_social",
    "ctx:asked&value_like",
    "ctx:slot_pending",
    "ctx:slot_pending&value_like",
    "ctx:retries=1",
    "ctx:retries=2",
    "ctx:retries&not_social",
    *(f"ctx:retries&prev={t}" for t in TIERS),
    "ctx:confirm",
    *(f"ctx:confirm&reply={r}" for r in REPLY_KINDS),
    *(f"ctx:confirm&proposer={t}" for t in TIERS),
    *(f"ctx:confirm&proposer={t}&reply={r}" for t in TIERS for r in REPLY_KINDS),
    "ctx:options",
    "ctx:options&choice",
    *(f"ctx:options&reply={r}" for r in REPLY_KINDS),
    *(f"ctx:options&proposer={t}" for t in TIERS),
    *(f"ctx:options&proposer={t}&choice" for t in TIERS),
    *(f"ctx:prev={t}&anaphora" for t in TIERS),
    *(f"ctx:confirm&steps={i}" for i in range(5)),
    *(f"ctx:confirm&{p}" for p in ("plan", "simple")),
    *(f"ctx:confirm&{p}&reply={r}" for p in ("plan", "simple") for r in REPLY_KINDS),
    *(
        f"ctx:{name}{suffix}"
        for name in ("instructed", "refused", "failed", "cut_off")
        for suffix in ("", *(f"&reply={r}" for r in REPLY_KINDS), "&persisting")
    ),
)
DENSE_INDEX: dict[str, int] = {name: i for i, name in enumerate(DENSE_NAMES)}
N_DENSE = len(DENSE_NAMES)
DIMENSION = N_DENSE + HASH_DIM

# Each hashed group is scaled to this L2 norm, so a long turn does not win on its sheer count of n-grams;
# shapes and character n-grams overlap the words, so they count for a little less.
_WORD_GROUP_WEIGHT = 1.0
_SHAPE_GROUP_WEIGHT = 0.7
_CHAR_GROUP_WEIGHT = 0.7


def _shape(tok: str) -> str:
    if tok == "<num>" or tok in NUMBER_WORDS or tok in ORDINALS:
        return "N"
    if tok in DATE_WORDS:
        return "D"
    if len(tok) == 1 and tok not in ("i", "a"):
        return "L"
    if tok in FILLERS:
        return "F"
    if tok in FUNCTION_WORDS:
        return "f"
    return "W"


def _hash(name: str) -> int:
    return N_DENSE + (zlib.crc32(name.encode("utf-8")) & (HASH_DIM - 1))


def extract_features(text: str, context: TurnContext | None = None) -> Features:
    """The sparse feature vector of one caller turn in its call context."""
    tokens = normalize_tokens(text)
    cues = turn_cues(tokens, question_mark="?" in text)
    names: list[str] = []
    values: list[float] = []
    indices: list[int] = []
    for name, value in _dense_features(cues, context or TurnContext()):
        names.append(name)
        values.append(value)
        indices.append(DENSE_INDEX[name] if name in DENSE_INDEX else _hash(name))

    padded = ["<s>", *tokens, "</s>"]
    groups: tuple[tuple[list[str], float], ...] = (
        ([f"w:{t}" for t in tokens], _WORD_GROUP_WEIGHT),
        ([f"b:{a}_{b}" for a, b in itertools.pairwise(padded)], _WORD_GROUP_WEIGHT),
        (_shape_ngrams(tokens), _SHAPE_GROUP_WEIGHT),
        (_char_ngrams(tokens), _CHAR_GROUP_WEIGHT),
    )
    first = next((t for t in tokens if t not in FILLERS), None)
    if first is not None:
        names.append(f"first:{first}")
        values.append(1.0)
        indices.append(_hash(names[-1]))
    start = core_start(tokens)
    if 0 < start < len(tokens):  # "okay, and where are you": the where-question behind the openers
        names.append(f"core:{tokens[start]}")
        values.append(1.0)
        indices.append(_hash(names[-1]))
    if context is not None and context.pending_slot:
        names.append(f"ctx:slot={context.pending_slot}")
        values.append(1.0)
        indices.append(_hash(names[-1]))
    if context is not None and (context.pending_confirmation or context.listed_options) and first is not None:
        names.append(f"ctx:proposal&first={first}")
        values.append(1.0)
        indices.append(_hash(names[-1]))
    for group, weight in groups:
        if not group:
            continue
        value = weight / math.sqrt(len(group))
        for name in group:
            names.append(name)
            values.append(value)
            indices.append(_hash(name))
    return Features(indices=tuple(indices), values=tuple(values), names=tuple(names))


def _shape_ngrams(tokens: list[str]) -> list[str]:
    shapes = ["^", *(_shape(t) for t in tokens), "$"]
    grams = [f"s:{a}{b}" for a, b in itertools.pairwise(shapes)]
    grams += [f"s:{a}{b}{c}" for a, b, c in zip(shapes, shapes[1:], shapes[2:], strict=False)]
    return grams


def _char_ngrams(tokens: list[str]) -> list[str]:
    grams: list[str] = []
    for tok in tokens:
        if len(tok) < 3 or tok == "<num>":
            continue
        padded = f"<{tok}>"
        for n in (3, 4):
            grams.extend(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return grams
