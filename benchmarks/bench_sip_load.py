"""How many concurrent SIP phone calls one `voicerouter serve` process carries with every RTP packet on time.

One server process (`--sip-port`, on loopback) and SIPp placing N calls at once. Every call is a real SIP
call with RTP both ways: INVITE (PCMU + telephone-event), ACK, SIPp streams "what time do you open on
saturday" (espeak-ng audio as 8 kHz µ-law RTP), the agent greets, answers and is heard for the rest of the
call, then SIPp hangs up with BYE. Calls start at `--rate` per second and last `--hold` seconds, so all N
overlap. The model is the offline agent model; speech engines are the zero-cost stand-ins of
bench_serve_load (an instant recogniser returning the sentence, a tone synthesiser), so what is measured is
the SIP/RTP media path itself: the per-call RTP tick, jitter buffer, G.711, the pipeline's VAD and pacing.

Definition (measured by the server on its monotonic clock, read from /metrics before and after a run):
- late RTP packet: one sent more than 20 ms (one packet time) after its slot on the call's RTP timeline
  (slot k = first packet + 20 ms * k), or skipped for being too late
  (`voicerouter_sip_rtp_packets_late_total`).
A run of N passes when SIPp completes every call and no RTP packet was late. The result is the largest
passing N of the sweep (it stops at the first failure). Bounded in time (each run about `--hold` + N/rate
seconds); loopback only. The machine may be shared: run it more than once.

Run from the repository root: `PYTHONPATH=. python benchmarks/bench_sip_load.py [--sweep 25,50,75,100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SWEEP = (25, 50, 75, 100)
QUESTION = "what time do you open on saturday"

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="voicerouter sip load">
<send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200" rtd="true"/>
<send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
]]></send>
<nop><action><exec rtp_stream="{audio},1,0"/></action></nop>
<pause milliseconds="{hold_ms}"/>
<send retrans="500"><![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
]]></send>
<recv response="200"/>
</scenario>
"""


# ---------------------------------------------------------------- server role (a subprocess)


async def _serve(http_port: int, sip_port: int, workdir: Path) -> None:
    sys.path.insert(0, str(HERE))
    from bench_serve_load import InstantSTT, ToneTTS

    from voicerouter.providers.speech.registry import SpeechEngines
    from voicerouter.server import ServeSettings, create_app, run_server

    async def build_stt(agent: str) -> Any:
        return InstantSTT()

    config = workdir / "voicerouter.toml"
    config.write_text(
        "[sip]\nmax_calls = 500\ncalls_per_minute_per_source = 100000\nburst_per_source = 1000\n"
        "rtp_port_min = 42000\nrtp_port_max = 43999\n"
    )
    settings = ServeSettings(host="127.0.0.1", port=http_port, recordings_dir=workdir / "recordings",
                             speech="offline", sip_port=sip_port, config_path=str(config))  # fmt: skip
    app = create_app(settings, speech=SpeechEngines(ToneTTS(), build_stt), env={})

    def ready(address: str) -> None:
        print(f"READY {address.split()[0]}", flush=True)

    await run_server(settings, app=app, ready=ready)


# ---------------------------------------------------------------- orchestration


def _metrics(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # loopback only
        text: str = response.read().decode("utf-8")
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _spoken_question(directory: Path) -> Path:
    """The question as SIPp 3.6's rtp_stream plays it: raw 8 kHz µ-law bytes (it skips no header)."""
    wav, raw = directory / "question.wav", directory / "question.ulaw"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), QUESTION], check=True, capture_output=True)
    to_ulaw = ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)]
    subprocess.run(to_ulaw, check=True)
    return raw


def _run_step(base: str, sip_port: int, n: int, rate: int, hold_s: float, workdir: Path) -> dict[str, Any]:
    scenario = workdir / "load.xml"
    audio = _spoken_question(workdir)
    scenario.write_text(SCENARIO.replace("{audio}", str(audio)).replace("{hold_ms}", str(int(hold_s * 1000))))
    before = _metrics(base)
    started = time.monotonic()
    timeout_s = int(hold_s + n / rate + 30)
    sipp = subprocess.run(
        ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", "clinic", "-m", str(n), "-l", str(n),
         "-r", str(rate), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", "46000", "-nostdin",
         "-timeout", str(timeout_s), "-timeout_error", "-trace_stat", "-fd", "1"],
        cwd=workdir, capture_output=True, text=True, timeout=timeout_s + 30, check=False,
    )  # fmt: skip
    wall_s = time.monotonic() - started
    time.sleep(1.0)  # the last calls' pipelines close and their metrics settle
    after = _metrics(base)
    sent = _delta(before, after, "voicerouter_sip_rtp_packets_sent_total")
    late = _delta(before, after, "voicerouter_sip_rtp_packets_late_total")
    within = {
        le: int(_delta(before, after, f'voicerouter_sip_rtp_lateness_ms_bucket{{le="{le}"}}'))
        for le in ("1", "2", "5", "10", "20")
    }
    answered = _delta(before, after, 'voicerouter_sip_calls_total{outcome="answered"}')
    passed = sipp.returncode == 0 and late == 0 and answered == n
    return {
        "n": n,
        "passed": passed,
        "sipp_exit": sipp.returncode,
        "calls_answered": int(answered),
        "wall_s": round(wall_s, 1),
        "rtp_packets_sent": int(sent),
        "rtp_packets_received": int(_delta(before, after, "voicerouter_sip_rtp_packets_received_total")),
        "rtp_packets_late_over_20ms": int(late),
        "rtp_packets_within_ms": within,
        "agent_frames_late_over_20ms": int(_delta(before, after, "voicerouter_outbound_frames_late_total")),
        "sipp_errors": sipp.stdout[-800:] if sipp.returncode else "",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--role", choices=("bench", "server"), default="bench")
    parser.add_argument("--sweep", default=",".join(map(str, DEFAULT_SWEEP)), help="concurrent calls to try")
    parser.add_argument("--max-n", type=int, default=100)
    parser.add_argument("--rate", type=int, default=20, help="new calls per second")
    parser.add_argument("--hold", type=float, default=8.0, help="seconds each call lasts after the ACK")
    parser.add_argument("--port", type=int, default=18481)
    parser.add_argument("--sip-port", type=int, default=15481)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args(argv or [])
    if args.role == "server":
        asyncio.run(_serve(args.port, args.sip_port, Path(args.workdir)))
        return {}
    if shutil.which("sipp") is None or shutil.which("espeak-ng") is None:
        print("bench_sip_load: needs sipp (Debian sip-tester) and espeak-ng; skipped")
        return {"skipped": "sipp or espeak-ng missing"}

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = subprocess.Popen(
            [sys.executable, __file__, "--role", "server", "--port", str(args.port), "--sip-port",
             str(args.sip_port), "--workdir", str(workdir)],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line.startswith("READY "):
                raise RuntimeError(f"server did not start: {line!r}")
            base = line.split()[1]
            for n in [int(x) for x in args.sweep.split(",") if x.strip()]:
                if n > args.max_n:
                    break
                step = _run_step(base, args.sip_port, n, args.rate, args.hold, workdir)
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
    passing = [s["n"] for s in steps if s["passed"]]
    result = {
        "max_concurrent_calls_no_late_rtp": max(passing) if passing else 0,
        "late_ms": 20.0,
        "hold_s": args.hold,
        "steps": steps,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
