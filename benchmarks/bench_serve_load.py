"""How many concurrent WebSocket calls one `voicerouter serve` process carries on this machine.

One server process and one process of N simulated callers, on loopback. Every caller streams in real time
(20 ms PCM16 frames at 16 kHz, silence between utterances): it waits for the greeting to play out, says
"what time do you open on saturday" (espeak-ng audio), listens to the answer for a few seconds and hangs up.
Callers start spread over `--ramp` seconds. The model is the offline agent model (zero latency). Speech
engines are replaced by zero-cost stand-ins so that the media path's own cost is what is measured: an instant
recogniser that returns the known sentence, and (`--tts tone`, the default) a synthesiser that returns a tone
of the text's length at once. Their real costs are measured on their own and reported beside: pocketsphinx
decode time (`stt_decode_ms`) and espeak-ng time to first chunk (`tts_first_chunk_ms`); `--tts espeak` runs
the sweep with real espeak-ng synthesis instead (its first chunk is then inside the overhead).

Definitions (all measured by the server on its monotonic clock):
- late frame: an agent audio frame sent more than 20 ms after its slot on the call's outbound timeline
  (slot n = first frame's send time + 20 ms * n; a frame that was not yet synthesised at its slot starts a
  new timeline and is not late). Read from `voicerouter_outbound_frames_late_total` before and after a run.
- overhead (`response_ms`): from the moment the caller's final transcript is handed to the engine (end of
  turn decided and recognition done) to the moment the first 20 ms frame of the answer is sent. It covers
  the engine, router, model, tools, text-to-speech until its first chunk, resampling and pacing; it excludes
  the end-of-turn silence (a policy, 300-1200 ms) and recognition (`stt_wait_ms`, reported on its own).
A run of N passes when every call completes, no frame is late and the overhead p95 is under 50 ms. The
result is the largest passing N of the sweep (it stops at the first failure). Bounded in time (each run
about 15 s, `--max-n` caps the sweep); loopback only. The machine may be shared: run it more than once.

Run from the repository root: `PYTHONPATH=. python benchmarks/bench_serve_load.py [--sweep 25,50,75,100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUESTION = "what time do you open on saturday"
LATE_MS = 20.0
OVERHEAD_P95_LIMIT_MS = 50.0
DEFAULT_SWEEP = (25, 50, 75, 100)
LISTEN_S = 3.0


# ---------------------------------------------------------------- server role (a subprocess)


class InstantSTT:
    """Returns the benchmark's sentence at once for any utterance of at least 300 ms."""

    name = "instant"

    async def transcribe(self, pcm16: bytes, sample_rate_hz: int, *, hints: Sequence[str] = ()) -> Any:
        from voicerouter.providers.speech.base import Transcription

        audio_ms = len(pcm16) / 2 / sample_rate_hz * 1000
        text = QUESTION if audio_ms >= 300 else ""
        return Transcription(text=text, confidence=0.9, audio_ms=audio_ms, engine="instant")


class ToneTTS:
    """A 200 Hz tone, 60 ms per character, produced at once: text-to-speech with no cost at all."""

    name = "tone"
    sample_rate_hz = 16000

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        samples = int(self.sample_rate_hz * 0.06 * max(1, len(text.strip())))
        t = np.arange(samples) / self.sample_rate_hz
        pcm = (np.sin(2 * np.pi * 200 * t) * 8000).astype("<i2").tobytes()
        for i in range(0, len(pcm), 1280):
            yield pcm[i : i + 1280]


WORKERS_ENV = "VOICEROUTER_BENCH_WORKERS"  # how many serving processes the server role starts (default 1)


def _supervise(port: int, tts_mode: str, recordings: Path, workers: int) -> None:
    """`serve --workers N` for the stand-in server: N server-role processes sharing the port."""
    from voicerouter import workers as vr_workers

    class StandInSupervisor(vr_workers.Supervisor):
        def _start(self, index: int) -> None:
            command = [sys.executable, str(Path(__file__).resolve()), "--role", "server", *self._argv]
            self._procs[index] = subprocess.Popen(
                command, env=self._env(index), preexec_fn=vr_workers._die_with_parent
            )

    argv = [
        "--port",
        str(port),
        "--tts",
        tts_mode,
        "--recordings",
        str(recordings),
        "--workers",
        str(workers),
    ]
    supervisor = StandInSupervisor(
        argv, workers, host="127.0.0.1", port=port, sip_port=None, drain_seconds=10.0
    )
    raise SystemExit(supervisor.run())


async def _serve(port: int, tts_mode: str, recordings: Path, workers: int | None = None) -> None:
    from voicerouter import workers as vr_workers
    from voicerouter.providers.speech.espeak_tts import EspeakTTS
    from voicerouter.providers.speech.registry import TTS_RATE_HZ, SpeechEngines
    from voicerouter.server import ServeSettings, create_app, run_server

    async def build_stt(agent: str) -> Any:
        return InstantSTT()

    count = workers if workers is not None else int(os.environ.get(WORKERS_ENV) or 1)
    if count > 1 and vr_workers.worker_index() is None:
        _supervise(port, tts_mode, recordings, count)  # blocks until every worker has drained
        return
    tts: Any = ToneTTS() if tts_mode == "tone" else EspeakTTS(sample_rate_hz=TTS_RATE_HZ)
    settings = ServeSettings(host="127.0.0.1", port=port, recordings_dir=recordings, speech="offline")
    app = create_app(settings, speech=SpeechEngines(tts, build_stt), env={})

    def ready(address: str) -> None:
        print(f"READY {address}", flush=True)

    await run_server(settings, app=app, ready=ready)


# ---------------------------------------------------------------- callers role (a subprocess)


async def _one_caller(url: str, question: bytes, start_delay_s: float) -> dict[str, Any]:
    from voicerouter.caller.client import CallerClient

    await asyncio.sleep(start_delay_s)
    async with CallerClient(url, rate_hz=16000) as call:
        greeted = await call.wait_for_agent_silence(0.7, timeout_s=30.0)
        await call.say(question)
        answered = await call.wait_for_agent_audio(timeout_s=30.0)
        await asyncio.sleep(LISTEN_S)
    result = call.result
    spoke_until = result.speech_sent[0][1] if result.speech_sent else math.inf
    answer = [at for at, _ in result.audio_arrivals if at > spoke_until]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(answer)]
    return {
        "ok": greeted and answered and result.call_id is not None,
        "latencies": result.latencies,
        "client_end_of_speech_to_audio_ms": (answer[0] - spoke_until) * 1000 if answer else None,
        "max_arrival_gap_ms": max(gaps) if gaps else None,
    }


def _spoken_question() -> bytes:
    from voicerouter.caller.client import load_wav

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-w", str(wav), QUESTION], check=True, capture_output=True
        )
        return load_wav(wav, 16000)


async def _callers(url: str, n: int, ramp_s: float, question: bytes) -> dict[str, Any]:
    started = time.monotonic()
    calls = await asyncio.gather(
        *(_one_caller(url, question, ramp_s * i / max(1, n)) for i in range(n)), return_exceptions=True
    )
    failures = [repr(c) for c in calls if isinstance(c, BaseException)]
    done = [c for c in calls if isinstance(c, dict)]
    return {"n": n, "wall_s": time.monotonic() - started, "calls": done, "errors": failures[:5]}


# ---------------------------------------------------------------- orchestration


def _metric(text: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


def _lateness_buckets(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        s.labels["le"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "voicerouter_outbound_frame_lateness_ms_bucket"
    }


def _metrics(base: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # loopback only
        body: bytes = response.read()
    return body.decode("utf-8")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)


def _run_step(base: str, n: int, ramp_s: float) -> dict[str, Any]:
    before = _metrics(base)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, __file__, "--role", "callers", "--url", base, "--n", str(n), "--ramp", str(ramp_s)],
        capture_output=True, text=True, env=env, timeout=120 + ramp_s, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"callers process failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    after = _metrics(base)
    frames = _metric(after, "voicerouter_outbound_frames_total") - _metric(
        before, "voicerouter_outbound_frames_total"
    )
    late = _metric(after, "voicerouter_outbound_frames_late_total") - _metric(
        before, "voicerouter_outbound_frames_late_total"
    )
    buckets_before, buckets_after = _lateness_buckets(before), _lateness_buckets(after)
    lateness = {le: buckets_after[le] - buckets_before.get(le, 0.0) for le in buckets_after}
    calls = data["calls"]
    response = [lat["response_ms"] for c in calls for lat in c["latencies"]]
    stt_wait = [lat["stt_wait_ms"] for c in calls for lat in c["latencies"]]
    client = [c["client_end_of_speech_to_audio_ms"] for c in calls if c["client_end_of_speech_to_audio_ms"]]
    gaps = [c["max_arrival_gap_ms"] for c in calls if c["max_arrival_gap_ms"] is not None]
    p95 = _percentile(response, 0.95)
    ok_calls = sum(1 for c in calls if c["ok"])
    passed = late == 0 and p95 is not None and p95 < OVERHEAD_P95_LIMIT_MS and ok_calls == n
    return {
        "n": n,
        "passed": passed,
        "calls_completed": ok_calls,
        "errors": data["errors"],
        "frames_sent": int(frames),
        "frames_late_over_20ms": int(late),
        "frames_within_ms": {le: int(v) for le, v in lateness.items()},
        "overhead_response_ms_p50": _percentile(response, 0.5),
        "overhead_response_ms_p95": p95,
        "overhead_response_ms_max": _percentile(response, 1.0),
        "stt_wait_ms_p95": _percentile(stt_wait, 0.95),
        "client_end_of_speech_to_first_audio_ms_p50": _percentile(client, 0.5),
        "client_max_arrival_gap_ms_p95": _percentile(gaps, 0.95),
    }


def _stt_decode_ms(samples: int = 5) -> dict[str, Any]:
    """pocketsphinx (clinic domain model) on the benchmark sentence, one utterance at a time."""
    from voicerouter.providers.speech.domain import domain_phrases
    from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT

    pcm = _spoken_question()

    async def measure() -> dict[str, Any]:
        stt = PocketsphinxSTT.for_domain(domain_phrases("clinic"))
        try:
            await stt.warm_up()
            times, text = [], ""
            for _ in range(samples):
                started = time.perf_counter()
                text = (await stt.transcribe(pcm, 16000)).text
                times.append((time.perf_counter() - started) * 1000)
        finally:
            await stt.aclose()
        return {
            "median_ms": round(statistics.median(times), 1),
            "audio_ms": round(len(pcm) / 32, 1),
            "text": text,
        }

    return asyncio.run(measure())


def _tts_first_chunk_ms(samples: int = 5) -> dict[str, Any]:
    """espeak-ng on an answer-length sentence, one at a time: time to its first chunk and to its end."""
    from voicerouter.providers.speech.espeak_tts import EspeakTTS

    async def measure() -> dict[str, Any]:
        tts = EspeakTTS(sample_rate_hz=16000)
        first, total = [], []
        for _ in range(samples):
            started = time.perf_counter()
            seen = False
            async for _chunk in tts.synthesize("We're open Saturday 9 am to noon and closed on Sundays."):
                if not seen:
                    first.append((time.perf_counter() - started) * 1000)
                    seen = True
            total.append((time.perf_counter() - started) * 1000)
        return {
            "median_ms": round(statistics.median(first), 1),
            "whole_sentence_ms": round(statistics.median(total), 1),
        }

    return asyncio.run(measure())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("bench", "server", "callers"), default="bench")
    parser.add_argument("--sweep", default=",".join(map(str, DEFAULT_SWEEP)), help="caller counts to try")
    parser.add_argument("--max-n", type=int, default=100)
    parser.add_argument("--ramp", type=float, default=3.0, help="seconds over which callers join")
    parser.add_argument("--tts", choices=("tone", "espeak"), default="tone")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", default="")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument(
        "--recordings", default="", help="server role: recordings folder (default: a temp one)"
    )
    parser.add_argument("--workers", type=int, default=None,
                        help=f"server role: serving processes (default ${WORKERS_ENV} or 1)")  # fmt: skip
    args = parser.parse_args(argv or [])
    if args.role == "server":
        if args.recordings:
            Path(args.recordings).mkdir(parents=True, exist_ok=True)
            asyncio.run(_serve(args.port, args.tts, Path(args.recordings), args.workers))
        else:
            with tempfile.TemporaryDirectory() as recordings:
                asyncio.run(_serve(args.port, args.tts, Path(recordings), args.workers))
        return {}
    if args.role == "callers":
        result = asyncio.run(_callers(args.url, args.n, args.ramp, _spoken_question()))
        print(json.dumps(result), flush=True)
        return result

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "server", "--port", str(args.port), "--tts", args.tts],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    steps: list[dict[str, Any]] = []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        base = line.split()[1]
        for n in [int(x) for x in args.sweep.split(",") if x.strip()]:
            if n > args.max_n:
                break
            step = _run_step(base, n, args.ramp)
            steps.append(step)
            print(json.dumps(step), flush=True)
            if not step["passed"]:
                break
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    passing = [s["n"] for s in steps if s["passed"]]
    result = {
        "tts": args.tts,
        "cpu_count": os.cpu_count(),
        "max_concurrent_calls_passing": max(passing) if passing else 0,
        "criteria": {"late_frame_ms": LATE_MS, "overhead_p95_ms": OVERHEAD_P95_LIMIT_MS},
        "steps": steps,
        "stt_decode_ms": _stt_decode_ms(),
        "tts_first_chunk_ms": _tts_first_chunk_ms(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
