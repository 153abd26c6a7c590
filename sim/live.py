"""`--live`: the same caller scripts against the real providers on the real clock.

Slow and costly by nature; it exists to check the simulation against reality and to feed `sim calibrate`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sim.asr_noise import add_asr_noise, word_errors
from sim.cassette import Cassette, RecordingProviders
from sim.replay import RunOptions, run_seeds
from sim.runner import CallResult
from sim.score import CallScore, score_call
from sim.script import CallScript
from voicerouter import events as ev
from voicerouter.call.session import CallSession, ProviderLookup
from voicerouter.engine import io
from voicerouter.wiring import Runtime, build_runtime


async def _run_one(runtime: Runtime, script: CallScript, options: RunOptions, seed: int) -> CallScore:
    import random

    rng = random.Random(f"{seed}:{script.call_id}")
    engine, tools = runtime.new_call(
        script.agent, transport="sim-live", caller=script.caller, call_id=script.call_id
    )
    result = CallResult(call_id=script.call_id, agent=script.agent, source=script.source)
    done = asyncio.Event()

    def collect(event: ev.Event) -> None:
        result.events.append(event)
        if isinstance(event, ev.TurnCompleted):
            done.set()

    cassette = Cassette(options.cassette)  # None: the requests are only timed
    providers: ProviderLookup = RecordingProviders(runtime.providers, cassette)
    session = CallSession(engine, providers, tools, on_event=collect)
    session.start()
    wer = options.faults.wer or script.faults.wer
    for index, turn in enumerate(script.spoken_turns(), start=1):
        heard = add_asr_noise(turn.text, wer, rng)
        errors, words = word_errors(turn.text, heard)
        result.word_errors += errors
        result.reference_words += words
        result.transcripts[index] = (turn.text, heard)
        done.clear()
        session.feed(io.Transcript(text=heard or turn.text))
        await done.wait()
    await session.close("caller hung up")
    labels = script.labels()
    score = score_call(result, labels)
    score.seed = seed
    score.requests = [
        {
            "model": exchange.model,
            "turn": exchange.turn_id,
            "first_token_ms": exchange.first_token_ms,
            "done_ms": exchange.done_ms,
            "error": exchange.error.kind if exchange.error else None,
            "completed": complete,
        }
        for exchange, complete in cassette.recorded
    ]
    return score


async def run_scripts_live_async(
    scripts: Sequence[CallScript], options: RunOptions, progress: Callable[[int], None] | None = None
) -> list[CallScore]:
    """The live run inside a running event loop (tests run local protocol servers in the same loop)."""
    runtime = build_runtime(options.config_path)
    scores = []
    try:
        for seed in run_seeds(options):
            for script in scripts:
                scores.append(await _run_one(runtime, script, options, seed))
                if progress:
                    progress(1)
    finally:
        await runtime.providers.aclose()
    return scores


def run_scripts_live(
    scripts: Sequence[CallScript], options: RunOptions, progress: Callable[[int], None] | None = None
) -> list[CallScore]:
    return asyncio.run(run_scripts_live_async(scripts, options, progress))
