"""A soak of one `voicerouter serve` process: N calls over /ws, /twilio and SIP with callers that misbehave,
then checks that the server is back where it started.

One server process (HTTP and SIP on loopback) and this process as the callers. Of `--calls` (default 500),
40 % are native WebSocket calls, 30 % Twilio Media Streams and 30 % SIP calls placed by SIPp. Each WebSocket
or Twilio caller (at most `--concurrency` at once, seeded by `--seed`) does one of: a whole call (greeting,
question, answer, hang-up); a hang-up at a random moment (during the greeting, the question or the answer);
a media gap (stops sending frames for 0.5-3 s mid-question, then goes on); or an abrupt drop (the socket
closed without a goodbye). SIP calls stream the question as RTP, then RTP stops (a media gap) and SIPp
hangs up after a random 0.5-4 s. One Twilio stream floods media at 35x real time for 5 s during the soak.
Speech engines are the zero-cost stand-ins of bench_serve_load (an instant recogniser, a tone synthesiser),
so what is measured is the call lifecycle itself.

Figures (the pass criteria of the soak):
- stuck calls: calls still active 10 s after the last caller left (`/healthz`), plus index rows never ended.
- fds and RSS of the server process after the soak, as ratios to a warm baseline taken after `--warm-up`
  calls of each transport (40 /ws, 40 /twilio, 40 SIP, with the flood: enough for the server to reach its
  working set of threads and malloc arenas, which grow to the busiest moment once; measured, 4 -> 9 threads
  and 3 -> 8 arenas, of which 60 warm-up calls reached only part) and `--settle` idle seconds (65:
  closed WebSockets stay referenced by aiohttp's heartbeat timers for up to a minute), and beside it the
  cold figure read 2 s after the server started (nothing lazily loaded yet). RSS is read twice: as is, and
  after the server ran `gc.collect()` and `malloc_trim(0)` (SIGUSR1 in its bench role), which leaves the
  memory still held rather than what the allocator kept cached from the busiest moment; the pass
  criterion is the latter within 1 ± 0.05 of the warm baseline (fds: the same).
- growth per call: the soak runs in `--batches` (5) of equal size, the flood in the middle one; after each
  the trimmed RSS is read (2 s idle), and the least-squares slope over calls is given in MiB per 100 calls
  (a leak shows as a slope; a warm-up plateau does not).
- where the memory is: with each SIGUSR1 the server writes a report (smaps RSS by mapping kind: [heap],
  anonymous mappings, each shared object; mallinfo2; the number of malloc arenas and of threads), before
  and after the trim; the growth between baseline and end, and from cold, is printed per kind.
- recordings valid: every JSONL parses and ends with `call.ended`; every WAV header matches its audio.
- `/healthz` latency p50/p99 while the soak runs (polled every 100 ms; p99 also split into while the flood
  runs and not), wall time of the soak.
Bounded in time (about five minutes for the default on 2 cores, two of them the settle waits); loopback
only; the machine may be shared.

Run from the repository root: `PYTHONPATH=. python benchmarks/bench_soak.py [--calls 500]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUESTION = "what time do you open on saturday"
FLOOD_SPEED = 35.0
FLOOD_S = 5.0
IDLE_WAIT_S = 10.0  # every call must have ended this long after the last caller left
# Closed WebSockets stay referenced by aiohttp's heartbeat timers (30 s heartbeat, then the pong wait) for up
# to a minute before they are freed: measure after that, or the figure counts sockets about to go.
SETTLE_S = 65.0
TRACE_HEAP_ENV = "BENCH_SOAK_TRACE_HEAP"
TRACE_FRAMES = 12
TOLERANCE = 0.05
BATCH_IDLE_S = 2.0  # after each batch, before its trimmed RSS is read (for the slope per 100 calls)

SIP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="voicerouter soak">
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
<pause distribution="uniform" min="500" max="4000"/>
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
        "rtp_port_min = 44000\nrtp_port_max = 45999\n"
    )
    settings = ServeSettings(host="127.0.0.1", port=http_port, recordings_dir=workdir / "recordings",
                             speech="offline", sip_port=sip_port, config_path=str(config))  # fmt: skip
    app = create_app(settings, speech=SpeechEngines(ToneTTS(), build_stt), env={})

    def ready(address: str) -> None:
        print(f"READY {address.split()[0]} {os.getpid()}", flush=True)

    if os.environ.get(TRACE_HEAP_ENV):
        import tracemalloc

        tracemalloc.start(TRACE_FRAMES)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _collect_and_trim, workdir)
    await run_server(settings, app=app, ready=ready)


def _collect_and_trim(workdir: Path) -> None:
    """SIGUSR1 in the server: free what is garbage and hand free heap pages back to the kernel, so that RSS
    shows the memory still held rather than what the allocator keeps cached from the busiest moment. With
    `--trace-heap`, also save a tracemalloc snapshot (heap-1 is the baseline, heap-2 after the soak)."""
    import gc
    import tracemalloc

    gc.collect()
    if tracemalloc.is_tracing():
        taken = len(list(workdir.glob("heap-*.snapshot")))
        partial = workdir / f"heap-{taken + 1}.partial"
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(workdir / f"heap-{taken + 1}.snapshot")
    report: dict[str, Any] = {"before_trim": _memory_report()}
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    report["after_trim"] = _memory_report()
    taken = len(list(workdir.glob("memory-*.json")))
    partial = workdir / f"memory-{taken + 1}.partial"
    partial.write_text(json.dumps(report))
    partial.rename(workdir / f"memory-{taken + 1}.json")


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
              "keepcost")  # fmt: skip


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _memory_report() -> dict[str, Any]:
    """Where this process's resident memory is (KiB): smaps by mapping kind, glibc's own accounting
    (mallinfo2: `arena` = main-arena sbrk bytes, `hblkhd` = mmapped blocks, `uordblks` in use, `fordblks`
    free but kept; all arenas summed), the number of malloc arenas and of threads."""
    by_kind: dict[str, int] = {}
    kind = "?"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            path = head[5].strip() if len(head) == 6 else ""
            kind = path if path.startswith("[") else (Path(path).name if path else "[anon]")
            if ".cpython-" in kind or ".so" in kind:
                kind = "so:" + kind.split(".cpython-")[0].split(".so")[0]
        elif line.startswith("Rss:"):
            by_kind[kind] = by_kind.get(kind, 0) + int(line.split()[1])
    libc = ctypes.CDLL("libc.so.6")
    info: dict[str, int] = {}
    with contextlib.suppress(AttributeError):
        libc.mallinfo2.restype = _MallInfo2
        raw = libc.mallinfo2()
        info = {name: getattr(raw, name) // 1024 for name in _MALLINFO2}
    arenas = -1
    with contextlib.suppress(OSError, AttributeError), tempfile.NamedTemporaryFile("r") as xml:
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
        handle = libc.fopen(xml.name.encode(), b"w")
        libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
        libc.fclose.argtypes = (ctypes.c_void_p,)
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        arenas = xml.read().count("<heap nr=")
    threads = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("Threads:")))  # fmt: skip
    return {"rss_kib": sum(by_kind.values()), "by_kind_kib": by_kind, "mallinfo2_kib": info,
            "arenas": arenas, "threads": threads}  # fmt: skip


# ---------------------------------------------------------------- the callers


def _caller_class() -> Any:
    from voicerouter.caller.client import CallerClient

    class MisbehavingCaller(CallerClient):  # type: ignore[misc]
        """A caller whose microphone can go silent on the wire (no frames at all) and who can vanish."""

        muted_until = 0.0

        async def _send_audio(self, pcm16: bytes) -> None:
            if time.monotonic() >= self.muted_until:
                await super()._send_audio(pcm16)

        async def drop(self) -> None:
            """Gone without a goodbye: the socket closes, nothing else is said."""
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
            if self._ws is not None:
                await self._ws.close()
            if self._session is not None:
                await self._session.close()
                self._session = None

    return MisbehavingCaller


async def _ws_call(url: str, twilio: bool, question: bytes, behaviour: str, rng: random.Random) -> str:
    caller = _caller_class()(url, twilio=twilio, rate_hz=None if twilio else 16000)
    await caller.__aenter__()
    try:
        if behaviour == "hang_up":
            moment = rng.uniform(0.05, 6.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_whole_call(caller, question), moment)
        elif behaviour == "gap":
            await caller.wait_for_agent_silence(0.7, timeout_s=30.0)
            speaking = asyncio.ensure_future(caller.say(question))
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            caller.muted_until = time.monotonic() + rng.uniform(0.5, 3.0)
            await speaking
            await caller.wait_for_agent_audio(timeout_s=30.0)
            await asyncio.sleep(1.0)
        elif behaviour == "drop":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_whole_call(caller, question), rng.uniform(0.05, 6.0))
            await caller.drop()
            return behaviour
        else:
            await _whole_call(caller, question)
    finally:
        await caller.hang_up()
    return behaviour


async def _whole_call(caller: Any, question: bytes) -> None:
    await caller.wait_for_agent_silence(0.7, timeout_s=30.0)
    await caller.say(question)
    await caller.wait_for_agent_audio(timeout_s=30.0)
    await asyncio.sleep(1.5)


async def _flood(url: str, question_ulaw: bytes) -> int:
    """A Twilio stream sending its media FLOOD_SPEED times faster than real time; frames sent."""
    import aiohttp

    ws_url = url.replace("http://", "ws://") + "/twilio"
    sid = "MZflood"
    sent = 0
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url) as ws:
                await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await ws.send_str(json.dumps({"event": "start", "streamSid": sid, "start": {
                    "streamSid": sid, "callSid": "CAflood", "accountSid": "ACflood", "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {"caller": "flood"}}}))  # fmt: skip
                frames = [question_ulaw[i : i + 160] for i in range(0, len(question_ulaw) - 159, 160)]
                interval = 0.02 / FLOOD_SPEED
                deadline = time.monotonic() + FLOOD_S
                while time.monotonic() < deadline and not ws.closed:
                    payload = base64.b64encode(frames[sent % len(frames)]).decode("ascii")
                    await ws.send_str(json.dumps({"event": "media", "streamSid": sid, "media": {
                        "track": "inbound", "chunk": str(sent), "timestamp": str(sent * 20),
                        "payload": payload}}))  # fmt: skip
                    sent += 1
                    await asyncio.sleep(interval)
        except (aiohttp.ClientError, ConnectionError):
            pass  # the server may close a stream that floods: that is its right
    return sent


async def _poll_health(
    url: str, pid: int, stop: asyncio.Event, samples: list[tuple[float, float]], rss: list[int]
) -> None:
    """(time, /healthz latency ms) every 100 ms, and the server's RSS beside it."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            rss.append(_process_figures(pid)[1])
            started = time.monotonic()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    await r.read()
                samples.append((started, (time.monotonic() - started) * 1000))
            await asyncio.sleep(0.1)


def _sip_calls(sip_port: int, n: int, workdir: Path, audio: Path) -> subprocess.Popen[str] | None:
    if n <= 0:
        return None
    scenario = workdir / "soak.xml"
    scenario.write_text(SIP_SCENARIO.replace("{audio}", str(audio)))
    return subprocess.Popen(
        ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", "clinic", "-m", str(n), "-l", "15",
         "-r", "5", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", "47000", "-nostdin", "-timeout", "600",
         "-timeout_error", "-trace_stat", "-fd", "1"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _split(n: int) -> tuple[int, int, int]:
    """/ws, /twilio and SIP calls of n: 40 %, 30 %, 30 % (no SIP without SIPp)."""
    n_sip = round(n * 0.3) if shutil.which("sipp") else 0
    n_twilio = round(n * 0.3)
    return n - n_sip - n_twilio, n_twilio, n_sip


async def _soak(url: str, pid: int, sip_port: int, counts: tuple[int, int, int], concurrency: int, seed: int,
                workdir: Path, audio: Path, *, flood_stream: bool = True) -> dict[str, Any]:  # fmt: skip
    from voicerouter.caller.client import load_wav

    question = load_wav(workdir / "question.wav", 16000)
    question_ulaw = await asyncio.to_thread(audio.read_bytes)
    rng = random.Random(seed)
    n_ws, n_twilio, n_sip = counts
    if not shutil.which("sipp"):
        n_sip = 0
    plan = [("ws", False)] * n_ws + [("twilio", True)] * n_twilio
    rng.shuffle(plan)
    behaviours = ("whole", "hang_up", "gap", "drop")
    health: list[tuple[float, float]] = []
    rss: list[int] = []
    stop = asyncio.Event()
    poller = asyncio.ensure_future(_poll_health(url, pid, stop, health, rss))
    started = time.monotonic()
    sipp = _sip_calls(sip_port, n_sip, workdir, audio)
    limit = asyncio.Semaphore(concurrency)
    outcome: dict[str, int] = {}

    async def one(twilio: bool, behaviour: str, call_rng: random.Random) -> None:
        async with limit:
            try:
                await _ws_call(url, twilio, question, behaviour, call_rng)
                outcome[behaviour] = outcome.get(behaviour, 0) + 1
            except Exception as exc:  # a caller-side failure is a figure, not a crash of the soak
                key = f"client_error:{type(exc).__name__}"
                outcome[key] = outcome.get(key, 0) + 1

    jobs = [one(twilio, rng.choice(behaviours), random.Random(rng.random())) for _, twilio in plan]
    flood_at = len(jobs) // 3

    flood_window: list[float] = []

    async def flood_later() -> int:
        await asyncio.sleep(max(1.0, flood_at / max(1, concurrency)))
        flood_window.append(time.monotonic())
        try:
            return await _flood(url, question_ulaw)
        finally:
            flood_window.append(time.monotonic())

    flood = asyncio.ensure_future(flood_later()) if flood_stream else None
    await asyncio.gather(*jobs)
    flood_frames = await flood if flood is not None else 0
    sipp_exit = None
    sipp_stat = ""
    if sipp is not None:
        out, _ = await asyncio.to_thread(sipp.communicate)
        sipp_exit = sipp.returncode
        sipp_stat = out[-600:] if sipp_exit else ""
    wall_s = time.monotonic() - started
    stop.set()
    await poller
    return {
        "calls": {"ws": n_ws, "twilio": n_twilio, "sip": n_sip},
        "behaviours": outcome,
        "flood_frames_sent": flood_frames,
        "sipp_exit": sipp_exit,
        "sipp_errors": sipp_stat,
        "soak_wall_s": round(wall_s, 1),
        "_health": [(ms, _within(at, flood_window)) for at, ms in health],
        "_rss": rss,
        "healthz_p50_ms": _percentile([ms for _, ms in health], 0.5),
        "healthz_p99_ms": _percentile([ms for _, ms in health], 0.99),
        "healthz_p99_ms_flooding": _percentile([ms for at, ms in health if _within(at, flood_window)], 0.99),
        "healthz_p99_ms_not_flooding": _percentile(
            [ms for at, ms in health if not _within(at, flood_window)], 0.99
        ),
        # server RSS at each quarter of the soak: a leak grows with calls, a warm-up plateau does not
        "rss_mib_by_quarter": [
            round(rss[min(len(rss) - 1, len(rss) * q // 4)] / 1024, 1) for q in (1, 2, 3, 4)
        ]
        if rss
        else [],
    }


# ---------------------------------------------------------------- checks


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)


def _within(at: float, window: list[float]) -> bool:
    return len(window) == 2 and window[0] <= at <= window[1] + 1.0  # and the second after, while it drains


def _quarters(rss_kib: list[int]) -> list[float]:
    if not rss_kib:
        return []
    return [round(rss_kib[min(len(rss_kib) - 1, len(rss_kib) * q // 4)] / 1024, 1) for q in (1, 2, 3, 4)]


def _process_figures(pid: int) -> tuple[int, int]:
    """Open fds and resident memory (KiB) of the server process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return fds, rss_kib


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def _trimmed_rss(pid: int, workdir: Path, tracing: bool) -> int:
    snapshots = len(list(workdir.glob("heap-*.snapshot")))
    os.kill(pid, signal.SIGUSR1)
    time.sleep(1.0)
    deadline = time.monotonic() + 120.0  # a traced heap takes a while to dump; the server is busy meanwhile
    while tracing and len(list(workdir.glob("heap-*.snapshot"))) <= snapshots and time.monotonic() < deadline:
        time.sleep(0.5)
    return _process_figures(pid)[1]


def _latest_memory(workdir: Path) -> dict[str, Any]:
    reports = sorted(workdir.glob("memory-*.json"), key=lambda path: int(path.stem.split("-")[1]))
    return json.loads(reports[-1].read_text()) if reports else {}


def _memory_growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What grew between two memory reports, before and after malloc_trim: mapping kinds whose RSS changed
    by 256 KiB or more, glibc's counters, arenas and threads."""
    growth: dict[str, Any] = {}
    for phase in ("before_trim", "after_trim"):
        if phase not in before or phase not in after:
            continue
        b, a = before[phase], after[phase]
        kinds = set(b["by_kind_kib"]) | set(a["by_kind_kib"])
        deltas = {k: a["by_kind_kib"].get(k, 0) - b["by_kind_kib"].get(k, 0) for k in kinds}
        growth[phase] = {
            "rss": a["rss_kib"] - b["rss_kib"],
            "by_kind": dict(
                sorted(((k, d) for k, d in deltas.items() if abs(d) >= 256), key=lambda kd: -abs(kd[1]))
            ),
            "mallinfo2": {
                k: a["mallinfo2_kib"].get(k, 0) - v
                for k, v in b["mallinfo2_kib"].items()
                if k in ("arena", "hblkhd", "uordblks", "fordblks", "keepcost")
            },
            "arenas": [b["arenas"], a["arenas"]],
            "threads": [b["threads"], a["threads"]],
        }
    return growth


def _slope_per_100(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of RSS (KiB) over calls, as MiB per 100 calls."""
    if len(points) < 2:
        return None
    xs, ys = [float(x) for x, _ in points], [float(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return round(slope * 100 / 1024, 2)


def _get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # loopback only; a traced server is slow
        return json.loads(response.read())


def _wait_idle(url: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    active = -1
    while time.monotonic() < deadline:
        active = int(_get_json(f"{url}/healthz")["active_calls"])
        if active == 0:
            return 0
        time.sleep(0.2)
    return active


def _check_recordings(directory: Path) -> dict[str, Any]:
    from voicerouter.call.repair import wav_header_matches
    from voicerouter.store import read_recording

    bad: list[str] = []
    jsonl = sorted(directory.glob("*.jsonl"))
    for path in jsonl:
        recording = read_recording(path)
        types = [e.type for e in recording.events]
        if recording.errors or not types or types[0] != "call.started" or types[-1] != "call.ended":
            bad.append(f"{path.name}: {recording.errors[:1] or types[-1:]}")
    wavs = sorted(directory.glob("*.wav"))
    for path in wavs:
        try:
            with wave.open(str(path)) as handle:
                handle.readframes(handle.getnframes())
            if not wav_header_matches(path):
                bad.append(f"{path.name}: header sizes do not match the file")
        except (wave.Error, EOFError, OSError) as exc:
            bad.append(f"{path.name}: {exc}")
    return {"jsonl": len(jsonl), "wav": len(wavs), "invalid": len(bad), "invalid_examples": bad[:5]}


def _print_heap_growth(workdir: Path, top: int) -> None:
    """The allocation sites whose live memory grew most between the baseline and the end (to stderr)."""
    import tracemalloc

    before = tracemalloc.Snapshot.load(str(workdir / "heap-1.snapshot"))
    after = tracemalloc.Snapshot.load(str(workdir / "heap-2.snapshot"))
    total = sum(s.size for s in after.traces) - sum(s.size for s in before.traces)
    print(f"traced heap grew {total / 1024:.0f} KiB", file=sys.stderr)
    for stat in after.compare_to(before, "traceback")[:top]:
        print(f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks", file=sys.stderr)
        for line in stat.traceback.format(limit=TRACE_FRAMES, most_recent_first=True)[:12]:
            print("   ", line, file=sys.stderr)


# ---------------------------------------------------------------- orchestration


def _spoken_question(directory: Path) -> Path:
    wav, raw = directory / "question.wav", directory / "question.ulaw"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), QUESTION], check=True, capture_output=True)
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)], check=True
    )
    return raw


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--role", choices=("bench", "server"), default="bench")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=25, help="WebSocket/Twilio callers at once")
    parser.add_argument("--warm-up", type=int, default=40, help="calls of each transport before the baseline")
    parser.add_argument("--batches", type=int, default=5, help="soak batches; RSS is read after each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds idle before fds/RSS are read")
    parser.add_argument("--port", type=int, default=18491)
    parser.add_argument("--sip-port", type=int, default=15491)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--trace-heap", type=int, default=0, metavar="N",
                        help="trace the server heap; print the N sites that grew most")  # fmt: skip
    args = parser.parse_args(argv or [])
    if args.role == "server":
        asyncio.run(_serve(args.port, args.sip_port, Path(args.workdir)))
        return {}
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        print("bench_soak: needs espeak-ng and sox; skipped")
        return {"skipped": "espeak-ng or sox missing"}
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    if args.trace_heap:
        env[TRACE_HEAP_ENV] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        audio = _spoken_question(workdir)
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
            _, url, pid_text = line.split()
            pid = int(pid_text)
            time.sleep(2.0)
            fds_cold, rss_cold = _process_figures(pid)  # right after start: nothing lazily loaded yet
            rss_trimmed_cold = _trimmed_rss(pid, workdir, False)
            memory_cold = _latest_memory(workdir)
            warm_counts = (args.warm_up, args.warm_up, args.warm_up if shutil.which("sipp") else 0)
            warm = asyncio.run(
                _soak(url, pid, args.sip_port, warm_counts, args.concurrency, args.seed + 1, workdir, audio)
            )
            _wait_idle(url, 30.0)
            time.sleep(args.settle)
            fds_before, rss_before = _process_figures(pid)
            rss_trimmed_before = _trimmed_rss(pid, workdir, bool(args.trace_heap))
            memory_before = _latest_memory(workdir)
            batches: list[dict[str, Any]] = []
            by_batch: list[tuple[int, int]] = []  # (calls so far, trimmed RSS KiB after the batch)
            done = 0
            for b in range(args.batches):
                n = args.calls * (b + 1) // args.batches - done
                batches.append(asyncio.run(
                    _soak(url, pid, args.sip_port, _split(n), args.concurrency, args.seed + 100 * b, workdir,
                          audio, flood_stream=b == args.batches // 2)
                ))  # fmt: skip
                done += n
                _wait_idle(url, IDLE_WAIT_S)
                time.sleep(BATCH_IDLE_S)
                by_batch.append((done, _trimmed_rss(pid, workdir, False)))
            still_active = _wait_idle(url, IDLE_WAIT_S)
            time.sleep(args.settle)
            fds_after, rss_after = _process_figures(pid)
            rss_trimmed_after = _trimmed_rss(pid, workdir, bool(args.trace_heap))
            memory_after = _latest_memory(workdir)
            rows = _get_json(f"{url}/calls?limit=1000")["calls"]
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                exit_code = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                exit_code = server.wait()
        recordings = _check_recordings(workdir / "recordings")
        if args.trace_heap:
            _print_heap_growth(workdir, args.trace_heap)
    unended = sum(1 for row in rows if not row.get("ended"))
    fds_ratio = fds_after / fds_before
    rss_ratio = rss_after / rss_before
    health = [h for batch in batches for h in batch.pop("_health")]
    rss_series = [r for batch in batches for r in batch.pop("_rss")]
    warm.pop("_health"), warm.pop("_rss")
    result: dict[str, Any] = {
        "calls": {k: sum(b["calls"][k] for b in batches) for k in ("ws", "twilio", "sip")},
        "behaviours": {
            k: sum(b["behaviours"].get(k, 0) for b in batches)
            for k in sorted({k for b in batches for k in b["behaviours"]})
        },
        "flood_frames_sent": sum(b["flood_frames_sent"] for b in batches),
        "sipp_exit": [b["sipp_exit"] for b in batches],
        "sipp_errors": [b["sipp_errors"] for b in batches if b["sipp_errors"]],
        "soak_wall_s": round(sum(b["soak_wall_s"] for b in batches), 1),
        "healthz_p50_ms": _percentile([ms for ms, _ in health], 0.5),
        "healthz_p99_ms": _percentile([ms for ms, _ in health], 0.99),
        "healthz_p99_ms_flooding": _percentile([ms for ms, flooding in health if flooding], 0.99),
        "healthz_p99_ms_not_flooding": _percentile([ms for ms, flooding in health if not flooding], 0.99),
        "rss_mib_by_quarter": _quarters(rss_series),
        "warm_up_calls": warm["calls"],
        "stuck_calls": max(0, still_active) + unended,
        "active_after_settle": still_active,
        "index_rows_not_ended": unended,
        "fds_cold_before_after": [fds_cold, fds_before, fds_after],
        "fds_ratio": round(fds_ratio, 3),
        "rss_mib_cold_before_after": [_mib(rss_cold), _mib(rss_before), _mib(rss_after)],
        "rss_ratio": round(rss_ratio, 3),
        "rss_ratio_to_cold": round(rss_after / rss_cold, 3),
        "rss_trimmed_mib_cold_before_after": [
            _mib(rss_trimmed_cold),
            _mib(rss_trimmed_before),
            _mib(rss_trimmed_after),
        ],
        "rss_trimmed_ratio": round(rss_trimmed_after / rss_trimmed_before, 3),
        "rss_trimmed_ratio_to_cold": round(rss_trimmed_after / rss_trimmed_cold, 3),
        "rss_trimmed_mib_by_batch": [[calls, _mib(kib)] for calls, kib in by_batch],
        "rss_mib_per_100_calls": _slope_per_100(by_batch),
        "memory_growth_kib": _memory_growth(memory_before, memory_after),
        "memory_growth_from_cold_kib": _memory_growth(memory_cold, memory_after),
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "recordings": recordings,
        "server_exit_on_sigterm": exit_code,
    }
    result["passed"] = (
        result["stuck_calls"] == 0
        and abs(fds_ratio - 1) <= TOLERANCE
        and abs(result["rss_trimmed_ratio"] - 1) <= TOLERANCE
        and recordings["invalid"] == 0
    )
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
