"""Writes simulated calls as recordings, labels beside their turns, in the recorder's own format.

A recording written here replays exactly like one recorded live: `sim replay` reads only its user side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim.faults import Faults
from sim.score import CallScore
from sim.script import CallScript
from voicerouter import events as ev
from voicerouter.store import CallRecorder


def write_recordings(
    scores: Sequence[CallScore], scripts: Sequence[CallScript], directory: Path, faults: Faults | None = None
) -> int:
    """`scores` come seed by seed over `scripts`; with several seeds each file name says its seed. The
    world's faults the call ran with (the script's and `faults`) go in after `call.started`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    several_seeds = len(scores) > len(scripts)
    for n, score in enumerate(scores):
        script = scripts[n % len(scripts)]
        labels = script.labels()
        stem = Path(script.source).stem or script.call_id
        path = directory / (f"{stem}-seed{score.seed}.jsonl" if several_seeds else f"{stem}.jsonl")
        path.unlink(missing_ok=True)
        recorder = CallRecorder(path)
        try:
            world = script.faults.merged(faults or Faults()).world()
            for event in score.events:
                recorder.write(event)
                if isinstance(event, ev.CallStarted) and not world.empty():
                    spec = world.model_dump(exclude_defaults=True)
                    recorder.write(ev.SimFaults(call_id=event.call_id, t_ms=event.t_ms, spec=spec))
                if isinstance(event, ev.TurnStarted) and event.turn_id in labels:
                    recorder.write(labels[event.turn_id])
        finally:
            recorder.close()
        written += 1
    return written
