"""Through a live `/twilio` call: a caller who pauses mid-sentence is held, and the model started on the
pause's words is cancelled when they go on. Real espeak-ng speech, the real app with offline speech."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.serve_kit import ServerHandle, needs_espeak, serving, spoken
from voicerouter.caller.client import CallerClient
from voicerouter.caller.run import fetch_call
from voicerouter.server import ServeSettings, create_app

pytestmark = needs_espeak

FIRST, SECOND = "I'd like to book an appointment for", "next Tuesday morning"
PAUSE_S = 2.5  # long enough for the pause's words to be decoded on a busy machine
HOLD_MS = 5000  # the hold for unfinished words, stretched to match


@asynccontextmanager
async def held_server(directory: Path, env: dict[str, str]) -> AsyncIterator[ServerHandle]:
    config = directory / "voicerouter.toml"
    config.write_text(f"[audio.endpoint]\nhold_silence_ms = {HOLD_MS}\n")
    settings = ServeSettings(host="127.0.0.1", port=0, recordings_dir=directory / "recordings",
                             speech="offline", config_path=str(config))  # fmt: skip
    async with serving(create_app(settings, env=env), settings.recordings_dir) as server:
        yield server


@pytest.mark.parametrize("streaming", [False, True], ids=["whole-utterances", "streaming-stt"])
async def test_twilio_caller_pausing_after_for_is_one_turn_and_the_preemptive_request_is_cancelled(
    tmp_path: Path, streaming: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voicerouter.providers.speech.pocketsphinx_stt")
    caplog.set_level(logging.DEBUG, logger="voicerouter.call.pipeline")
    first, second = spoken(FIRST, tmp_path, 8000), spoken(SECOND, tmp_path, 8000)
    env = {"VOICEROUTER_STT_STREAMING": "1" if streaming else "0"}
    async with held_server(tmp_path, env) as server:
        async with CallerClient(server.url, twilio=True, agent="clinic") as call:
            assert await call.wait_for_agent_silence(0.7, timeout_s=30.0), "the greeting never finished"
            await call.say(first)
            await call.pause(PAUSE_S)
            await call.say(second)
            assert await call.wait_for_agent_audio(timeout_s=30.0), "no answer"
            await call.wait_for_agent_silence(0.7, timeout_s=30.0)
        await server.wait_idle()
        assert call.result.call_id is not None
        recorded = await fetch_call(server.url, call.result.call_id)
    assert recorded is not None
    events = recorded["events"]
    kinds = [e["type"] for e in events]
    turns = [e for e in events if e["type"] == "turn.started"]
    assert len(turns) == 1, [t["text"] for t in turns]  # the pause after "for" did not end the turn
    # the words of the pause came as a partial transcript, and the model was started on them ...
    partial = next(e for e in events if e["type"] == "user.transcript" and not e["final"])
    assert partial["t_ms"] < turns[0]["t_ms"] and len(partial["text"]) < len(turns[0]["text"])
    # ... then cancelled when the caller went on: no audio, no tool, only the waste recorded
    discarded = next(e for e in events if e["type"] == "llm.discarded")
    assert discarded["reason"] == "the caller went on speaking" and discarded["tokens_in"] > 0
    assert kinds.index("llm.discarded") < kinds.index("turn.started")
    assert not any(e["type"] in ("tool.called", "agent.audio_started") and e.get("turn_id") == 1
                   and e["t_ms"] < turns[0]["t_ms"] for e in events)  # fmt: skip
    streamed = [r.getMessage() for r in caplog.records if "streamed, final" in r.getMessage()]
    assert bool(streamed) is streaming  # decoded while spoken, or each pause decoded whole
    # a streamed pause is judged by its words decoded whole as well (a running hypothesis never shortens it)
    settled = [r.getMessage() for r in caplog.records if "settled by a whole decode" in r.getMessage()]
    assert bool(settled) is streaming
    assert not any("decoding whole" in r.getMessage() for r in caplog.records)
