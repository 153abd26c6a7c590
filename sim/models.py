"""Simulated models: the offline agent model writes the content, each model's behaviour profile shapes it.

A profile sets first-token latency (log-normal through p50/p95), speed, failures, and the mistakes that
model makes on each tier, so a small model on a reasoning turn errs the way small models do. Pure and
seeded: the same request, profile and random state always give the same timeline.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field

from sim.faults import ProviderFault
from voicerouter.agent import AgentSpec
from voicerouter.config import BehaviourProfile, ModelEntry
from voicerouter.engine import io
from voicerouter.events import TIERS
from voicerouter.providers.base import ChatRequest, ProviderError, ToolCall, Usage
from voicerouter.providers.offline.model import OfflineAgentModel, estimate_usage

Z95 = 1.6448536269514722
WORDS_PER_TOKEN = 0.75
WORDS_PER_CHUNK = 4  # the first word alone (the first token), then a chunk every four words
MISSED_CALL_TEXT = "Okay, that's all taken care of for you."
NEEDLESS_REFUSAL_TEXT = "I'm sorry, I couldn't find that record in our system."
INVENTED_RECORD_TEXT = (
    "I found it: you're all set for Thursday at ten in the morning, confirmation number 5512."
)


@dataclass
class Timeline:
    """What a model does after a request, as (ms after the request, input for the engine) pairs."""

    steps: list[tuple[float, io.Input]] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # the injected faults that acted on this request


def sample_lognormal_ms(rng: random.Random, p50: float, p95: float) -> float:
    sigma = max(1e-6, math.log(p95 / p50) / Z95)
    return p50 * math.exp(rng.gauss(0.0, sigma))


def _last_tool_outcome(request: ChatRequest) -> str | None:
    """'found', 'not_found' or 'failed' for a request that follows tool results; None otherwise."""
    if not request.messages or request.messages[-1].role != "tool":
        return None
    content = request.messages[-1].content
    if content.startswith("ERROR: not found"):
        return "not_found"
    if content.startswith("ERROR"):
        return "failed"
    return "found"


_DIGITS = re.compile(r"\d")


def perturb_args(args: dict[str, object], rng: random.Random) -> dict[str, object]:
    """One plausible wrong argument: a date or time off by one, a digit slipped, a name misspelt."""
    if not args:
        return {"_unexpected": "value"}
    keys = sorted(args)
    key = keys[rng.randrange(len(keys))]
    value = args[key]
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = int(text[-2:])
        new = f"{text[:-2]}{(day % 28) + 1:02d}"
    elif re.fullmatch(r"\d{1,2}:\d{2}", text):
        hour, minute = text.split(":")
        new = f"{(int(hour) % 12) + 1:02d}:{minute}"
    elif _DIGITS.search(text):
        positions = [i for i, ch in enumerate(text) if ch.isdigit()]
        i = positions[rng.randrange(len(positions))]
        new = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
    elif len(text) > 3:
        i = rng.randrange(1, len(text) - 1)
        new = text[:i] + text[i + 1 :]
    else:
        new = text + "x"
    return {**args, key: new}


# Prompt caching as the vendors bill it: a prefix must be this long to be cached at all.
MIN_CACHED_PREFIX_TOKENS = 1024
# Realtime audio: about 10 input tokens a second of caller speech, 20 a second of model speech (50 ms each),
# and a voice speaks about 15 characters a second.
AUDIO_IN_TOKENS_PER_S = 10.0
AUDIO_OUT_TOKENS_PER_S = 20.0
SPOKEN_CHARS_PER_S = 15.0


@dataclass
class PromptCache:
    """One call's prompt cache per model: the first request writes the prefix, later ones read it.

    Requests of a call grow by appending, so the previous request's prompt is the cached prefix of the next
    (Anthropic: the breakpoints the adapter marks; OpenAI: automatic). Realtime conversations also hold
    the call's audio, which is billed at audio rates and cached the same way."""

    prompt_tokens: dict[str, int] = field(default_factory=dict)
    audio_tokens: dict[str, int] = field(default_factory=dict)

    def bill(self, model: str, entry: ModelEntry, usage: Usage, *, heard: str, spoken: str) -> Usage:
        """`usage` as the vendor would report it for this call's next request to `model`."""
        audio_in = audio_cached = audio_out = 0
        if entry.provider == "openai_realtime":
            audio_cached = self.audio_tokens.get(model, 0)
            audio_in = audio_cached + math.ceil(len(heard) / SPOKEN_CHARS_PER_S * AUDIO_IN_TOKENS_PER_S)
            audio_out = math.ceil(len(spoken) / SPOKEN_CHARS_PER_S * AUDIO_OUT_TOKENS_PER_S)
            self.audio_tokens[model] = audio_in + audio_out
        tokens_in = usage.input_tokens + audio_in
        previous = self.prompt_tokens.get(model, 0)
        cached = min(previous, tokens_in) if previous >= MIN_CACHED_PREFIX_TOKENS else 0
        written = (
            tokens_in - cached
            if entry.provider == "anthropic" and tokens_in >= MIN_CACHED_PREFIX_TOKENS
            else 0
        )
        self.prompt_tokens[model] = tokens_in
        return Usage(
            input_tokens=tokens_in,
            output_tokens=usage.output_tokens + audio_out,
            cached_input_tokens=cached,
            cache_write_input_tokens=written,
            audio_input_tokens=audio_in,
            cached_audio_input_tokens=min(audio_cached, cached),
            audio_output_tokens=audio_out,
        )


class ModelSimulator:
    """Turns one StartGeneration into the timeline a model with this profile would produce."""

    def __init__(
        self, agent: AgentSpec, rng: random.Random, *, offline: OfflineAgentModel | None = None
    ) -> None:
        self.offline = offline or OfflineAgentModel(agent)  # stateless, so calls of one agent may share it
        self.rng = rng
        self.cache = PromptCache()  # one simulator per call

    def plan(
        self,
        action: io.StartGeneration,
        entry: ModelEntry,
        *,
        user_turn: int,
        faults: list[ProviderFault],
        turn_tier: str | None = None,
    ) -> Timeline:
        """`turn_tier` is what the turn really is (its label) when known: a hard turn stays hard for a
        small model even when the router mistook it for an easy one."""
        profile = entry.profile
        timeline = Timeline()
        gen_id = action.gen_id
        first_ms = sample_lognormal_ms(self.rng, profile.first_token_ms.p50, profile.first_token_ms.p95)

        stall_midway = False
        for fault in faults:
            if not fault.matches(action.model, user_turn) or self.rng.random() >= fault.probability:
                continue
            timeline.faults.append(f"provider {action.model} {fault.kind}")
            if fault.kind == "rate_limited":
                error = ProviderError(
                    "rate_limited", "429 Too Many Requests", retry_after_s=fault.retry_after_s
                )
                timeline.steps.append((min(first_ms, 150.0), io.ModelFailed(gen_id=gen_id, error=error)))
                return timeline
            if fault.kind == "server_error":
                error = ProviderError("server_error", "500 Internal Server Error")
                timeline.steps.append((min(first_ms, 200.0), io.ModelFailed(gen_id=gen_id, error=error)))
                return timeline
            if fault.kind == "stall_before_first_token":
                return timeline  # the stream never answers: the engine's first-token budget must act
            if fault.kind == "slow_first_token":
                first_ms += fault.extra_ms
            if fault.kind == "stall_midway":
                stall_midway = True

        if profile.failure_rate and self.rng.random() < profile.failure_rate:
            error = ProviderError("server_error", "simulated provider failure")
            timeline.steps.append((first_ms, io.ModelFailed(gen_id=gen_id, error=error)))
            return timeline

        if action.purpose == "classify":
            return self._classify(action, profile, first_ms, turn_tier, timeline)

        completion = self.offline.complete(action.request)
        text, calls = completion.text, list(completion.tool_calls)
        rates = profile.errors.get(turn_tier or action.tier)
        if rates is not None:
            outcome = _last_tool_outcome(action.request)
            if calls and self.rng.random() < rates.missed_tool_call:
                calls, text = [], MISSED_CALL_TEXT
                timeline.mistakes.append("missed_tool_call")
            elif calls and self.rng.random() < rates.wrong_tool_arg:
                i = self.rng.randrange(len(calls))
                bad = calls[i]
                calls[i] = ToolCall(id=bad.id, name=bad.name, args=perturb_args(dict(bad.args), self.rng))
                timeline.mistakes.append("wrong_tool_arg")
            elif outcome == "not_found" and not calls and self.rng.random() < rates.invented_record:
                text = INVENTED_RECORD_TEXT
                timeline.mistakes.append("invented_record")
            elif outcome == "found" and not calls and self.rng.random() < rates.needless_refusal:
                text = NEEDLESS_REFUSAL_TEXT
                timeline.mistakes.append("needless_refusal")

        ms_per_token = 1000.0 / profile.tokens_per_s
        t = first_ms
        words = text.split(" ") if text else []
        cut = len(words) // 2 if stall_midway else None
        pending = ""  # words stream in chunks of a few, as provider streams deliver them
        for i, word in enumerate(words):
            if cut is not None and i == max(1, cut):
                return timeline  # the stream stops mid-answer: the engine's idle budget must act
            pending += word if i == 0 else " " + word
            if i % WORDS_PER_CHUNK == 0 or i == len(words) - 1:
                timeline.steps.append((t, io.ModelDelta(gen_id=gen_id, text=pending)))
                pending = ""
            t += ms_per_token / WORDS_PER_TOKEN
        for call in calls:
            # the call starts streaming at once (adapters report it), complete once its args are written
            timeline.steps.append((t, io.ModelProgress(gen_id=gen_id)))
            args_tokens = len(json.dumps(call.args)) / 4
            t += ms_per_token * (8 + args_tokens)
            timeline.steps.append((t, io.ModelToolCall(gen_id=gen_id, call=call)))
        last = action.request.messages[-1] if action.request.messages else None
        heard = (
            last.content if last is not None and last.role == "user" else ""
        )  # a tool step hears nothing new
        usage = self.cache.bill(action.model, entry, completion.usage, heard=heard, spoken=text)
        timeline.steps.append((t + 1.0, io.ModelDone(gen_id=gen_id, usage=usage)))
        return timeline

    def _classify(
        self,
        action: io.StartGeneration,
        profile: BehaviourProfile,
        first_ms: float,
        turn_tier: str | None,
        timeline: Timeline,
    ) -> Timeline:
        """The small model labels a low-confidence turn (escalation = "ask_small_model"): it names the
        turn's real tier (its label, else the router's guess) unless it errs at its `misclassify` rate
        for that tier; it reads the whole classify prompt and pays for it."""
        truth = turn_tier or action.tier
        rates = profile.errors.get(truth)
        answer = truth
        if rates is not None and rates.misclassify and self.rng.random() < rates.misclassify:
            others = [tier for tier in TIERS if tier != truth]
            answer = others[self.rng.randrange(len(others))]
            timeline.mistakes.append("misclassified")
        usage = estimate_usage(action.request, answer, ())
        timeline.steps.append((first_ms, io.ModelDelta(gen_id=action.gen_id, text=answer)))
        t = first_ms + 1000.0 / profile.tokens_per_s
        timeline.steps.append((t, io.ModelDone(gen_id=action.gen_id, usage=usage)))
        return timeline
