"""The browser call page and its WebRTC signalling: `GET /`, `GET /agents`, `POST /offer`, `/web/*`.

`POST /offer` takes `{"sdp", "type": "offer", "agent"}` (the shape of aiortc's own server example, so any
browser or aiortc peer can call in) and answers `{"sdp", "type": "answer"}`; a malformed body, SDP or agent
is a 400 that says what was wrong. It never touches call audio (`webrtc_call` does) and never blocks the loop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voicerouter.agent import AgentError, available_agents, load_agent
from voicerouter.media.auth import request_authorized
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.media.webrtc.call import OfferRejected, PeerRegistry, WebRTCCall
from voicerouter.media.ws.common import describe_validation

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
MAX_OFFER_BYTES = 64 * 1024  # a browser offer with audio and a data channel is about 5 KiB
MAX_WEBRTC_CALLS = 50  # live peer connections per server; past this /offer answers 503
PEERS_KEY = web.AppKey("webrtc_peers", PeerRegistry)


class OfferRequest(BaseModel):
    """The peer's offer. Unknown keys are ignored (aiortc's example client sends `video_transform`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sdp: str = Field(min_length=1, max_length=MAX_OFFER_BYTES)
    type: Literal["offer"]
    agent: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

    @field_validator("sdp")
    @classmethod
    def _looks_like_an_audio_offer(cls, sdp: str) -> str:
        if not sdp.startswith("v=0"):
            raise ValueError("not an SDP session description (it must start with v=0)")
        if "\nm=audio " not in sdp:
            raise ValueError("the offer has no audio section (m=audio)")
        return sdp


class OfferAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)
    sdp: str
    type: Literal["answer"] = "answer"


class AgentInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    display_name: str
    description: str


class AgentList(BaseModel):
    model_config = ConfigDict(frozen=True)
    agents: list[AgentInfo]
    default: str


def add_webrtc_routes(app: web.Application, *, max_calls: int = MAX_WEBRTC_CALLS) -> PeerRegistry:
    """Register the page, `/agents` and `/offer` on the server's app; its shutdown ends every peer."""
    peers = PeerRegistry(max_calls)
    app[PEERS_KEY] = peers
    app.router.add_get("/", call_page)
    app.router.add_get("/agents", list_agents)
    app.router.add_post("/offer", handle_offer)
    app.router.add_static("/web", WEB_DIR)

    async def close_peers(app: web.Application) -> None:
        await peers.close_all("server shutting down")

    app.on_shutdown.append(close_peers)
    return peers


async def call_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def list_agents(request: web.Request) -> web.Response:
    context: ServeContext = request.app[CONTEXT_KEY]
    agents = await asyncio.to_thread(_agent_infos)
    return web.json_response(AgentList(agents=agents, default=context.default_agent).model_dump())


def _agent_infos() -> list[AgentInfo]:
    infos = []
    for name in available_agents():
        try:
            spec = load_agent(name)
        except AgentError as exc:
            log.warning("/agents: skipping %s: %s", name, exc)
            continue
        infos.append(AgentInfo(name=spec.name, display_name=spec.display_name, description=spec.description))
    return infos


async def handle_offer(request: web.Request) -> web.Response:
    context: ServeContext = request.app[CONTEXT_KEY]
    peers = request.app[PEERS_KEY]
    if not _token_accepted(request, context):
        raise web.HTTPUnauthorized(
            text="/offer needs the server's token or a ticket from POST /session: Authorization: Bearer ...\n"
        )
    offer = await _read_offer(request)
    agent = offer.agent or context.default_agent
    try:
        await asyncio.to_thread(load_agent, agent)
    except AgentError as exc:
        known = ", ".join(await asyncio.to_thread(available_agents)) or "none"
        raise web.HTTPBadRequest(text=f"/offer: unknown agent {agent!r} (known: {known})\n") from exc
    if peers.full:
        raise web.HTTPServiceUnavailable(text=f"/offer: {peers.max_calls} calls are live; try again later\n")
    call = WebRTCCall(context, agent=agent, caller=request.remote or "", on_done=peers.discard)
    peers.add(call)
    try:
        description = await call.answer(offer.sdp)
    except OfferRejected as exc:
        await call.discard()
        raise web.HTTPBadRequest(text=f"/offer: {exc}\n") from exc
    except BaseException:
        await asyncio.shield(call.discard())
        raise
    log.info("webrtc peer %s answered for agent %s from %r", call.peer_id, agent, call.caller)
    return web.json_response(OfferAnswer(sdp=description.sdp).model_dump())


async def _read_offer(request: web.Request) -> OfferRequest:
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_OFFER_BYTES, actual_size=request.content_length)
    body = await request.content.read(MAX_OFFER_BYTES + 1)
    if len(body) > MAX_OFFER_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_OFFER_BYTES, actual_size=len(body))
    try:
        return OfferRequest.model_validate_json(body)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=f"/offer: bad offer: {describe_validation(exc)}\n") from exc


def _token_accepted(request: web.Request, context: ServeContext) -> bool:
    """The call endpoints' token rule (media/auth.py), applied here too so /offer is never left open."""
    return request_authorized(request, context.token)
