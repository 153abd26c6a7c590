"""A caller for `voicerouter serve`: streams speech in real time over `/ws` or as Twilio Media Streams.

The microphone side sends a 20 ms frame per slot of a monotonic timeline (speech when there is some, digital
silence otherwise), as a phone would. In Twilio mode it also plays Twilio's part for the agent's audio: it
buffers it as played in real time, echoes each `mark` when playback reaches it and drops the buffer on
`clear` (echoing pending marks at once). It records what arrived and when, for the CLI and for tests; it never
judges what it receives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from voicerouter.audio.g711 import lin2ulaw, ulaw2lin
from voicerouter.audio.pcm import frame_bytes, stereo_to_mono
from voicerouter.audio.resample import resample_pcm16
from voicerouter.audio.wav import encode_wav, read_wav

FRAME_MS = 20
CONNECT_TIMEOUT_S = 10.0  # TCP connect plus the WebSocket upgrade
SILENCE_TIMEOUT_S = 30.0  # a server that sends nothing at all (no audio, no event) for this long is gone
EventHandler = Callable[[dict[str, Any]], None]


class CallFailed(Exception):
    """The call could not be placed or the server ended it early; the message says why, for a person."""


_REFUSALS = {
    401: "the server needs its token (--token or VOICEROUTER_TOKEN)",
    403: "the server refused the connection (a wrong Origin, or a missing Twilio signature)",
    404: "there is no WebSocket endpoint at this URL (try /ws, or /twilio with --twilio)",
    429: "the server has too many connections from this address",
}


def describe_refusal(url: str, status: int) -> str:
    return f"{url}: HTTP {status}: {_REFUSALS.get(status, 'the server refused the WebSocket upgrade')}"


def describe_close(url: str, code: int | None, reason: str, *, twilio: bool) -> str:
    """Why the server ended a call, with a hint when the client speaks the other endpoint's protocol."""
    text = f"{url}: the server closed the call ({code}): {reason or 'no reason given'}"
    path = urlsplit(url).path
    if twilio and path == "/ws" and code in (1003, 1007):
        text += " -- --twilio speaks Twilio Media Streams, which the server expects on /twilio, not /ws"
    elif not twilio and path == "/twilio" and code in (1003, 1007):
        text += " -- /twilio expects Twilio Media Streams: add --twilio, or call /ws"
    return text


def load_wav(path: str | Path, rate_hz: int) -> bytes:
    """A WAV file as mono PCM16 at `rate_hz`."""
    fmt, pcm = read_wav(Path(path).read_bytes())
    if fmt.channels == 2:
        pcm = stereo_to_mono(pcm)
    elif fmt.channels != 1:
        raise ValueError(f"{path}: {fmt.channels} channels; only mono or stereo WAV is supported")
    return resample_pcm16(pcm, fmt.sample_rate_hz, rate_hz) if fmt.sample_rate_hz != rate_hz else pcm


def save_wav(path: str | Path, pcm16: bytes, rate_hz: int) -> None:
    Path(path).write_bytes(encode_wav(pcm16, rate_hz))


@dataclass
class CallResult:
    """What the caller saw; times are `time.monotonic()` seconds."""

    rate_hz: int
    call_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    event_arrivals: list[float] = field(default_factory=list)  # when each of `events` arrived
    agent_audio: bytearray = field(default_factory=bytearray)
    audio_arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes) per agent frame
    clears: list[float] = field(default_factory=list)
    latencies: list[dict[str, Any]] = field(default_factory=list)
    speech_sent: list[tuple[float, float]] = field(default_factory=list)  # (first, last) frame time per say()
    close_code: int | None = None
    close_reason: str = ""
    stop_reason: str = ""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    @property
    def transcripts(self) -> list[str]:
        return [e["text"] for e in self.of_type("user.transcript") if e.get("final")]

    @property
    def routes(self) -> list[dict[str, Any]]:
        return self.of_type("route.decided")


def endpoint_url(url: str, *, twilio: bool) -> str:
    """`http(s)://host:port[/path]` or `ws(s)://...` to the WebSocket URL of the chosen endpoint (a token
    never goes in it: it rides in the `Authorization` header)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"call URL {url!r}: expected http(s):// or ws(s)://")
    path = parts.path if parts.path not in ("", "/") else ("/twilio" if twilio else "/ws")
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def http_base(url: str) -> str:
    """The server's HTTP root from any of its URLs (ws://, wss://, http://, https://)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class CallerClient:
    """One call from the caller's side; use `async with CallerClient(...) as call:`."""

    def __init__(
        self,
        url: str,
        *,
        twilio: bool = False,
        rate_hz: int | None = None,
        agent: str | None = None,
        caller: str = "voicerouter-caller",
        token: str | None = None,
        on_event: EventHandler | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        silence_timeout_s: float = SILENCE_TIMEOUT_S,
        silence_frames: bool = True,
    ) -> None:
        """`silence_frames=False` sends nothing between utterances, as a muted mic or Opus DTX does."""
        self.twilio = twilio
        self.connect_timeout_s = connect_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self.silence_frames = silence_frames
        self.url = endpoint_url(url, twilio=twilio)
        self.rate_hz = 8000 if twilio else (rate_hz or 16000)
        self.agent = agent
        self.caller = caller
        self.token = token
        self.on_event = on_event
        self.result = CallResult(rate_hz=self.rate_hz)
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = "CA" + uuid.uuid4().hex
        self._frame_bytes = frame_bytes(self.rate_hz, FRAME_MS)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._speech = bytearray()
        self._speech_done = asyncio.Event()
        self._speech_first: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._t0 = 0.0
        self._agent_until = 0.0  # when the agent audio received so far finishes playing
        self._agent_frames_total = 0
        self._pending_marks: list[tuple[float, str]] = []  # Twilio mode: (play-out time, name)
        self._mark_timer: asyncio.TimerHandle | None = None
        self._sequence = 0
        self._hanging_up = False
        self.went_silent = False
        self.closed = asyncio.Event()

    # ---- connection ----

    async def __aenter__(self) -> CallerClient:
        self._session = aiohttp.ClientSession()
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            connect = self._session.ws_connect(self.url, max_msg_size=4 * 1024 * 1024, headers=headers)
            self._ws = await asyncio.wait_for(connect, self.connect_timeout_s)
        except TimeoutError as exc:
            await self._session.close()
            waited = f"no WebSocket connection within {self.connect_timeout_s:g} s"
            raise CallFailed(f"{self.url}: {waited}") from exc
        except aiohttp.WSServerHandshakeError as exc:
            await self._session.close()
            raise CallFailed(describe_refusal(self.url, exc.status)) from exc
        except aiohttp.ClientConnectionError as exc:
            await self._session.close()
            raise CallFailed(f"{self.url}: cannot connect: {exc}") from exc
        except BaseException:
            await self._session.close()
            raise
        self._t0 = time.monotonic()
        if self.twilio:
            self.result.call_id = self.call_sid
            await self._send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            params = {"caller": self.caller, **({"agent": self.agent} if self.agent else {})}
            await self._send_json(self._twilio_start(params))
        else:
            start = {
                "type": "start",
                "encoding": "pcm16",
                "sample_rate_hz": self.rate_hz,
                "caller": self.caller,
            }
            if self.agent:
                start["agent"] = self.agent
            await self._ws.send_str(json.dumps(start))
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._microphone()), loop.create_task(self._receive())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    def _twilio_start(self, params: dict[str, str]) -> dict[str, Any]:
        self._sequence += 1
        return {
            "event": "start",
            "sequenceNumber": str(self._sequence),
            "start": {
                "accountSid": "AC" + uuid.uuid4().hex,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            },
            "streamSid": self.stream_sid,
        }

    async def hang_up(self, *, goodbye: bool = True) -> None:
        """Say goodbye the protocol's way, close, and stop every task (idempotent). Without `goodbye` the
        socket just closes, as when a phone line drops."""
        self._hanging_up = not self.closed.is_set() or self._hanging_up
        ws = self._ws
        if goodbye and ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                if self.twilio:
                    stop = {"event": "stop", "sequenceNumber": str(self._sequence + 1),
                            "streamSid": self.stream_sid, "stop": {"callSid": self.call_sid}}  # fmt: skip
                    await ws.send_str(json.dumps(stop))
                else:
                    await ws.send_str('{"type":"stop"}')
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 3.0)  # the server closes after its own clean-up
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._mark_timer is not None:
            self._mark_timer.cancel()
        if ws is not None:
            await ws.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- speaking ----

    async def say(self, pcm16: bytes) -> None:
        """Stream `pcm16` (at `rate_hz`) in real time; returns once its last frame has been sent, or at once
        when the call has ended (a closed socket takes no more frames)."""
        self._speech_done.clear()
        self._speech_first = None
        self._speech += pcm16
        done = asyncio.ensure_future(self._speech_done.wait())
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (done, closed):
                waiter.cancel()

    async def pause(self, seconds: float) -> None:
        """Stay on the line (sending silence) for `seconds`."""
        await asyncio.sleep(seconds)

    async def _microphone(self) -> None:
        frame_s = FRAME_MS / 1000.0
        next_slot = time.monotonic()
        silence = bytes(self._frame_bytes)
        while True:
            delay = next_slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._speech:
                frame = bytes(self._speech[: self._frame_bytes]).ljust(self._frame_bytes, b"\0")
                del self._speech[: self._frame_bytes]
                now = time.monotonic()
                if self._speech_first is None:
                    self._speech_first = now
                if not self._speech:
                    self.result.speech_sent.append((self._speech_first, now))
                    self._speech_done.set()
            elif self.silence_frames:
                frame = silence
            else:
                next_slot += frame_s
                continue
            await self._send_audio(frame)
            next_slot += frame_s

    async def _send_audio(self, pcm16: bytes) -> None:
        assert self._ws is not None
        if self.twilio:
            self._sequence += 1
            timestamp_ms = round((time.monotonic() - self._t0) * 1000)
            payload = base64.b64encode(lin2ulaw(pcm16)).decode("ascii")
            await self._send_json({
                "event": "media", "sequenceNumber": str(self._sequence), "streamSid": self.stream_sid,
                "media": {"track": "inbound", "chunk": str(self._sequence), "timestamp": str(timestamp_ms),
                          "payload": payload},
            })  # fmt: skip
        else:
            await self._ws.send_bytes(pcm16)

    async def _send_json(self, payload: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(payload, separators=(",", ":")))

    # ---- listening ----

    @property
    def ended_by_server(self) -> bool:
        """The server (or its silence) ended the call before this client hung up."""
        return self.closed.is_set() and not self._hanging_up

    def close_description(self) -> str:
        return describe_close(self.url, self.result.close_code, self.result.close_reason, twilio=self.twilio)

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            while True:
                try:
                    msg = await self._ws.receive(timeout=self.silence_timeout_s)
                except TimeoutError:
                    self.went_silent = True
                    self.result.close_reason = f"the server sent nothing for {self.silence_timeout_s:g} s"
                    await self._ws.close()
                    break
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    if msg.type is aiohttp.WSMsgType.CLOSE:
                        self.result.close_reason = str(msg.extra or "")
                    break
                if msg.type is aiohttp.WSMsgType.ERROR:
                    break
                if msg.type is aiohttp.WSMsgType.BINARY:
                    self._agent_audio(msg.data)
                elif msg.type is aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if self.twilio:
                        self._twilio_message(data)
                    else:
                        self._native_message(data)
        finally:
            self.result.close_code = self._ws.close_code
            exc = self._ws.exception()
            self.result.close_reason = self.result.close_reason or (str(exc) if exc else "")
            self.closed.set()

    def _native_message(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "event":
            self._event(data["event"])
        elif kind == "started":
            self.result.call_id = data.get("call_id")
        elif kind == "clear":
            self._cleared()
        elif kind == "latency":
            self.result.latencies.append(data)
        elif kind == "stop":
            self.result.stop_reason = str(data.get("reason", ""))

    def _twilio_message(self, data: dict[str, Any]) -> None:
        kind = data.get("event")
        if kind == "media":
            self._agent_audio(ulaw2lin(base64.b64decode(data["media"]["payload"])))
        elif kind == "mark":
            self._pending_marks.append((self._agent_until, data["mark"]["name"]))
            self._schedule_marks()
        elif kind == "clear":
            self._cleared()
            pending, self._pending_marks = self._pending_marks, []
            for _, name in pending:  # Twilio returns the marks of dropped audio at once
                self._echo_mark(name)

    def _event(self, event: dict[str, Any]) -> None:
        self.result.events.append(event)
        self.result.event_arrivals.append(time.monotonic())
        if self.on_event is not None:
            self.on_event(event)

    def _agent_audio(self, pcm16: bytes) -> None:
        now = time.monotonic()
        self.result.audio_arrivals.append((now, len(pcm16)))
        audio = self.result.agent_audio
        target = int((now - self._t0) * self.rate_hz) * 2
        if target - len(audio) > self.rate_hz // 5 * 2:  # a gap of over 200 ms: keep the timeline
            audio += bytes(target - len(audio))
        audio += pcm16
        self._agent_until = max(self._agent_until, now) + len(pcm16) / 2 / self.rate_hz

    def _cleared(self) -> None:
        now = time.monotonic()
        self.result.clears.append(now)
        self._agent_until = min(self._agent_until, now)

    def _schedule_marks(self) -> None:
        if self._mark_timer is not None or not self._pending_marks:
            return
        delay = max(0.0, self._pending_marks[0][0] - time.monotonic())
        self._mark_timer = asyncio.get_running_loop().call_later(delay, self._marks_due)

    def _marks_due(self) -> None:
        self._mark_timer = None
        now = time.monotonic()
        while self._pending_marks and self._pending_marks[0][0] <= now:
            self._echo_mark(self._pending_marks.pop(0)[1])
        self._schedule_marks()

    def _echo_mark(self, name: str) -> None:
        if self._ws is None or self._ws.closed:
            return
        self._sequence += 1
        message = {"event": "mark", "sequenceNumber": str(self._sequence), "streamSid": self.stream_sid,
                   "mark": {"name": name}}  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._send_json(message))
        self._tasks.append(task)

    # ---- waiting for the agent ----

    @property
    def agent_audio_ms(self) -> float:
        return len(self.result.agent_audio) / 2 / self.rate_hz * 1000.0

    def agent_speaking(self) -> bool:
        return time.monotonic() < self._agent_until

    async def wait_for_agent_audio(self, timeout_s: float = 15.0) -> bool:
        """Until agent audio is playing (True) or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while not self.agent_speaking():
            if time.monotonic() >= deadline or self.closed.is_set():
                return False
            await asyncio.sleep(0.01)
        return True

    async def wait_for_event(
        self, check: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
    ) -> dict[str, Any] | None:
        """The first event from the server (already received or still to come) that passes `check`, or None
        after `timeout_s`: a caller that must not talk over the agent waits for what the server says, not
        for a gap in the audio, which a busy network or machine can open mid-sentence."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            events = self.result.events
            for event in events[seen:]:
                if check(event):
                    return event
            seen = len(events)
            if time.monotonic() >= deadline or self.closed.is_set():
                return None
            await asyncio.sleep(0.02)

    async def wait_for_agent_silence(self, silence_s: float = 0.7, timeout_s: float = 30.0) -> bool:
        """Until the agent has spoken and then been quiet for `silence_s` (True), or `timeout_s` (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.closed.is_set():
            if self.result.audio_arrivals and time.monotonic() - self._agent_until >= silence_s:
                return True
            await asyncio.sleep(0.02)
        return False
