"""The per-call engine: turns caller inputs and model/tool results into actions and recorded events.

Sans-I/O in the manner of the `websockets` protocol objects: feed it with `receive()`, call `check_timers()`
when `next_deadline_ms()` is reached, drain `actions_to_send()` and `events_emitted()`. It never awaits,
never performs I/O and reads time only from the `Clock` it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from voicerouter import events as ev
from voicerouter.agent import AgentSpec
from voicerouter.clock import Clock
from voicerouter.config import VoicerouterConfig
from voicerouter.engine import io
from voicerouter.engine.acknowledge import Acknowledger
from voicerouter.engine.history import ConversationHistory
from voicerouter.engine.preempt import Speculation, same_words
from voicerouter.engine.silence import REPROMPT as STILL_THERE
from voicerouter.engine.silence import SILENT_GOODBYE, SilenceWatch
from voicerouter.engine.states import Trigger, TurnState, is_active, transition
from voicerouter.engine.turn import PendingTool, Turn
from voicerouter.events import Tier
from voicerouter.lexicon.continuation import after_echo, echo_of, join
from voicerouter.providers.base import ChatMessage, ChatRequest, ProviderError, ToolCall, Usage
from voicerouter.router.cost import estimate_tokens, spoken_ms, stt_cost_usd, tts_cost_usd, usage_cost_usd
from voicerouter.router.dialogue import DialogueState
from voicerouter.router.features import TurnContext
from voicerouter.router.policy import RouteDecision, Router
from voicerouter.router.verify import classify_request, parse_tier
from voicerouter.toolkit import ToolOutcome, ToolRegistry

APOLOGY = "I'm sorry, I'm having trouble answering right now. Could you say that again in a moment?"
REPROMPT = "Sorry, could you say that again?"
TOO_MANY_STEPS = "I'm sorry, that is taking longer than it should. Could you tell me again what you need?"


class CallEngine:
    """One call's conversation as a sans-I/O state machine: inputs in, actions and events out.

    Its turn, history and tools are its own (private): a runtime learns what it needs from the actions.
    `instant_playback` is for text calls, where an answer counts as heard once it is complete."""

    def __init__(
        self,
        *,
        call_id: str,
        agent: AgentSpec,
        config: VoicerouterConfig,
        router: Router,
        tools: ToolRegistry,
        clock: Clock,
        transport: str = "text",
        caller: str = "",
        instant_playback: bool = True,
        greet: bool = True,
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self.config = config
        self.router = router
        self._tools = tools
        self.clock = clock
        self.transport = transport
        self.caller = caller
        self.instant_playback = instant_playback
        self.greet = greet
        self._history = ConversationHistory(
            max_messages=config.context.max_messages,
            keep_first_user_turns=config.context.keep_first_user_turns,
        )
        self._turn: Turn | None = None
        self.turns_started = 0
        self.call_cost_usd = 0.0
        self.call_stt_cost_usd = 0.0
        self.call_tts_cost_usd = 0.0
        self._audio_ms = 0.0
        self.previous_tier: Tier | None = None
        self._dialogue = DialogueState(agent=agent.name)
        self.ended = False
        self._start_ms = clock.now_ms()
        self._gen_seq = 0
        self._actions: list[io.Action] = []
        self._events: list[ev.Event] = []
        self._tool_specs = tools.specs()
        routing = config.routing
        self._silence = SilenceWatch(  # text calls wait for typing: only voice calls re-prompt
            after_ms=0 if instant_playback else routing.silence_reprompt_ms,
            reprompts=routing.silence_reprompts,
        )
        self._speculation: Speculation | None = None
        self.wasted_tokens = 0  # preemptive requests cancelled: tokens in and out
        self.wasted_cost_usd = 0.0
        self._acknowledger = Acknowledger(
            agent.acknowledgements, voice_budget_ms=config.routing.voice_budget_ms
        )

    # ---- public surface ----

    def start(self) -> None:
        """Open the call (and greet); then drain actions_to_send() and events_emitted()."""
        self._emit(ev.CallStarted, agent=self.agent.name, transport=self.transport, caller=self.caller)
        if self.greet and self.agent.greeting:
            self._say_between_turns(self.agent.greeting)

    def _say_between_turns(self, text: str) -> None:
        """Speech outside any turn (the greeting, a re-prompt, the goodbye to a silent caller): turn 0."""
        self._emit(ev.AgentText, turn_id=0, text=text, final=True)
        self._actions.append(io.Speak(turn_id=0, text=text))
        self._actions.append(io.FinishSpeaking(turn_id=0, text=text))
        self._history.append(ChatMessage(role="assistant", content=text))
        self._dialogue.agent_said(text)

    def receive(self, item: io.Input) -> None:
        """Feed one input; then drain actions_to_send() and events_emitted(), and re-arm your timer from
        next_deadline_ms(). Inputs after the call ended are ignored."""
        if self.ended:
            return
        handler = self._handlers.get(type(item))
        if handler is None:
            raise TypeError(f"CallEngine cannot receive {type(item).__name__}")
        spec = self._speculation
        if spec is not None and getattr(item, "gen_id", None) == spec.gen_id:
            spec.hold(item)  # a preemptive answer waits for its turn to be confirmed
            return
        handler(self, item)

    def record(self, cls: type[ev._Event], **fields: object) -> None:
        """Stamp and emit an event observed outside the engine (e.g. agent audio started by a transport),
        so every event of the call shares one timeline and one stream; then drain events_emitted()."""
        self._emit(cls, **fields)

    def actions_to_send(self) -> list[io.Action]:
        """What the runtime must do now, in order (each at most once); carry them out, feeding the answers
        back with receive()."""
        actions, self._actions = self._actions, []
        return actions

    def events_emitted(self) -> list[ev.Event]:
        """The events since the last call, in order, to record and show; they ask for nothing to be done."""
        events, self._events = self._events, []
        return events

    def next_deadline_ms(self) -> float | None:
        """When on the engine's clock to call check_timers() next; None when nothing can time out."""
        turn = self._turn
        if turn is None or not is_active(turn.state) or turn.state is TurnState.SPEAKING:
            return self._silence.deadline_ms  # a finished answer being played has nothing left to time out
        candidates = [turn.deadline_ms]
        if turn.first_token_deadline_ms is not None:
            candidates.append(turn.first_token_deadline_ms)
        if turn.idle_deadline_ms is not None:
            candidates.append(turn.idle_deadline_ms)
        candidates.extend(p.deadline_ms for p in turn.tools.values())
        return min(candidates)

    def check_timers(self) -> None:
        """Act on the budgets that ran out (stalls, tool timeouts, the turn budget); then drain
        actions_to_send() and events_emitted(), and ask next_deadline_ms() again."""
        turn = self._turn
        if self.ended:
            return
        if turn is None or not is_active(turn.state):
            self._check_silence()
            return
        if turn.state is TurnState.SPEAKING:
            return
        now = self.clock.now_ms()
        budget = self._first_token_budget(turn)
        if now >= turn.deadline_ms:
            self._give_up(turn, f"turn exceeded {self.config.routing.turn_budget_ms} ms")
            return
        if turn.first_token_deadline_ms is not None and now >= turn.first_token_deadline_ms:
            self._generation_failed(
                turn, ProviderError("stalled", f"no first token within {budget} ms"), cancel=True
            )
            return
        if turn.idle_deadline_ms is not None and now >= turn.idle_deadline_ms:
            self._generation_failed(
                turn, ProviderError("stalled", f"stream stalled for {budget} ms mid-answer"), cancel=True
            )
            return
        for key, pending in list(turn.tools.items()):
            if now >= pending.deadline_ms:
                self._actions.append(io.CancelTool(call_key=key))
                waited = round(pending.deadline_ms - pending.started_ms)
                self._tool_done(
                    turn,
                    key,
                    ToolOutcome(ok=False, error=f"timed out after {waited} ms", timed_out=True),
                )
                if turn.state is not TurnState.TOOL_WAIT:
                    return

    def _check_silence(self) -> None:
        step = self._silence.due(self.clock.now_ms())
        if step == "reprompt":
            self._say_between_turns(STILL_THERE)
        elif step == "hang_up":
            self._say_between_turns(SILENT_GOODBYE)

    def end(self, reason: str = "hangup") -> None:
        """End the call (idempotent), interrupting an open turn; then drain both queues a last time."""
        if self.ended:
            return
        turn = self._turn
        if turn is not None and is_active(turn.state):
            self._interrupt(turn)
        if self._speculation is not None:
            self._discard(self._speculation, "the call ended")
        self._emit(
            ev.CallEnded,
            reason=reason,
            turns=self.turns_started,
            cost_usd=round(self.call_cost_usd, 8),
            stt_cost_usd=round(self.call_stt_cost_usd, 8),
            tts_cost_usd=round(self.call_tts_cost_usd, 8),
        )
        self.ended = True

    # ---- caller inputs ----

    def _on_speech_started(self, item: io.SpeechStarted) -> None:
        self._silence.caller_spoke()
        self._emit(ev.UserSpeechStarted)
        if self._speculation is not None:
            self._discard(self._speculation, "the caller went on speaking")
        if self._turn is not None and is_active(self._turn.state):
            self._interrupt(self._turn)

    def _on_speech_stopped(self, item: io.SpeechStopped) -> None:
        self._emit(ev.UserSpeechStopped)

    def _on_transcript(self, item: io.Transcript) -> None:
        text = item.text.strip()
        self._emit(ev.UserTranscript, text=text, final=item.final, confidence=item.confidence)
        if item.final and not text and (self._turn is None or not is_active(self._turn.state)):
            self._silence.agent_finished(self.clock.now_ms())  # only noise: the caller is still silent
        if not item.final:
            if text:
                self._preempt(text)
            return
        spec, self._speculation = self._speculation, None
        if spec is not None and not same_words(spec.text, text):
            self._discard(spec, "the final words differ")
            spec = None
        if not (text or item.unrecognised):
            return
        self._silence.caller_spoke()
        if self._turn is not None and is_active(self._turn.state):
            self._interrupt(self._turn)
        self._audio_ms = item.audio_ms
        if text:
            self._start_turn(text, spec)
        else:
            if spec is not None:
                self._discard(spec, "nothing was recognised")
            self._reprompt()

    def _reprompt(self) -> None:
        """The caller said something nobody could recognise: a short turn asks again (never silence).

        No model is asked (there is no user text to answer); the history keeps the re-prompt as heard."""
        self.turns_started += 1
        now = self.clock.now_ms()
        turn = Turn(turn_id=self.turns_started, text="", started_ms=now, deadline_ms=now)
        self._turn = turn
        self._emit(ev.TurnStarted, turn_id=turn.turn_id, text="")
        self._actions.append(io.OpenTurn(turn_id=turn.turn_id, user_text="", history=self._history.messages))
        turn.history_start = len(self._history)
        turn.unspoken = REPROMPT
        turn.state = transition(turn.state, Trigger.GIVE_UP)
        self._speak(turn, turn.take_sentences(flush=True))
        self._finish_answer(turn)

    def _on_playback_progress(self, item: io.PlaybackProgress) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == item.turn_id:
            turn.heard_chars = max(turn.heard_chars, min(item.heard_chars, len(turn.spoken)))

    def _on_playback_finished(self, item: io.PlaybackFinished) -> None:
        if item.turn_id == 0:  # speech between turns has been heard
            if self._silence.closing:
                self.end("caller silent")
            elif self._turn is None or not is_active(self._turn.state):
                self._silence.agent_finished(self.clock.now_ms())
            return
        turn = self._turn
        if turn is None or turn.turn_id != item.turn_id:
            return
        turn.heard_chars = len(turn.spoken)
        if turn.state is TurnState.SPEAKING:
            self._complete(turn)

    def _on_hangup(self, item: io.HangUp) -> None:
        self.end(item.reason)

    # ---- model and tool results ----

    def _current(self, gen_id: int) -> Turn | None:
        turn = self._turn
        if turn is None or turn.gen_id != gen_id or not is_active(turn.state):
            return None  # a late answer to a cancelled request
        return turn

    def _first_output(self, turn: Turn) -> None:
        if not turn.gen_has_output:
            turn.gen_has_output = True
            turn.first_token_deadline_ms = None
            if turn.state is not TurnState.ROUTING:
                turn.state = transition(turn.state, Trigger.OUTPUT)
        turn.idle_deadline_ms = self.clock.now_ms() + self._first_token_budget(turn)

    def _on_model_delta(self, item: io.ModelDelta) -> None:
        turn = self._current(item.gen_id)
        if turn is None or not item.text:
            return
        self._first_output(turn)
        turn.step_text += item.text
        if turn.state is TurnState.ROUTING:
            return  # the small model's label, not words for the caller
        if turn.first_token_ms is None:
            turn.first_token_ms = round(self.clock.now_ms() - turn.started_ms)
            self._emit(
                ev.LlmFirstToken, turn_id=turn.turn_id, model=turn.model or "", ttft_ms=turn.first_token_ms
            )
        text = item.text
        if turn.echo_check is not None:  # a fallback continuing a cut-off answer: never say it twice
            verdict = echo_of(turn.echo_check, turn.step_text)
            if verdict == "maybe":
                return
            text = after_echo(turn.echo_check, turn.step_text) if verdict == "echo" else turn.step_text
            turn.echo_check = None
            turn.join_next = True
        if not text:
            return
        if turn.join_next:
            text = join(turn.spoken + turn.unspoken, text)
            turn.join_next = False
        turn.unspoken += text
        self._speak(turn, turn.take_sentences())

    def _on_model_progress(self, item: io.ModelProgress) -> None:
        turn = self._current(item.gen_id)
        if turn is not None:
            self._first_output(turn)
            self._acknowledge_tool_start(turn)

    def _on_model_tool_call(self, item: io.ModelToolCall) -> None:
        turn = self._current(item.gen_id)
        if turn is None:
            return
        self._first_output(turn)
        self._acknowledge_tool_start(turn)
        turn.step_tool_calls.append(item.call)

    def _on_model_done(self, item: io.ModelDone) -> None:
        turn = self._current(item.gen_id)
        if turn is None:
            return
        now = self.clock.now_ms()
        assert turn.model is not None
        self.router.health.record_success(turn.model, now)
        self._account(turn, turn.model, item.usage)
        turn.gen_id = None
        turn.first_token_deadline_ms = turn.idle_deadline_ms = None
        turn.echo_check = None  # a continuation that only repeated what was heard adds nothing
        if turn.state is TurnState.ROUTING:
            self._classified(turn, turn.step_text, Trigger.CLASSIFIED)
            return
        if not turn.gen_has_output:
            turn.state = transition(turn.state, Trigger.ANSWERED)
            self._finish_answer(turn)
            return
        self._speak(turn, turn.take_sentences(flush=True))
        if turn.step_tool_calls:
            self._run_tools(turn)
        else:
            turn.state = transition(turn.state, Trigger.ANSWERED)
            self._finish_answer(turn)

    def _on_model_failed(self, item: io.ModelFailed) -> None:
        turn = self._current(item.gen_id)
        if turn is not None:
            self._generation_failed(turn, item.error, cancel=False)

    def _on_tool_finished(self, item: io.ToolFinished) -> None:
        turn = self._turn
        if turn is None or item.call_key not in turn.tools or turn.state is not TurnState.TOOL_WAIT:
            return  # the tool was cancelled or timed out already
        self._tool_done(turn, item.call_key, item.outcome)

    # ---- turn lifecycle ----

    def _start_turn(self, text: str, spec: Speculation | None = None) -> None:
        now = self.clock.now_ms()
        self.turns_started += 1
        turn = Turn(
            turn_id=self.turns_started,
            text=text,
            started_ms=now,
            deadline_ms=now + self.config.routing.turn_budget_ms,
        )
        self._turn = turn
        if self._voice:
            turn.stt_cost_usd = stt_cost_usd(
                self.config.speech_costs, audio_ms=self._audio_ms or spoken_ms(text)
            )
        self._emit(ev.TurnStarted, turn_id=turn.turn_id, text=text)
        before = self._history.messages
        self._actions.append(io.OpenTurn(turn_id=turn.turn_id, user_text=text, history=before))
        self._history.append(ChatMessage(role="user", content=text))
        turn.history_start = len(self._history)
        if spec is not None:
            if spec.asked_with(self._history.for_model()):
                self._adopt(turn, spec)
                return
            self._discard(spec, "the conversation changed")
        decision = self.router.decide(
            text,
            self._turn_context(text),
            now_ms=now,
            call_cost_usd=self.call_cost_usd,
            prompt_chars=self._prompt_chars(),
        )
        if decision.verify_with_small_model:
            model, _ = self.router.first_usable(tuple(self.config.routing.triage), now_ms=now, tried=())
            if model is not None:
                turn.decision = decision
                turn.state = transition(turn.state, Trigger.VERIFY_TIER)
                request = classify_request(text, self.config.models[model].model, turn_id=turn.turn_id)
                self._start_generation(turn, model, request)
                return
        self._route(turn, decision)

    # ---- preemptive generation ----

    def _preempt(self, text: str) -> None:
        """Route and start the model on the words heard at a pause (see engine/preempt.py)."""
        spec = self._speculation
        if spec is not None:
            if same_words(spec.text, text):
                return
            self._discard(spec, "newer words")
        turn = self._turn
        if not self.config.routing.preemptive_generation or (turn is not None and is_active(turn.state)):
            return
        now = self.clock.now_ms()
        turn_id = self.turns_started + 1
        decision = self.router.decide(
            text,
            self._turn_context(text),
            now_ms=now,
            call_cost_usd=self.call_cost_usd,
            prompt_chars=self._prompt_chars() + len(text),
        )
        if decision.verify_with_small_model or decision.model is None or decision.tier == "speech":
            return  # the speech tier answers fast, and may voice itself: never before the turn ends
        entry = self.config.models[decision.model]
        request = ChatRequest(
            model=entry.model,
            system=self.agent.prompt,
            messages=(*self._history.for_model(), ChatMessage(role="user", content=text)),
            tools=self._tool_specs,
            max_tokens=entry.max_tokens,
            turn_id=turn_id,
        )
        self._gen_seq += 1
        self._speculation = Speculation(text=text, decision=decision, model=decision.model,
                                        gen_id=self._gen_seq, turn_id=turn_id, started_ms=now,
                                        request=request)  # fmt: skip
        self.router.health.acquire(decision.model, now)
        self._actions.append(
            io.StartGeneration(
                gen_id=self._gen_seq,
                turn_id=turn_id,
                model=decision.model,
                tier=decision.tier,
                request=request,
                preemptive=True,
            )
        )

    def _adopt(self, turn: Turn, spec: Speculation) -> None:
        """The turn ended on the words the preemptive request was made for: it becomes the turn's."""
        decision = spec.decision
        turn.decision = decision
        turn.chain = decision.chain
        self.previous_tier = decision.tier
        self._emit(
            ev.RouteDecided,
            turn_id=turn.turn_id,
            tier=decision.tier,
            model=spec.model,
            provider=decision.provider,
            reason=decision.reason + "; started at the pause",
            confidence=round(decision.confidence, 4),
            est_cost_usd=round(decision.est_cost_usd, 8),
        )
        if not spec.has_text and self._acknowledger.on_route(self.config, decision.tier, spec.model):
            self._acknowledge(turn)
        turn.steps = 1
        turn.state = transition(turn.state, Trigger.GENERATE)
        turn.gen_id = spec.gen_id
        turn.model = spec.model
        turn.tried.append(spec.model)
        turn.gen_started_ms = spec.started_ms
        # the caller's wait starts now: the budget counts from the turn, like any other request's
        turn.first_token_deadline_ms = self.clock.now_ms() + self._first_token_budget(turn)
        for item in spec.held:
            self.receive(item)

    def _discard(self, spec: Speculation, why: str) -> None:
        """Cancel a preemptive request; what it consumed is waste, counted and charged to the call."""
        if self._speculation is spec:
            self._speculation = None
        self._actions.append(io.CancelGeneration(gen_id=spec.gen_id))
        done = spec.reported_usage()
        usage = (
            done.usage
            if done is not None
            else Usage(
                input_tokens=estimate_tokens(
                    len(spec.request.system) + sum(len(m.content) for m in spec.request.messages)
                ),
                output_tokens=estimate_tokens(spec.produced_chars),
            )
        )
        entry = self.config.models[spec.model]
        cost = usage_cost_usd(entry, usage)
        self.wasted_tokens += usage.input_tokens + usage.output_tokens
        self.wasted_cost_usd += cost
        self.call_cost_usd += cost
        self._emit(ev.LlmDiscarded, turn_id=spec.turn_id, model=spec.model, reason=why,
                   tokens_in=usage.input_tokens, tokens_out=usage.output_tokens,
                   cost_usd=round(cost, 8))  # fmt: skip

    def _classified(self, turn: Turn, answer: str, trigger: Trigger) -> None:
        """The small model labelled the turn (or failed to): route it on that label."""
        turn.state = transition(turn.state, trigger)
        tier, reason = parse_tier(answer)
        prior = turn.decision
        decision = self.router.decide(
            turn.text,
            self._turn_context(turn.text),
            now_ms=self.clock.now_ms(),
            call_cost_usd=self.call_cost_usd,
            prompt_chars=self._prompt_chars(),
            forced_tier=tier,
            forced_reason=(prior.reason + "; " if prior else "") + reason,
        )
        self._route(turn, decision)

    def _route(self, turn: Turn, decision: RouteDecision) -> None:
        turn.decision = decision
        turn.chain = decision.chain
        self.previous_tier = decision.tier
        self._emit(
            ev.RouteDecided,
            turn_id=turn.turn_id,
            tier=decision.tier,
            model=decision.model or "none",
            provider=decision.provider,
            reason=decision.reason,
            confidence=round(decision.confidence, 4),
            est_cost_usd=round(decision.est_cost_usd, 8),
        )
        if decision.model is None:
            self._give_up(turn, "no usable model")
            return
        if self._acknowledger.on_route(self.config, decision.tier, decision.model):
            self._acknowledge(turn)
        self._generate(turn, decision.model)

    def _generate(self, turn: Turn, model: str, continuing_after: str = "") -> None:
        if turn.steps >= self.config.routing.max_steps_per_turn:
            self._give_up(turn, "too many steps", TOO_MANY_STEPS)
            return
        turn.steps += 1
        entry = self.config.models[model]
        system = self.agent.prompt
        if not continuing_after:
            turn.answer_from = len(turn.spoken)
        turn.echo_check = continuing_after or None
        turn.join_next = False
        if continuing_after:
            system += (
                "\n\nYou were cut off mid-answer after saying: "
                f"{continuing_after!r}. Continue from there without repeating it."
            )
        request = ChatRequest(
            model=entry.model,
            system=system,
            messages=self._history.for_model(),
            tools=self._tool_specs,
            max_tokens=entry.max_tokens,
            turn_id=turn.turn_id,
            assistant_prefix=continuing_after,
        )
        self._start_generation(turn, model, request)

    def _start_generation(self, turn: Turn, model: str, request: ChatRequest) -> None:
        now = self.clock.now_ms()
        if turn.state is None:
            turn.state = transition(turn.state, Trigger.GENERATE)
        self._gen_seq += 1
        turn.gen_id = self._gen_seq
        turn.model = model
        if model not in turn.tried:
            turn.tried.append(model)
        turn.gen_started_ms = now
        turn.gen_has_output = False
        turn.step_text = ""
        turn.step_tool_calls = []
        turn.first_token_deadline_ms = now + self._first_token_budget(turn)
        turn.idle_deadline_ms = None
        self.router.health.acquire(model, now)
        tier = turn.decision.tier if turn.decision else "triage"
        self._actions.append(
            io.StartGeneration(
                gen_id=turn.gen_id,
                turn_id=turn.turn_id,
                model=model,
                tier=tier,
                request=request,
                purpose="classify" if turn.state is TurnState.ROUTING else "answer",
            )
        )

    def _generation_failed(self, turn: Turn, error: ProviderError, *, cancel: bool) -> None:
        now = self.clock.now_ms()
        assert turn.model is not None and turn.gen_id is not None
        if cancel:
            self._actions.append(io.CancelGeneration(gen_id=turn.gen_id))
        failed = turn.model
        self.router.health.record_failure(failed, now, kind=error.kind, retry_after_s=error.retry_after_s)
        turn.gen_id = None
        turn.first_token_deadline_ms = turn.idle_deadline_ms = None
        chain = turn.chain or tuple(self.config.routing.triage)
        next_model, _ = self.router.first_usable(chain, now_ms=now, tried=tuple(turn.tried))
        self._emit(
            ev.ProviderFailed,
            turn_id=turn.turn_id,
            provider=self.config.models[failed].provider,
            model=failed,
            error=str(error),
            fallback_to=next_model,
        )
        if turn.state is TurnState.ROUTING:
            self._classified(turn, "", Trigger.CLASSIFY_FAILED)
            return
        if next_model is None:
            self._give_up(turn, "every model of the chain failed")
            return
        turn.state = transition(turn.state, Trigger.FAIL)
        self._speak(turn, turn.take_sentences(flush=True))
        turn.steps -= 1  # a failed attempt is not a step of the answer
        self._generate(turn, next_model, continuing_after=turn.spoken[turn.answer_from :].strip())

    def _run_tools(self, turn: Turn) -> None:
        now = self.clock.now_ms()
        self._history.append(
            ChatMessage(role="assistant", content=turn.step_text, tool_calls=tuple(turn.step_tool_calls))
        )
        turn.state = transition(turn.state, Trigger.TOOLS)
        for call in turn.step_tool_calls:
            turn.tool_seq += 1
            key = f"{turn.turn_id}.{turn.tool_seq}"
            timeout_ms = min(self._tools.timeout_ms(call.name), self.config.routing.tool_budget_ms)
            turn.tools[key] = PendingTool(call=call, started_ms=now, deadline_ms=now + timeout_ms)
            self._emit(ev.ToolCalled, turn_id=turn.turn_id, name=call.name, args=call.args)
            self._actions.append(
                io.RunTool(
                    call_key=key, turn_id=turn.turn_id, name=call.name, args=call.args, timeout_ms=timeout_ms
                )
            )
        turn.step_tool_calls = []

    def _tool_done(self, turn: Turn, key: str, outcome: ToolOutcome) -> None:
        pending = turn.tools.pop(key)
        latency_ms = round(self.clock.now_ms() - pending.started_ms)
        self._emit(
            ev.ToolResult,
            turn_id=turn.turn_id,
            name=pending.call.name,
            ok=outcome.ok,
            result=outcome.result,
            error=outcome.error,
            latency_ms=latency_ms,
            timed_out=outcome.timed_out,
        )
        self._history.append(_tool_message(pending.call, outcome.for_model()))
        if not turn.tools:
            turn.state = transition(turn.state, Trigger.TOOLS_DONE)
            assert turn.model is not None
            self._generate(turn, turn.model)

    def _give_up(self, turn: Turn, why: str, text: str = APOLOGY) -> None:
        if turn.gen_id is not None:
            self._actions.append(io.CancelGeneration(gen_id=turn.gen_id))
            turn.gen_id = None
        self._cancel_tools(turn)
        turn.first_token_deadline_ms = turn.idle_deadline_ms = None
        turn.state = transition(turn.state, Trigger.GIVE_UP)
        turn.unspoken += ("" if not turn.spoken else " ") + text
        self._speak(turn, turn.take_sentences(flush=True))
        self._finish_answer(turn)

    def _finish_answer(self, turn: Turn) -> None:
        text = turn.spoken.strip()
        self._emit(ev.AgentText, turn_id=turn.turn_id, text=text, final=True)
        self._actions.append(io.FinishSpeaking(turn_id=turn.turn_id, text=text))
        if self.instant_playback or not turn.spoken:
            turn.heard_chars = len(turn.spoken)
            self._complete(turn)

    def _complete(self, turn: Turn) -> None:
        turn.state = transition(turn.state, Trigger.PLAYED)
        self._append_heard(turn)
        self._emit_completed(turn)
        self._silence.agent_finished(self.clock.now_ms())

    def _interrupt(self, turn: Turn) -> None:
        if turn.gen_id is not None:
            self._actions.append(io.CancelGeneration(gen_id=turn.gen_id))
            if turn.state is not TurnState.ROUTING and turn.model:
                # a cancelled stream reports no usage: charge what was sent and produced
                self._account_estimate(turn)
            turn.gen_id = None
        self._cancel_tools(turn)
        if turn.spoken:
            self._actions.append(io.StopSpeaking(turn_id=turn.turn_id))
        if self.instant_playback:
            turn.heard_chars = len(turn.spoken)
        turn.unspoken = ""
        turn.first_token_deadline_ms = turn.idle_deadline_ms = None
        turn.state = transition(turn.state, Trigger.INTERRUPT)
        heard = turn.heard_text()
        self._emit(ev.TurnInterrupted, turn_id=turn.turn_id, heard_text=heard)
        self._append_heard(turn)
        self._emit_completed(turn)

    def _cancel_tools(self, turn: Turn) -> None:
        for key, pending in list(turn.tools.items()):
            self._actions.append(io.CancelTool(call_key=key))
            self._history.append(_tool_message(pending.call, "ERROR: cancelled, the caller interrupted"))
        turn.tools.clear()

    def _append_heard(self, turn: Turn) -> None:
        """Keep in the history only what the caller heard, across every assistant message of the turn;
        a spoken acknowledgement opens the turn's first assistant message."""
        heard_ack, heard = turn.split_heard()
        budget = len(heard)
        spoken_in_messages = 0
        for i in range(turn.history_start, len(self._history)):
            message = self._history[i]
            if message.role != "assistant":
                continue
            keep = max(0, min(len(message.content), budget - spoken_in_messages))
            spoken_in_messages += len(message.content)
            if keep < len(message.content):
                self._history.replace(
                    i, message.model_copy(update={"content": message.content[:keep].strip()})
                )
        remaining = heard[spoken_in_messages:].strip() if budget > spoken_in_messages else ""
        if heard_ack:
            first = next(
                (i for i in range(turn.history_start, len(self._history))
                 if self._history[i].role == "assistant"),
                None,
            )  # fmt: skip
            if first is not None:
                message = self._history[first]
                content = f"{heard_ack} {message.content}".strip()
                self._history.replace(first, message.model_copy(update={"content": content}))
            else:
                remaining = f"{heard_ack} {remaining}".strip()
        if remaining:
            self._history.append(ChatMessage(role="assistant", content=remaining))

    def _emit_completed(self, turn: Turn) -> None:
        self._remember_for_routing(turn)
        if self._voice and turn.spoken and not self._speaks_itself(turn.model):
            turn.tts_cost_usd = tts_cost_usd(self.config.speech_costs, chars=len(turn.spoken.strip()))
        total = turn.cost_usd + turn.stt_cost_usd + turn.tts_cost_usd
        self.call_cost_usd += total
        self.call_stt_cost_usd += turn.stt_cost_usd
        self.call_tts_cost_usd += turn.tts_cost_usd
        self._emit(
            ev.TurnCompleted,
            turn_id=turn.turn_id,
            model=turn.model or "none",
            tokens_in=turn.tokens_in,
            tokens_out=turn.tokens_out,
            cost_usd=round(total, 8),
            first_token_ms=turn.first_token_ms,
            total_ms=round(self.clock.now_ms() - turn.started_ms),
            cached_tokens_in=turn.cached_in,
            model_cost_usd=round(turn.cost_usd, 8),
            stt_cost_usd=round(turn.stt_cost_usd, 8),
            tts_cost_usd=round(turn.tts_cost_usd, 8),
        )
        self._actions.append(
            io.CloseTurn(
                turn_id=turn.turn_id,
                heard_text=turn.heard_text(),
                interrupted=turn.state is TurnState.INTERRUPTED,
                history=self._history.messages,
            )
        )

    # ---- helpers ----

    def _acknowledge_tool_start(self, turn: Turn) -> None:
        """A turn that opens with a tool call keeps the caller waiting for a second model round trip."""
        if (
            turn.ack_text
            or turn.spoken
            or turn.step_text
            or turn.steps != 1
            or turn.state is TurnState.ROUTING
        ):
            return
        tier = turn.decision.tier if turn.decision else "triage"
        waited_ms = self.clock.now_ms() - turn.started_ms
        if self._acknowledger.on_tool_call_start(self.config, tier, turn.model, waited_ms):
            self._acknowledge(turn)

    def _acknowledge(self, turn: Turn) -> None:
        """Say the next acknowledgement now, ahead of the answer: the answer's speech queues after it."""
        if turn.ack_text or turn.spoken:
            return
        phrase = self._acknowledger.next_phrase()
        turn.ack_text = phrase + " "
        turn.spoken += turn.ack_text
        self._emit(ev.AgentText, turn_id=turn.turn_id, text=phrase, final=False)
        self._actions.append(io.Speak(turn_id=turn.turn_id, text=turn.ack_text, acknowledgement=True))

    def _speak(self, turn: Turn, text: str) -> None:
        if not text.strip():
            turn.unspoken = text + turn.unspoken if text else turn.unspoken
            return
        turn.spoken += text
        self._emit(ev.AgentText, turn_id=turn.turn_id, text=text.strip(), final=False)
        self._actions.append(io.Speak(turn_id=turn.turn_id, text=text))

    @property
    def _voice(self) -> bool:
        """A call the caller hears and speaks in: it pays speech recognition and synthesis."""
        return self.transport != "text"

    def _speaks_itself(self, model: str | None) -> bool:
        """The speech tier's Realtime model answers in its own voice (its audio tokens are its cost)."""
        return model is not None and self.config.models[model].provider == "openai_realtime"

    def _account(self, turn: Turn, model: str, usage: Usage) -> None:
        entry = self.config.models[model]
        turn.tokens_in += usage.input_tokens
        turn.tokens_out += usage.output_tokens
        turn.cached_in += usage.cached_input_tokens
        turn.cost_usd += usage_cost_usd(entry, usage)

    def _account_estimate(self, turn: Turn) -> None:
        assert turn.model is not None
        usage = Usage(
            input_tokens=estimate_tokens(self._prompt_chars()),
            output_tokens=estimate_tokens(len(turn.step_text)),
        )
        self._account(turn, turn.model, usage)

    def _first_token_budget(self, turn: Turn) -> int:
        decision = turn.decision  # while ROUTING, the small model answers within the triage budget
        tier = decision.tier if decision is not None and turn.state is not TurnState.ROUTING else "triage"
        return self.config.routing.first_token_budget(tier)

    def _turn_context(self, text: str) -> TurnContext:
        """What routing needs to know of the call: the last tier, the agent's question, proposal or options
        (with the tier that proposed it), and how often the caller asked this before."""
        return self._dialogue.context_for(text)

    def _remember_for_routing(self, turn: Turn) -> None:
        """Feed a finished turn to the routing state: its tier, what the caller heard, its last tool call."""
        self._dialogue.user_said(turn.text, turn.decision.tier if turn.decision else None)
        last_call: ToolCall | None = None
        for i in range(turn.history_start, len(self._history)):
            message = self._history[i]
            if message.role == "assistant" and message.tool_calls:
                last_call = message.tool_calls[-1]
        self._dialogue.agent_said(
            turn.heard_text(),
            tool=last_call.name if last_call else None,
            args=last_call.args.items() if last_call else (),
        )

    def _prompt_chars(self) -> int:
        return len(self.agent.prompt) + sum(len(m.content) for m in self._history.for_model())

    def _emit(self, cls: type[ev._Event], **fields: object) -> None:
        event = cls(call_id=self.call_id, t_ms=max(0, round(self.clock.now_ms() - self._start_ms)), **fields)
        self._events.append(event)  # type: ignore[arg-type]

    _handlers: ClassVar[dict[type, Callable[[CallEngine, object], None]]] = {}


def _tool_message(call: ToolCall, content: str) -> ChatMessage:
    return ChatMessage(role="tool", tool_call_id=call.id, name=call.name, content=content)


CallEngine._handlers = {
    io.SpeechStarted: CallEngine._on_speech_started,  # type: ignore[dict-item]
    io.SpeechStopped: CallEngine._on_speech_stopped,  # type: ignore[dict-item]
    io.Transcript: CallEngine._on_transcript,  # type: ignore[dict-item]
    io.PlaybackProgress: CallEngine._on_playback_progress,  # type: ignore[dict-item]
    io.PlaybackFinished: CallEngine._on_playback_finished,  # type: ignore[dict-item]
    io.HangUp: CallEngine._on_hangup,  # type: ignore[dict-item]
    io.ModelDelta: CallEngine._on_model_delta,  # type: ignore[dict-item]
    io.ModelProgress: CallEngine._on_model_progress,  # type: ignore[dict-item]
    io.ModelToolCall: CallEngine._on_model_tool_call,  # type: ignore[dict-item]
    io.ModelDone: CallEngine._on_model_done,  # type: ignore[dict-item]
    io.ModelFailed: CallEngine._on_model_failed,  # type: ignore[dict-item]
    io.ToolFinished: CallEngine._on_tool_finished,  # type: ignore[dict-item]
}
