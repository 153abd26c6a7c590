"""Offline speech recognition overloaded by more callers than workers: every caller hears an answer or a
short re-prompt, never silence (a real server, ten real WebSocket callers, one pocketsphinx worker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.serve_kit import QUESTION, needs_espeak, spoken
from voicerouter.caller.run import run_call
from voicerouter.engine.call import REPROMPT
from voicerouter.providers.speech.registry import offline_engines
from voicerouter.server import ServeSettings, create_app

pytestmark = needs_espeak

CALLERS = 10
# Shorter than any decode (~0.2 s or more for the 2 s question), so that callers whose speech ends together
# are certain to find the one worker busy past their deadline, however fast or busy this machine is.
QUEUE_DEADLINE_S = 0.1


async def test_ten_callers_on_one_worker_each_hear_an_answer_or_a_reprompt(tmp_path: Path) -> None:
    speech = spoken(QUESTION, tmp_path, 16000)
    settings = ServeSettings(
        host="127.0.0.1", port=0, recordings_dir=tmp_path / "recordings", speech="offline"
    )
    app = create_app(settings, speech=offline_engines(workers=1, queue_deadline_s=QUEUE_DEADLINE_S), env={})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    try:
        results = await asyncio.gather(*(run_call(url, speech) for _ in range(CALLERS)))
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
            metrics = await response.text()
    finally:
        await runner.cleanup()
    answered = reprompted = 0
    for result in results:
        finals = [e["text"] for e in result.events if e.get("type") == "agent.text" and e.get("final")]
        after_greeting = finals[1:]
        assert after_greeting, f"call {result.call_id} heard nothing after it spoke: {result.events}"
        assert result.agent_audio, result.call_id
        if after_greeting[0] == REPROMPT:
            reprompted += 1
        else:
            answered += 1
    print(f"{answered} answered, {reprompted} re-prompted of {CALLERS} callers on one worker")
    assert answered >= 1 and reprompted >= 1, (answered, reprompted)
    assert "voicerouter_stt_wait_ms_count" in metrics
