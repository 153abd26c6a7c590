"""Every agent a call may name is warm before the server takes calls: its first call waits for no loading."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.serve_kit import needs_espeak, running_server
from voicerouter.agent import available_agents

pytestmark = needs_espeak


async def test_every_agents_recogniser_is_built_before_the_port_opens(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        speech = server.context.speech
        assert speech.built() == available_agents()  # the default and every other agent
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as response:
            assert (await response.json())["status"] == "ok"
