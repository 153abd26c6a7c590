"""Everything one live call leaves on disk: its JSONL events, both sides' audio as WAV, and its index row.

Files live in the recordings folder as `<call_id>.jsonl`, `<call_id>.caller.wav` and `<call_id>.agent.wav`;
`call.audio` events name the WAV files relative to that folder. It records; it never decides anything.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from voicerouter import events as ev
from voicerouter.call.wav_track import WavTrack
from voicerouter.store import CallRecorder, CallRow, CallStore, summarise_events, utc_now

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0  # audio a crash can lose


class CallRecording:
    def __init__(
        self, directory: Path | None, call_id: str, *, rate_hz: int, store: CallStore | None = None
    ) -> None:
        self.directory = directory
        self.call_id = call_id
        self.store = store
        self._events: list[ev.Event] = []
        self.recorder: CallRecorder | None = None
        self.caller_track: WavTrack | None = None
        self.agent_track: WavTrack | None = None
        if directory is not None:
            self.recorder = CallRecorder.in_dir(directory, call_id)
            self.caller_track = WavTrack(directory / f"{call_id}.caller.wav", rate_hz)
            self.agent_track = WavTrack(directory / f"{call_id}.agent.wav", rate_hz)

    @property
    def path(self) -> Path | None:
        return self.recorder.path if self.recorder else None

    def audio_references(self) -> list[tuple[str, WavTrack]]:
        return [(side, track) for side, track in (("caller", self.caller_track), ("agent", self.agent_track))
                if track is not None]  # fmt: skip

    def write(self, event: ev.Event) -> None:
        if isinstance(event, ev.RouteDecided | ev.CallEnded | ev.CallStarted):
            self._events.append(event)  # what the index needs; the file has everything
        if self.recorder is not None:
            self.recorder.write(event)

    async def started(self, *, agent: str, transport: str, caller: str) -> None:
        if self.store is None or self.path is None:
            return
        row = CallRow(call_id=self.call_id, agent=agent, transport=transport, caller=caller,
                      started=utc_now(),
                      path=str(self.path))  # fmt: skip
        await self.store.call_started(row)

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            for _, track in self.audio_references():
                await track.flush()

    async def close(self) -> None:
        for _, track in self.audio_references():
            await track.close()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)
        if self.store is not None and self.path is not None:
            summary = summarise_events(self._events)
            await self.store.call_ended(
                self.call_id,
                turns=summary.get("turns", 0),
                cost_usd=summary.get("cost_usd", 0.0),
                end_reason=summary.get("end_reason", "unknown"),
                routes=summary["routes"],
            )
