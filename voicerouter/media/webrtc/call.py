"""One call over WebRTC: its peer connection, the agent's track, the caller's audio and the events channel.

The call's pipeline opens when the peer connects. Every way a call can end (the page or the agent hangs up,
ICE fails, the peer closes or never connects, the server shuts down) resolves one future, and one task then
closes the pipeline, lets the last events leave, and frees the tracks, the call's tasks and the peer
connection. It never parses HTTP and never touches another call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.media.backpressure import StreamGate
from voicerouter.media.context import ServeContext
from voicerouter.media.webrtc.events import EVENTS_LABEL, EventChannel
from voicerouter.media.webrtc.inbound import pump_caller_audio
from voicerouter.media.webrtc.track import FRAME_MS, RATE_HZ, AgentAudioTrack

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20.0  # offer answered but the peer never connected: give its resources back
DRAIN_TIMEOUT_S = 0.5  # for the last events (call.ended, stop) to leave before the connection closes
PC_CLOSE_TIMEOUT_S = 5.0
MAX_CONTROL_MESSAGE_CHARS = 4096


class OfferRejected(Exception):
    """The offer cannot make a call (malformed SDP, no audio, no common codec): a 400 for the client."""


class WebRTCTransport:
    """The pipeline's view of the far end: audio into the agent's track, messages into the events channel."""

    kind = "webrtc"
    marks = False  # the browser plays what arrives within its jitter buffer; no echo is needed

    def __init__(
        self, track: AgentAudioTrack, events: EventChannel, on_hang_up: Callable[[str], None]
    ) -> None:
        self.track = track
        self.events = events
        self._on_hang_up = on_hang_up

    async def send_audio(self, pcm16: bytes) -> None:
        self.track.enqueue(pcm16)

    async def send_mark(self, name: str) -> None:
        return None

    async def clear(self) -> None:
        self.track.clear()

    def notify(self, payload: dict[str, Any]) -> None:
        self.events.send(payload)

    async def hang_up(self, reason: str) -> None:
        self.events.send({"type": "stop", "reason": reason})
        self._on_hang_up(reason)


class WebRTCCall:
    """Per peer. `answer()` applies the offer and starts the call's lifecycle task; `end()` ends it."""

    def __init__(
        self,
        context: ServeContext,
        *,
        agent: str,
        caller: str,
        on_done: Callable[[WebRTCCall], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.peer_id = uuid.uuid4().hex[:12]
        self.context = context
        self.agent = agent
        self.caller = caller
        self._on_done = on_done
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # the default asks a public STUN server
        self.track = AgentAudioTrack()
        self.events = EventChannel(on_overflow=lambda: self.end("page is not reading its events"))
        self.transport = WebRTCTransport(self.track, self.events, self.end)
        self.pipeline: AudioCallPipeline | None = None
        self._connected: asyncio.Future[None] = loop.create_future()
        self._ended: asyncio.Future[str] = loop.create_future()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._caller_track_id: str | None = None
        self.caller_frames_dropped = 0  # arrived before the pipeline opened
        self.gate = StreamGate.for_registry("webrtc", context.services.metrics.registry)
        self.done = asyncio.Event()

    # ---- signalling ----

    async def answer(self, sdp: str) -> RTCSessionDescription:
        """Apply the offer and return the answer; raises OfferRejected for an offer no call can come of."""
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # aiortc's parser raises many kinds for bad input; all are the client's
            raise OfferRejected(f"offer SDP rejected: {type(exc).__name__}: {exc}") from exc
        if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
            raise OfferRejected("the offer has no audio section (m=audio)")
        self.pc.addTrack(self.track)  # answers on the offered audio section
        try:
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError) as exc:
            raise OfferRejected(f"cannot answer the offer: {type(exc).__name__}: {exc}") from exc
        self._runner = asyncio.get_running_loop().create_task(self._run(), name=f"webrtc call {self.peer_id}")
        return self.pc.localDescription

    async def discard(self) -> None:
        """Free a peer whose offer was rejected (no lifecycle task was started)."""
        self.end("offer rejected")
        await self._release()

    # ---- ending ----

    def end(self, reason: str) -> None:
        """Ask the call to end (idempotent; the first reason wins)."""
        if not self._ended.done():
            self._ended.set_result(reason)

    async def wait_done(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout_s)
        return self.done.is_set()

    # ---- lifecycle ----

    async def _run(self) -> None:
        reason = "caller hung up"
        try:
            waiters: list[asyncio.Future[Any]] = [self._connected, self._ended]
            finished, _ = await asyncio.wait(
                waiters, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if not finished:
                reason = f"no connection within {CONNECT_TIMEOUT_S:.0f} s"
                return
            if self._ended.done():
                reason = self._ended.result()
                return
            self.pipeline = await self.context.open_call(
                self.transport, agent=self.agent, caller=self.caller, rate_hz=RATE_HZ
            )
            self.events.send({"type": "started", "call_id": self.pipeline.call_id, "agent": self.agent,
                              "sample_rate_hz": RATE_HZ, "frame_ms": FRAME_MS})  # fmt: skip
            reason = await self._ended
        except asyncio.CancelledError:
            reason = "server shutting down"
            raise
        except Exception:
            log.exception("webrtc call %s failed", self.peer_id)
            self.context.services.metrics.call_errors.inc(1, "internal")
            reason = "internal error"
        finally:
            await asyncio.shield(self._finish(reason))

    async def _finish(self, reason: str) -> None:
        self.end(reason)  # what happens from here on cannot start anything new
        try:
            if self.pipeline is not None:
                await self.context.close_call(self.pipeline, reason)  # sends call.ended and "stop"
            await self.events.drain(DRAIN_TIMEOUT_S)
        except Exception:
            log.exception("webrtc call %s: closing the pipeline failed", self.peer_id)
        finally:
            await self._release()

    async def _release(self) -> None:
        """Stop the tracks and the call's tasks, close the peer connection, leave the registry."""
        self.track.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.pc.close(), PC_CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("webrtc call %s: peer connection did not close within %.0f s", self.peer_id,
                        PC_CLOSE_TIMEOUT_S)  # fmt: skip
        finally:
            if not self.done.is_set():
                self.done.set()
                self._on_done(self)

    # ---- aiortc callbacks ----

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self._connected.done():
            self._connected.set_result(None)
        elif state == "failed":
            self.end("connection failed")
        elif state == "closed":
            self.end("caller hung up")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or self._ended.done() or self._caller_track_id is not None:
            return  # one caller voice per call: a second audio section is answered but not listened to
        self._caller_track_id = track.id
        self._spawn(pump_caller_audio(track, self._caller_audio), f"caller audio {self.peer_id}")

    def _caller_audio(self, pcm16: bytes) -> None:
        if not self.gate.screen(len(pcm16) / 2 / RATE_HZ * 1000.0):
            if self.gate.flooding and not self._ended.done():
                log.info("webrtc call %s closed: %s", self.peer_id, self.gate.flood_message())
                self.end("media_flood")
            return
        if self.pipeline is None:
            self.caller_frames_dropped += 1
            return
        self.pipeline.push_audio(pcm16)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL:
            log.info("webrtc call %s: ignoring data channel %r", self.peer_id, channel.label)
            return
        self.events.attach(channel)
        channel.on("message", self._on_message)

    def _on_message(self, message: str | bytes) -> None:
        """The page's control messages: only `{"type": "hangup"}` for now; anything else is logged."""
        if isinstance(message, bytes) or len(message) > MAX_CONTROL_MESSAGE_CHARS:
            log.info("webrtc call %s: ignoring a binary or oversized control message", self.peer_id)
            return
        try:
            data = json.loads(message)
        except json.JSONDecodeError:
            log.info("webrtc call %s: ignoring a control message that is not JSON", self.peer_id)
            return
        if isinstance(data, dict) and data.get("type") == "hangup":
            self.end("caller hung up")
        else:
            log.info("webrtc call %s: ignoring control message %.80s", self.peer_id, message)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webrtc call %s: %s failed", self.peer_id, task.get_name(), exc_info=task.exception())
            self.end(f"internal error in {task.get_name()}")


class PeerRegistry:
    """The live WebRTC calls of one server, so that shutdown ends every one of them."""

    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self.calls: dict[str, WebRTCCall] = {}

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def full(self) -> bool:
        return len(self.calls) >= self.max_calls

    def add(self, call: WebRTCCall) -> None:
        self.calls[call.peer_id] = call

    def discard(self, call: WebRTCCall) -> None:
        self.calls.pop(call.peer_id, None)

    async def close_all(self, reason: str, timeout_s: float = 10.0) -> None:
        calls = list(self.calls.values())
        for call in calls:
            call.end(reason)
        results = await asyncio.gather(*(call.wait_done(timeout_s) for call in calls))
        stuck = [call.peer_id for call, done in zip(calls, results, strict=True) if not done]
        if stuck:
            log.warning("webrtc calls still closing after %.0f s: %s", timeout_s, ", ".join(stuck))
