"""False cuts: is a caller who pauses mid-sentence cut off? Real espeak-ng speech over a real /twilio call.

Each case is a sentence said in two parts with a pause between ("I'd like to book an appointment for" ...
"next Tuesday morning"); a cut is a call where the first part became a turn of its own. Every case runs with
the pause held while its words are recognised (`audio.endpoint.hold_for_words`, the default) and without it,
against the real app on a loopback port (offline speech, offline agent model). Run from the repository
root: `PYTHONPATH=. python benchmarks/bench_false_cut.py [--pauses 400 700] [--repeat 1] [--held-only]`;
prints JSON; `VOICEROUTER_STT_STREAMING=1` measures streaming recognition. Twelve sentences: four end in
a word that leaves them hanging, the rest in words that do not ("could I see doctor", "what time do you"),
one in digits being read out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from voicerouter.caller.client import CallerClient, load_wav
from voicerouter.caller.run import fetch_call
from voicerouter.server import ServeSettings, create_app

SENTENCES: tuple[tuple[str, str], ...] = (
    ("I'd like to book an appointment for", "next Tuesday morning"),
    ("can you move my appointment to", "Friday afternoon please"),
    ("my date of birth is march", "fourth nineteen eighty"),
    ("I need a new appointment and", "my son needs one too"),
    ("I'm calling about my test results from", "last Thursday"),
    ("could I see doctor", "Patel on Monday"),
    ("my name is", "Maria Garcia"),
    ("I need to cancel my appointment on", "the twelfth"),
    ("what time do you", "close on Fridays"),
    ("is there parking near", "the main entrance"),
    ("my phone number is five five five", "one two three four"),
    ("can I bring my daughter to", "the same appointment"),
)
RATE_HZ = 8000
SILENCE_MS: int | None = None  # --silence-ms: the endpoint's neutral silence, if not the default


def speech(text: str, directory: Path) -> bytes:
    path = directory / (text.replace(" ", "_").replace("'", "")[:48] + ".wav")
    if not path.exists():
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return load_wav(path, RATE_HZ)


def trim_silence(pcm16: bytes) -> bytes:
    """espeak pads its output: keep the pause exactly as asked by cutting the quiet ends."""
    samples = memoryview(pcm16).cast("h")
    loud = [i for i in range(len(samples)) if abs(samples[i]) > 500]
    return pcm16[2 * loud[0] : 2 * (loud[-1] + 1)] if loud else pcm16


async def one_call(url: str, first: bytes, second: bytes, pause_s: float) -> dict[str, Any]:
    async with CallerClient(url, twilio=True, agent="clinic") as call:
        if not await call.wait_for_agent_silence(0.7, timeout_s=30.0):
            raise RuntimeError("the greeting never finished")
        await call.say(first)
        await call.pause(pause_s)
        await call.say(second)
        await call.wait_for_agent_audio(timeout_s=20.0)
        await call.wait_for_agent_silence(0.7, timeout_s=30.0)
    assert call.result.call_id is not None
    recorded = await fetch_call(url, call.result.call_id)
    events = recorded["events"] if recorded else []
    turns = [e for e in events if e["type"] == "turn.started"]
    stages = [e for e in events if e["type"] == "turn.latency"][-1:]
    stop = stages[0]["vad_stop_at_ms"] if stages and stages[0]["vad_stop_at_ms"] is not None else 0
    return {
        "turns": [t["text"] for t in turns],
        "cut": len(turns) > 1,
        "first_audio_ms": [s["first_audio_ms"] for s in stages if s["first_audio_ms"] is not None],
        "after_vad_stop_ms": {  # the last turn's stages, from its VAD stop
            k.removesuffix("_at_ms"): v - stop
            for s in stages
            for k, v in s.items()
            if k.endswith("_at_ms") and v
        },
    }


async def run_mode(
    directory: Path, *, hold_for_words: bool, pauses_ms: list[int], repeat: int
) -> dict[str, Any]:
    config = directory / f"hold-{hold_for_words}.toml"
    extra = f"silence_ms = {SILENCE_MS}\n" if SILENCE_MS else ""
    config.write_text(f"[audio.endpoint]\nhold_for_words = {str(hold_for_words).lower()}\n{extra}")
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / f"rec-{hold_for_words}",
                             speech="offline", config_path=str(config))  # fmt: skip
    # no API keys (the offline stack is measured); the recogniser's own settings pass through
    env = {k: v for k, v in os.environ.items() if k.startswith("VOICEROUTER_STT")}
    runner = web.AppRunner(create_app(settings, env=env), shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    results: dict[str, Any] = {}
    try:
        for pause_ms in pauses_ms:
            calls = []
            for first_text, second_text in SENTENCES * repeat:
                # both parts trimmed, so the pause is exactly `pause_ms` of silence
                first = trim_silence(speech(first_text, directory))
                second = trim_silence(speech(second_text, directory))
                outcome = await one_call(url, first, second, pause_ms / 1000)
                calls.append({"sentence": f"{first_text} / {second_text}", **outcome})
            audio = [ms for c in calls for ms in c["first_audio_ms"]]
            results[f"{pause_ms}ms"] = {
                "calls": len(calls),
                "cut": sum(c["cut"] for c in calls),
                "p50_first_audio_ms": statistics.median(audio) if audio else None,
                "detail": calls,
            }
    finally:
        await runner.cleanup()
    return results


async def main_async(pauses_ms: list[int], repeat: int, with_unheld: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        held = await run_mode(directory, hold_for_words=True, pauses_ms=pauses_ms, repeat=repeat)
        if not with_unheld:
            return {"hold_for_words": held}
        unheld = await run_mode(directory, hold_for_words=False, pauses_ms=pauses_ms, repeat=repeat)
    return {"hold_for_words": held, "without_hold_for_words": unheld}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pauses", type=int, nargs="+", default=[400, 700], help="pause lengths in ms")
    parser.add_argument("--repeat", type=int, default=1, help="times each sentence is said per pause")
    parser.add_argument("--only", type=int, nargs="*", help="indexes of SENTENCES to say (default: all)")
    parser.add_argument("--held-only", action="store_true", help="skip the run without hold_for_words")
    parser.add_argument("--silence-ms", type=int, help="audio.endpoint.silence_ms for the run")
    parser.add_argument(
        "--sentences", type=Path, help='JSONL of {"first": ..., "second": ...} pairs to say instead'
    )
    args = parser.parse_args()
    global SENTENCES, SILENCE_MS
    SILENCE_MS = args.silence_ms
    if args.sentences:
        pairs = [json.loads(line) for line in args.sentences.read_text().splitlines() if line.strip()]
        SENTENCES = tuple((pair["first"], pair["second"]) for pair in pairs)
    if args.only:
        SENTENCES = tuple(SENTENCES[i] for i in args.only)
    result = asyncio.run(main_async(args.pauses, args.repeat, with_unheld=not args.held_only))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
