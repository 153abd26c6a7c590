"""What the transports of one server share: call services, speech engines, default agent, token, live calls.

Opening and closing calls goes through here so every transport registers, starts and ends calls alike; it
never parses a protocol and never touches audio.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from voicerouter.agent import AgentError, load_agent
from voicerouter.call.pipeline import AudioCallPipeline, CallServices, CallTransport
from voicerouter.media.ws.common import ProtocolViolation, invalid
from voicerouter.providers.speech.registry import SpeechEngines

log = logging.getLogger(__name__)

_SAFE_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class ServeContext:
    services: CallServices
    speech: SpeechEngines
    default_agent: str = "clinic"
    token: str | None = None
    calls: dict[str, AudioCallPipeline] = field(default_factory=dict)
    draining: bool = False  # shutting down: live calls may finish, new ones are refused

    def token_ok(self, given: str | None) -> bool:
        if not self.token:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def usable_call_id(self, wanted: str | None) -> str | None:
        """A caller-chosen id (Twilio's CallSid) when it is safe as a file name and not taken, else None."""
        if not wanted or not _SAFE_CALL_ID.match(wanted) or wanted in self.calls:
            return None
        directory = self.services.recordings_dir
        if directory is not None and (directory / f"{wanted}.jsonl").exists():
            return None
        return wanted

    async def open_call(
        self,
        transport: CallTransport,
        *,
        agent: str | None,
        caller: str,
        rate_hz: int,
        call_id: str | None = None,
    ) -> AudioCallPipeline:
        if self.draining:
            raise ProtocolViolation(WSCloseCode.TRY_AGAIN_LATER, "server shutting down")
        name = agent or self.default_agent
        try:
            load_agent(name)
        except AgentError as exc:
            raise invalid(f"unknown agent {name!r}") from exc
        stt = await self.speech.stt_for(name)
        pipeline = AudioCallPipeline(
            self.services, transport, stt, agent=name, caller=caller, rate_hz=rate_hz,
            call_id=self.usable_call_id(call_id),
        )  # fmt: skip
        self.calls[pipeline.call_id] = pipeline
        try:
            await pipeline.start()
        except BaseException:
            await self.close_call(pipeline, "failed to start")
            raise
        log.info("call %s started: agent %s over %s from %r", pipeline.call_id, name, transport.kind, caller)
        return pipeline

    async def close_call(self, pipeline: AudioCallPipeline, reason: str) -> None:
        try:
            await pipeline.close(reason)
        finally:
            self.calls.pop(pipeline.call_id, None)
            log.info("call %s ended: %s", pipeline.call_id, reason)

    async def close_all(self, reason: str) -> None:
        """End every live call at once (each close is bounded), not one after another."""
        calls = [self.close_call(pipeline, reason) for pipeline in list(self.calls.values())]
        await asyncio.gather(*calls, return_exceptions=True)


CONTEXT_KEY = web.AppKey("context", ServeContext)
