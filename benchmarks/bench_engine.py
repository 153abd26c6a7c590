"""Engine overhead per turn and router decision time, with a zero-latency model and tool.

Figures are per-turn wall time of the sans-I/O engine itself (routing, bookkeeping, events), measured
in one run; they exclude any model or network time by construction.
"""

from __future__ import annotations

import statistics
import time

from voicerouter.agent import load_agent
from voicerouter.clock import VirtualClock
from voicerouter.config import load_config
from voicerouter.engine import CallEngine, io
from voicerouter.providers.base import ToolCall, Usage
from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.features import TurnContext
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router
from voicerouter.toolkit import ToolRegistry

UTTERANCES = [
    "what time do you open on saturday",
    "thanks so much bye",
    "um i need to move my appointment to next tuesday but only if doctor patel has something after three",
    "it's john smith s m i t h",
    "yeah that works",
    "can you check the status of ticket four five nine one",
]


def _percentiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {
        "p50_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 1),
        "mean_us": round(statistics.fmean(ordered), 1),
    }


def bench_router(n: int = 3000) -> dict[str, float]:
    config = load_config()
    router = Router(config, TriageClassifier.load(), HealthBoard(config.health))
    samples = []
    for i in range(n):
        text = UTTERANCES[i % len(UTTERANCES)]
        start = time.perf_counter()
        # a distinct context each time, so no per-turn cache can answer for the classifier
        router.decide(text, TurnContext(turn_index=i), now_ms=0.0, call_cost_usd=0.0, prompt_chars=2000)
        samples.append((time.perf_counter() - start) * 1e6)
    return _percentiles(samples[200:])


def bench_engine(calls: int = 100, turns_per_call: int = 20) -> dict[str, float]:
    """Calls of 20 turns; each turn: route, one tool round trip, a two-sentence answer."""
    config = load_config()
    agent = load_agent("helpdesk")
    router = Router(config, TriageClassifier.load(), HealthBoard(config.health))
    samples = []
    for n in range(calls):
        clock = VirtualClock()
        tools = agent.create_tools()
        engine = CallEngine(
            call_id=f"bench{n}",
            agent=agent,
            config=config,
            router=router,
            tools=tools,
            clock=clock,
            greet=False,
        )
        engine.start()
        engine.actions_to_send()
        engine.events_emitted()
        for i in range(turns_per_call):
            start = time.perf_counter()
            _one_turn(engine, tools, UTTERANCES[i % len(UTTERANCES)], i)
            samples.append((time.perf_counter() - start) * 1e6)
            clock.advance(1000)
    return _percentiles(samples[turns_per_call:])


def _one_turn(engine: CallEngine, tools: ToolRegistry, text: str, i: int) -> None:
    engine.receive(io.Transcript(text=text))
    gen = next(a for a in engine.actions_to_send() if isinstance(a, io.StartGeneration))
    call = ToolCall(id=f"t{i}", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=gen.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=800, output_tokens=20)))
    run = next(a for a in engine.actions_to_send() if isinstance(a, io.RunTool))
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=tools.run(run.name, run.args)))
    gen = next(a for a in engine.actions_to_send() if isinstance(a, io.StartGeneration))
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Ticket 4591 is open. "))
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Is there anything else?"))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=900, output_tokens=12)))
    engine.actions_to_send()
    engine.events_emitted()


def main() -> dict[str, dict[str, float]]:
    results = {"router_decision": bench_router(), "engine_turn_overhead": bench_engine()}
    for name, figures in results.items():
        print(f"{name:24} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    return results


if __name__ == "__main__":
    main()
