"""Closing, at server start, the calls a crash cut off: their recordings get the `call.ended` they never wrote
and valid WAV headers, and their index rows an end.

At start no call of this server is live, so every index row without an end belongs to a process that died
(kill -9, power loss, OOM). Such a call is closed with reason `server_restart` at the time of its last
recorded event. It only repairs what is on disk; it never deletes a recording.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from voicerouter import events as ev
from voicerouter.call.repair import repair_wav_header, trim_torn_line
from voicerouter.store import CallRow, CallStore, RouteSummary, read_recording, summarise_events

log = logging.getLogger(__name__)

RESTART_REASON = "server_restart"


@dataclass
class Reconciled:
    calls: int = 0  # index rows closed
    wav_headers: int = 0  # WAV files whose header sizes were repaired
    torn_lines: int = 0  # JSONL files cut back to their last whole line


@dataclass(frozen=True)
class _Closing:
    ended: str
    reason: str
    turns: int
    cost_usd: float
    wavs: int
    torn: bool
    routes: list[RouteSummary]


async def reconcile_open_calls(store: CallStore, directory: Path, *, prefix: str = "") -> Reconciled:
    """Close every index row that has no end (of a worker: only its own, `prefix`ed calls); call it before
    the server takes calls."""
    done = Reconciled()
    for row in await store.open_calls():
        if not row.call_id.startswith(prefix):
            continue
        try:
            closing = await asyncio.to_thread(_close_recording, row, directory)
        except OSError as exc:
            log.warning("call %s: cut off by a restart; its recording %s could not be repaired: %s",
                        row.call_id, row.path, exc)  # fmt: skip
            closing = _Closing(
                ended=row.started, reason=RESTART_REASON, turns=row.turns, cost_usd=row.cost_usd, wavs=0,
                torn=False, routes=list(row.routes),
            )  # fmt: skip
        await store.call_ended(
            row.call_id,
            turns=closing.turns,
            cost_usd=closing.cost_usd,
            end_reason=closing.reason,
            routes=closing.routes,
            recording=row.recording,
            ended=closing.ended,
        )
        done.calls += 1
        done.wav_headers += closing.wavs
        done.torn_lines += int(closing.torn)
    return done


def _close_recording(row: CallRow, directory: Path) -> _Closing:
    """Blocking: repair the call's files and append its `call.ended` (worker thread)."""
    path = Path(row.path)
    torn = trim_torn_line(path)
    recording = read_recording(path)
    events = recording.events
    last_ms = events[-1].t_ms if events else 0
    turns = sum(isinstance(e, ev.TurnStarted) for e in events)
    cost_usd = round(sum(e.cost_usd for e in events if isinstance(e, ev.TurnCompleted)), 8)
    recorded_end = next((e for e in events if isinstance(e, ev.CallEnded)), None)
    reason = RESTART_REASON
    if recorded_end is not None:  # it died after writing the end, before the index heard of it
        reason, turns, cost_usd = recorded_end.reason, recorded_end.turns, recorded_end.cost_usd
    if recorded_end is None:
        ended = ev.CallEnded(call_id=row.call_id, t_ms=last_ms, reason=RESTART_REASON, turns=turns,
                             cost_usd=cost_usd)  # fmt: skip
        with path.open("a", encoding="utf-8") as handle:
            handle.write(ev.dump_event(ended) + "\n")
    wavs = 0
    for audio in (e for e in events if isinstance(e, ev.CallAudio)):
        wav = directory / audio.path
        if wav.is_file() and repair_wav_header(wav):
            wavs += 1
    started = dt.datetime.fromisoformat(row.started)
    ended_at = (started + dt.timedelta(milliseconds=last_ms)).isoformat(timespec="milliseconds")
    routes = summarise_events(events)["routes"]
    return _Closing(
        ended=ended_at, reason=reason, turns=turns, cost_usd=cost_usd, wavs=wavs, torn=torn, routes=routes
    )
