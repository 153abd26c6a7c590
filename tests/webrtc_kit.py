"""A plain aiortc caller for `POST /offer`, and the spoken test question as a 48 kHz WAV for a fake mic.

The caller is a real peer: it offers audio and an "events" data channel, sends speech through a paced track,
and keeps what it received (agent audio with arrival times, every message). It never judges what it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from tests.serve_kit import spoken
from voicerouter.audio.pcm import level_dbfs, pcm16_to_int16
from voicerouter.caller.client import save_wav
from voicerouter.media.webrtc.inbound import pump_caller_audio
from voicerouter.media.webrtc.track import FRAME_BYTES, FRAME_MS, RATE_HZ, AgentAudioTrack

WAIT_S = 60.0  # every wait in these tests is bounded so a failure never hangs CI


def padded_speech(text: str, directory: Path, *, lead_s: float = 0.5, tail_s: float = 1.5) -> bytes:
    """`text` spoken by espeak-ng as mono PCM16 at 48 kHz, with silence around it (recognisers like it)."""
    speech = spoken(text, directory, RATE_HZ)
    return bytes(round(lead_s * RATE_HZ) * 2) + speech + bytes(round(tail_s * RATE_HZ) * 2)


def fake_microphone_wav(text: str, directory: Path, *, lead_s: float, tail_s: float) -> Path:
    path = directory / "fake-microphone.wav"
    save_wav(path, padded_speech(text, directory, lead_s=lead_s, tail_s=tail_s), RATE_HZ)
    return path


def loudness_dbfs(pcm16: bytes) -> float:
    return level_dbfs(pcm16_to_int16(pcm16))


def speech_seconds(pcm16: bytes, threshold_dbfs: float = -45.0) -> float:
    """Seconds of 48 kHz audio whose 20 ms frames are louder than `threshold_dbfs` (silence is not)."""
    frame = FRAME_BYTES
    loud = sum(
        1
        for i in range(0, len(pcm16) - frame + 1, frame)
        if loudness_dbfs(pcm16[i : i + frame]) > threshold_dbfs
    )
    return loud * FRAME_MS / 1000.0


@dataclass
class RtcCaller:
    """One aiortc peer calling the server."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    microphone: AgentAudioTrack = field(default_factory=AgentAudioTrack)
    messages: list[dict[str, Any]] = field(default_factory=list)
    agent_audio: bytearray = field(default_factory=bytearray)
    audio_arrivals: list[tuple[float, int]] = field(default_factory=list)  # (monotonic s, bytes)
    channel: RTCDataChannel | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m["event"] for m in self.messages if m.get("type") == "event"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def call(self, url: str, agent: str = "clinic") -> None:
        """Offer, apply the answer and wait until the connection is up."""
        self.pc.addTrack(self.microphone)
        self.channel = self.pc.createDataChannel("events")
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._changed.set)
        await self.pc.setLocalDescription(await self.pc.createOffer())  # aiortc gathers before returning
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer", "agent": agent}
        async with aiohttp.ClientSession() as session, session.post(f"{url}/offer", json=offer) as response:
            if response.status != 200:
                raise AssertionError(f"/offer answered {response.status}: {await response.text()}")
            answer = await response.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        await self.wait_until(lambda: self.pc.connectionState == "connected", "the connection")

    def say(self, pcm16: bytes) -> float:
        """Queue speech (48 kHz mono PCM16) on the microphone; returns when it was queued."""
        self.microphone.enqueue(pcm16)
        return time.monotonic()

    async def wait_until(self, check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout_s:.0f} s; messages: {self.messages[-8:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.25))

    async def wait_for_event(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        await self.wait_until(lambda: any(check(e) for e in self.events), what)
        return next(e for e in self.events if check(e))

    def audio_after(self, t_s: float) -> bytes:
        """Agent audio that arrived after monotonic time `t_s`."""
        skip = sum(size for at, size in self.audio_arrivals if at <= t_s)
        return bytes(self.agent_audio[skip:])

    async def hang_up_politely(self) -> None:
        """What the page's hang-up button does first: say so on the events channel, then wait for "stop"."""
        assert self.channel is not None and self.channel.readyState == "open"
        self.channel.send(json.dumps({"type": "hangup"}))
        await self.wait_until(lambda: any(m["type"] == "stop" for m in self.messages), "the stop message")

    async def hang_up(self) -> None:
        self.microphone.stop()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_message(self, message: str | bytes) -> None:
        self.messages.append(json.loads(message))
        self._changed.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(pump_caller_audio(track, self._on_audio)))

    def _on_audio(self, pcm16: bytes) -> None:
        self.agent_audio += pcm16
        self.audio_arrivals.append((time.monotonic(), len(pcm16)))
        self._changed.set()
