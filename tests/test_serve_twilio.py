"""End to end over `/twilio`: Twilio Media Streams with µ-law 8 kHz, marks echoed as audio plays out."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import aiohttp

from tests.serve_kit import QUESTION, loudness_dbfs, needs_espeak, running_server, spoken
from voicerouter.caller.run import run_call

pytestmark = needs_espeak


async def test_mulaw_question_is_transcribed_routed_to_triage_and_answered_in_twilio_messages(
    tmp_path: Path,
) -> None:
    question = spoken(QUESTION, tmp_path, 8000)
    async with running_server(tmp_path) as server:
        result = await run_call(server.url, question, twilio=True, answer_s=1.5)
        await server.wait_idle()
    assert result.call_id is not None and result.call_id.startswith(
        "CA"
    )  # the call is filed under its CallSid
    started = result.of_type("call.started")
    assert started and started[0]["transport"] == "twilio" and started[0]["call_id"] == result.call_id
    assert any("saturday" in text for text in result.transcripts), result.transcripts
    assert [route["tier"] for route in result.routes] == ["triage"]
    question_sent = result.speech_sent[0][1]
    assert sum(size for at, size in result.audio_arrivals if at > question_sent) >= 8000 * 2 * 1.0
    assert loudness_dbfs(bytes(result.agent_audio[-8000 * 2 :])) > -35.0
    # the greeting played out in full: its marks came back, so the engine counted it heard, then the question
    kinds = [e["type"] for e in result.events]
    assert kinds.index("agent.audio_stopped") < kinds.index("user.speech_started")


async def test_outbound_messages_are_twilio_media_and_marks_for_the_stream(tmp_path: Path) -> None:
    """A raw Twilio peer: the server answers `start` with base64 µ-law `media` (20 ms) and a `mark` per
    sentence, every message carrying the streamSid."""
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws", 1) + "/twilio") as ws:
            await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await ws.send_json({
                "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
                "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CAraw1", "tracks": ["inbound"],
                          "customParameters": {"agent": "helpdesk"},
                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
            })  # fmt: skip
            outbound: list[dict[str, object]] = []
            while not any(m["event"] == "mark" for m in outbound):
                msg = await ws.receive(timeout=10.0)
                outbound.append(json.loads(msg.data))
            await ws.send_json({"event": "stop", "sequenceNumber": "2", "streamSid": "MZ1", "stop": {}})
        await server.wait_idle()
    assert {m["streamSid"] for m in outbound} == {"MZ1"}
    media = [m for m in outbound if m["event"] == "media"]
    assert len(media) > 10
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media[:-1])  # type: ignore[index]
    assert outbound[-1]["mark"] == {"name": "0:0"}  # after the greeting's only sentence


async def test_a_both_tracks_stream_echoing_our_audio_keeps_the_call_open(tmp_path: Path) -> None:
    """A `both_tracks` stream carries our own audio back on the outbound track: it is skipped, never taken
    for the caller and never for the end of the stream."""
    echo = {"event": "media", "streamSid": "MZ2",
            "media": {"track": "outbound", "chunk": "1", "timestamp": "0", "payload": "//8="}}  # fmt: skip
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws", 1) + "/twilio") as ws:
            await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await ws.send_json({
                "event": "start", "sequenceNumber": "1", "streamSid": "MZ2",
                "start": {"streamSid": "MZ2", "accountSid": "AC1", "callSid": "CAraw2",
                          "tracks": ["inbound", "outbound"], "customParameters": {"agent": "helpdesk"},
                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
            })  # fmt: skip
            await ws.send_json(echo)
            events: list[str] = []
            while "mark" not in events:
                msg = await ws.receive(timeout=10.0)
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                events.append(json.loads(msg.data)["event"])
                if events[-1] == "media":
                    await ws.send_json(echo)
            await ws.send_json({"event": "stop", "sequenceNumber": "2", "streamSid": "MZ2", "stop": {}})
        await server.wait_idle()
    assert "mark" in events  # the greeting played out to its end: the echoed frames did not end the call
