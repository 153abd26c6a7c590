"""A whole call from the caller's side, as the CLI and the tests place it, and the call's record afterwards.

`run_call` waits for the greeting, says the speech in real time, listens, hangs up; in Twilio mode it reads
the call's events from `GET /calls/{id}`, since Twilio carries none. It never judges what it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp

from voicerouter.caller.client import (
    CONNECT_TIMEOUT_S,
    SILENCE_TIMEOUT_S,
    CallerClient,
    CallFailed,
    CallResult,
    EventHandler,
    http_base,
)


async def fetch_call(url: str, call_id: str, token: str | None = None) -> dict[str, Any] | None:
    """`GET /calls/{id}` of the server behind `url`: the call's row and events, or None if unknown."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{http_base(url)}/calls/{call_id}", headers=headers) as response,
    ):
        if response.status == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return data


async def run_call(
    url: str,
    speech_pcm16: bytes,
    *,
    twilio: bool = False,
    agent: str | None = None,
    token: str | None = None,
    on_event: EventHandler | None = None,
    answer_s: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    silence_timeout_s: float = SILENCE_TIMEOUT_S,
) -> CallResult:
    """A whole call: wait for the greeting to finish, say `speech_pcm16`, listen to the answer, hang up.

    `answer_s` hangs up after that much of the answer; by default the whole answer is heard. Twilio carries
    no events, so in Twilio mode they are read from `/calls/{id}` (polled during the call when `on_event`
    is given, and in full at the end). Raises `CallFailed` when the call cannot be placed, or the server
    ends it with an error or goes silent, saying why.
    """
    seen: list[dict[str, Any]] = []

    def deliver(events: list[dict[str, Any]]) -> None:
        for event in events[len(seen) :]:
            seen.append(event)
            if on_event is not None:
                on_event(event)

    client = CallerClient(
        url, twilio=twilio, agent=agent, token=token, on_event=on_event,
        connect_timeout_s=connect_timeout_s, silence_timeout_s=silence_timeout_s,
    )  # fmt: skip
    async with client as call:
        poller = None
        if twilio and on_event is not None:
            poller = asyncio.get_running_loop().create_task(
                _poll_events(call.url, call.call_sid, token, deliver)
            )
        try:
            await call.wait_for_agent_silence(0.7, timeout_s=20.0)
            if not call.closed.is_set():
                await call.say(speech_pcm16)
            if not call.closed.is_set() and await call.wait_for_agent_audio(timeout_s=20.0):
                if answer_s is not None:
                    await asyncio.sleep(answer_s)
                else:
                    await call.wait_for_agent_silence(1.2, timeout_s=120.0)
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)
    result = call.result
    if call.ended_by_server and (result.close_code != 1000 or call.went_silent):
        raise CallFailed(call.close_description())
    if twilio and result.call_id:
        deliver(await _final_events(call.url, result.call_id, token))
        result.events = list(seen)
        result.event_arrivals = []  # read from the recording, not received live
    return result


async def _poll_events(
    ws_url: str, call_id: str, token: str | None, deliver: Callable[[list[dict[str, Any]]], None]
) -> None:
    while True:
        await asyncio.sleep(0.5)
        with contextlib.suppress(aiohttp.ClientError):
            data = await fetch_call(ws_url, call_id, token)
            if data is not None:
                deliver(data["events"])


async def _final_events(ws_url: str, call_id: str, token: str | None) -> list[dict[str, Any]]:
    """The recorded events once the server has written `call.ended` (bounded wait)."""
    events: list[dict[str, Any]] = []
    for _ in range(50):
        data = await fetch_call(ws_url, call_id, token)
        events = data["events"] if data else []
        if any(e.get("type") == "call.ended" for e in events):
            break
        await asyncio.sleep(0.1)
    return events
