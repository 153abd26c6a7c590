"""Everything one live call leaves on disk: its JSONL events, both sides' audio as WAV, and its index row.

Files live in the recordings folder as `<call_id>.jsonl`, `<call_id>.caller.wav` and `<call_id>.agent.wav`;
`call.audio` events name the WAV files relative to that folder. It records; it never decides anything, and
a failed write (full disk, read-only or failing device) never reaches the call: the call goes on unrecorded,
one ERROR line and `voicerouter_recording_errors_total` say so, and the index row says `recording: failed`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import tempfile
from pathlib import Path

from voicerouter import events as ev
from voicerouter.call.repair import repair_wav_header, trim_torn_line
from voicerouter.call.wav_track import WavTrack
from voicerouter.metrics import Counter
from voicerouter.store import CallRecorder, CallRow, CallStore, summarise_events, utc_now

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0  # audio a crash can lose


class RecordingsDirError(OSError):
    """The recordings folder cannot be written; the message names it."""


def check_recordings_dir(directory: Path) -> None:
    """Create the folder if needed and prove a file can be written in it, or raise naming the path."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RecordingsDirError(f"recordings folder {directory} is not writable: {reason}") from None


def _error_name(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return errno.errorcode[code]
    return type(exc).__name__


class CallRecording:
    def __init__(
        self,
        directory: Path | None,
        call_id: str,
        *,
        rate_hz: int,
        store: CallStore | None = None,
        errors: Counter | None = None,
    ) -> None:
        self.directory = directory
        self.call_id = call_id
        self.store = store
        self.errors = errors  # counts failures by errno name (label "error")
        self.failure: str | None = None  # the first write error, once recording has stopped
        self._events: list[ev.Event] = []
        self._path: Path | None = None
        self.recorder: CallRecorder | None = None
        self.caller_track: WavTrack | None = None
        self.agent_track: WavTrack | None = None
        self._abandoned: list[WavTrack] = []
        if directory is not None:
            self._path = directory / f"{call_id}.jsonl"
            try:
                self.recorder = CallRecorder(self._path)
            except OSError as exc:
                self._failed("opening", self._path, exc)
                return
            self.caller_track = WavTrack(directory / f"{call_id}.caller.wav", rate_hz)
            self.agent_track = WavTrack(directory / f"{call_id}.agent.wav", rate_hz)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def _failed(self, doing: str, path: Path, exc: BaseException) -> None:
        """Stop recording this call at its first write error; later ones are the same failure."""
        if self.failure is not None:
            return
        self.failure = f"{doing} {path}: {exc}"
        if self.errors is not None:
            self.errors.inc(1, _error_name(exc))
        log.error("call %s: recording stopped, the call goes on unrecorded: %s", self.call_id, self.failure)
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.abandon()
        for track in (self.caller_track, self.agent_track):
            if track is not None:
                self._abandoned.append(track)
        self.caller_track = self.agent_track = None  # the pipeline stops handing audio over

    def audio_references(self) -> list[tuple[str, WavTrack]]:
        return [(side, track) for side, track in (("caller", self.caller_track), ("agent", self.agent_track))
                if track is not None]  # fmt: skip

    def write(self, event: ev.Event) -> None:
        if isinstance(event, ev.RouteDecided | ev.CallEnded | ev.CallStarted):
            self._events.append(event)  # what the index needs; the file has everything
        if self.recorder is not None:
            try:
                self.recorder.write(event)
            except OSError as exc:
                self._failed("writing", self.recorder.path, exc)

    async def started(self, *, agent: str, transport: str, caller: str) -> None:
        if self.store is None or self.path is None:
            return
        row = CallRow(call_id=self.call_id, agent=agent, transport=transport, caller=caller,
                      started=utc_now(), path=str(self.path),
                      recording="failed" if self.failed else "ok")  # fmt: skip
        try:
            await self.store.call_started(row)
        except (sqlite3.Error, OSError) as exc:
            log.error("call %s: the call index could not list it: %s", self.call_id, exc)

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self._flush_tracks()
            await self._settle_abandoned()

    async def _flush_tracks(self, *, final: bool = False) -> None:
        for _, track in self.audio_references():
            try:
                await (track.close() if final else track.flush())
            except OSError as exc:
                self._failed("writing", track.path, exc)

    async def _settle_abandoned(self) -> None:
        """Close what a write error left open and leave valid files behind (headers matching the audio)."""
        abandoned, self._abandoned = self._abandoned, []
        for track in abandoned:
            await track.abandon()
            try:
                await asyncio.to_thread(repair_wav_header, track.path)
            except OSError:
                pass  # nothing on disk, or nothing more this disk lets us do
        if abandoned and self.path is not None:
            try:
                await asyncio.to_thread(trim_torn_line, self.path)
            except OSError:
                pass

    async def close(self) -> None:
        await self._flush_tracks(final=True)
        if self.recorder is not None:
            try:
                await asyncio.to_thread(self.recorder.close)
            except OSError as exc:
                self._failed("closing", self.recorder.path, exc)
        await self._settle_abandoned()
        if self.store is not None and self.path is not None:
            summary = summarise_events(self._events)
            try:
                await self.store.call_ended(
                    self.call_id,
                    turns=summary.get("turns", 0),
                    cost_usd=summary.get("cost_usd", 0.0),
                    end_reason=summary.get("end_reason", "unknown"),
                    routes=summary["routes"],
                    recording="failed" if self.failed else "ok",
                )
            except (sqlite3.Error, OSError) as exc:
                log.error("call %s: the call index could not record its end: %s", self.call_id, exc)
