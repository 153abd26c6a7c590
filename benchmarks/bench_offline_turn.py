"""Benchmark of the offline agent model: how long one model step takes on a caller's turn, on one core.

Every caller turn of the shipped corpus scripts (sim/corpus) goes through a fresh OfflineAgentModel with
the agent's real tools, in this process; a step reads the whole history, so late turns of long calls cost
most. The first pass is cold (no text seen before), which is what a new caller meets.

    python benchmarks/bench_offline_turn.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

if __package__ in (None, ""):  # run as a file from a checkout: make the repo's package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicerouter.agent import load_agent
from voicerouter.providers.base import ChatMessage, ChatRequest
from voicerouter.providers.offline.model import OfflineAgentModel

CORPUS = Path(__file__).resolve().parents[1] / "sim" / "corpus"
MAX_STEPS = 6


def _turn_ms(agent: str, texts: list[str], model: OfflineAgentModel) -> list[float]:
    spec = load_agent(agent)
    registry = spec.create_tools()
    messages: list[ChatMessage] = []
    timings = []
    for text in texts:
        messages.append(ChatMessage(role="user", content=text))
        for _ in range(MAX_STEPS):
            request = ChatRequest(
                model="offline", system=spec.prompt, messages=tuple(messages), tools=registry.specs()
            )
            start = time.perf_counter()
            completion = model.complete(request)
            timings.append((time.perf_counter() - start) * 1000)
            messages.append(
                ChatMessage(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
            )
            if not completion.tool_calls:
                break
            for call in completion.tool_calls:
                outcome = registry.run(call.name, call.args)
                messages.append(
                    ChatMessage(
                        role="tool", tool_call_id=call.id, name=call.name, content=outcome.for_model()
                    )
                )
    return timings


def main() -> dict[str, float | int]:
    """Model-step latency over every corpus call, cold and then warm (the same calls again)."""
    models = {agent: OfflineAgentModel(load_agent(agent)) for agent in ("clinic", "helpdesk")}
    calls = []
    for path in sorted(CORPUS.glob("*.yaml")):
        script = yaml.safe_load(path.read_text(encoding="utf-8"))
        calls.append((script["agent"], [turn["say"] for turn in script["turns"]]))
    results: dict[str, float | int] = {}
    for label in ("cold", "warm"):
        timings = sorted(t for agent, texts in calls for t in _turn_ms(agent, texts, models[agent]))
        results[f"{label}_steps"] = len(timings)
        results[f"{label}_p50_ms"] = round(statistics.median(timings), 3)
        results[f"{label}_p95_ms"] = round(timings[int(0.95 * (len(timings) - 1))], 3)
        results[f"{label}_max_ms"] = round(timings[-1], 3)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    figures = main()
    if parser.parse_args().json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:16} {value}")
