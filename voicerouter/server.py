"""The HTTP app of `voicerouter serve`: call transports, the recorded-call index, health and metrics.

Routes: `/ws` (native WebSocket audio), `/twilio` (Twilio Media Streams), `/` and `/offer` (the WebRTC call
page, see media/webrtc.py), `/calls`, `/calls/{id}`, `/metrics` (Prometheus) and `/healthz`; with a SIP port,
phone calls over SIP/RTP beside them (media/sip_endpoint.py). Access rules live in media/auth.py and
connection limits in media/limits.py (docs/security.md has the table); without VOICEROUTER_TOKEN the server
binds loopback only. Every call runs on the one event loop; none can block or crash another, and shutting
down ends every call cleanly. Handlers never block the loop (SQLite and files run in threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from voicerouter import workers
from voicerouter.agent import AgentError, available_agents
from voicerouter.call.metrics import ServeMetrics
from voicerouter.call.pipeline import CallServices
from voicerouter.call.reconcile import reconcile_open_calls
from voicerouter.call.recording import check_recordings_dir
from voicerouter.media.auth import AccessPolicy, access_middleware, add_access_routes, bind_refusal
from voicerouter.media.context import CONTEXT_KEY, ServeContext
from voicerouter.media.limits import LIMITS_KEY, GuardedSite, HttpLimits
from voicerouter.media.sip_io.endpoint import SipEndpoint
from voicerouter.media.webrtc.signalling import add_webrtc_routes
from voicerouter.media.ws.native import handle_ws
from voicerouter.media.ws.twilio import handle_twilio
from voicerouter.metrics import CONTENT_TYPE
from voicerouter.providers.speech.registry import SpeechEngines, SpeechMode, choose_engines
from voicerouter.store import CallStore, read_recording
from voicerouter.wiring import Runtime, build_runtime

log = logging.getLogger(__name__)

SIP_KEY = web.AppKey("sip", SipEndpoint)
HEARTBEAT_KEY = web.AppKey("heartbeat", asyncio.Task)


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    agent: str = "clinic"
    recordings_dir: Path = Path("recordings")
    token: str | None = Field(
        default=None, description="VOICEROUTER_TOKEN: required by call endpoints when set"
    )
    config_path: str | None = None
    speech: SpeechMode = "auto"
    sip_port: int | None = Field(default=None, ge=0, le=65535, description="SIP (UDP and TCP); 0/None: off")
    insecure_no_auth: bool = Field(default=False, description="allow a non-loopback host without a token")
    allowed_origins: tuple[str, ...] = Field(default=(), description="browser origins /ws accepts too")
    twilio_auth_token: str | None = Field(default=None, description="TWILIO_AUTH_TOKEN: check signatures")
    public_url: str | None = Field(default=None, description="the URL Twilio signs (behind a proxy)")
    limits: HttpLimits = Field(default_factory=HttpLimits)
    drain_seconds: float = Field(
        default=10.0, ge=0.0, description="on SIGTERM/SIGINT, live calls get this long to end by themselves"
    )


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> ServeSettings:
    environ = os.environ if env is None else env
    values: dict[str, object] = {
        "token": environ.get("VOICEROUTER_TOKEN") or None,
        "twilio_auth_token": environ.get("TWILIO_AUTH_TOKEN") or None,
        "public_url": environ.get("VOICEROUTER_PUBLIC_URL") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServeSettings.model_validate(values)


async def healthz(request: web.Request) -> web.Response:
    context: ServeContext = request.app[CONTEXT_KEY]
    body: dict[str, object] = {"status": "ok", "active_calls": len(context.calls)}
    if workers.worker_index() is not None:
        statuses = await asyncio.to_thread(workers.read_statuses)
        body.update(worker=workers.worker_index(), workers=statuses,
                    active_calls_all=sum(int(s.get("active_calls", 0)) for s in statuses))  # fmt: skip
        if not all(s["ok"] for s in statuses):
            body["status"] = "degraded"
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    context: ServeContext = request.app[CONTEXT_KEY]
    body = context.services.metrics.render()
    return web.Response(body=body.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})


def _store(request: web.Request) -> CallStore:
    store = request.app[CONTEXT_KEY].services.store
    if store is None:
        raise web.HTTPNotFound(text="this server keeps no call index\n")
    return store


def _int_param(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer from 0 to {high}, got {raw!r}\n")
    return int(raw)


async def list_calls(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 100, 1000)
    offset = _int_param(request, "offset", 0, 10_000_000)
    rows = await _store(request).list_calls(limit=limit, offset=offset)
    return web.json_response({"calls": [row.model_dump(mode="json") for row in rows]})


async def get_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    row = await _store(request).get_call(call_id)
    if row is None:
        raise web.HTTPNotFound(text=f"no call {call_id!r}\n")
    try:
        recording = await asyncio.to_thread(read_recording, row.path)
    except FileNotFoundError as exc:
        raise web.HTTPGone(text=f"call {call_id}: recording {row.path} is gone\n") from exc
    return web.json_response({
        "call": row.model_dump(mode="json"),
        "events": [event.model_dump(mode="json") for event in recording.events],
        "errors": recording.errors,
    })  # fmt: skip


def create_app(
    settings: ServeSettings,
    *,
    runtime: Runtime | None = None,
    speech: SpeechEngines | None = None,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """The app; `runtime` and `speech` default to the configured ones (tests pass their own)."""
    environ = os.environ if env is None else env
    runtime = runtime or build_runtime(settings.config_path, env=environ)
    speech = speech or choose_engines(settings.speech, environ)
    recordings = settings.recordings_dir
    check_recordings_dir(recordings)  # one line naming the folder, before anything opens in it
    store = CallStore(recordings / "calls.sqlite3")
    services = CallServices(runtime=runtime, tts=speech.tts, recordings_dir=recordings, store=store,
                            metrics=ServeMetrics())  # fmt: skip
    context = ServeContext(
        services=services, speech=speech, default_agent=settings.agent, token=settings.token
    )
    runtime.agent(settings.agent)  # an unknown default agent fails here, before the port opens

    app = web.Application(middlewares=[access_middleware])
    app[CONTEXT_KEY] = context
    app[LIMITS_KEY] = settings.limits
    add_access_routes(app, AccessPolicy(token=settings.token, allowed_origins=settings.allowed_origins,
                                        twilio_auth_token=settings.twilio_auth_token,
                                        public_url=settings.public_url))  # fmt: skip
    add_webrtc_routes(app)  # GET / (the call page), /agents, POST /offer, /web/*
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/calls", list_calls)
    app.router.add_get("/calls/{call_id}", get_call)
    app.router.add_get("/ws", handle_ws)
    app.router.add_get("/twilio", handle_twilio)

    async def startup(app: web.Application) -> None:
        await store.open()
        added = await store.index_directory(recordings)
        if added:
            log.info("indexed %d recordings found in %s", added, recordings)
        closed = await reconcile_open_calls(store, recordings, prefix=workers.call_id_prefix())
        if closed.calls:
            log.info("closed %d calls cut off by a restart (%d WAV headers repaired, %d torn lines cut)",
                     closed.calls, closed.wav_headers, closed.torn_lines)  # fmt: skip
        await _warm_agents(runtime, speech, settings.agent)

    async def shutdown(app: web.Application) -> None:
        await context.close_all("server shutting down")

    async def cleanup(app: web.Application) -> None:
        await speech.aclose()
        await runtime.providers.aclose()
        await store.close()

    app.on_startup.append(startup)
    if workers.status_path() is not None:
        _add_heartbeat(app, context)
    if settings.sip_port:
        _add_sip(app, SipEndpoint(context, runtime.config.sip, host=settings.host, port=settings.sip_port,
                                  env=environ))  # fmt: skip
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


def _add_heartbeat(app: web.Application, context: ServeContext) -> None:
    """One of several workers: say every second that this worker is alive and how many calls it holds."""

    async def beat() -> None:
        while True:
            try:
                await asyncio.to_thread(workers.write_status, len(context.calls))
            except OSError as exc:
                log.warning("worker heartbeat not written: %s", exc)
            await asyncio.sleep(workers.HEARTBEAT_S)

    async def start(app: web.Application) -> None:
        app[HEARTBEAT_KEY] = asyncio.get_running_loop().create_task(beat(), name="worker heartbeat")

    async def stop(app: web.Application) -> None:
        task = app.get(HEARTBEAT_KEY)
        if task is not None:
            task.cancel()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
async def _warm_agents(runtime: Runtime, speech: SpeechEngines, default_agent: str) -> None:
    """Load every agent's recogniser, tools and data before the port opens: a call may name any agent,
    and its first call must be answered as fast as its tenth. The default agent goes first; a broken other
    one is skipped with a warning."""
    for name in [default_agent, *(a for a in available_agents() if a != default_agent)]:
        try:
            await speech.stt_for(name)
            runtime.new_call(name, transport="warm-up")
        except AgentError as exc:
            if name == default_agent:
                raise
            log.warning("agent %s not loaded: %s", name, exc)
    log.info("agents warm: speech recognition and tools loaded")


def _add_sip(app: web.Application, endpoint: SipEndpoint) -> None:
    """SIP runs beside HTTP: it opens after the call store, and hangs up its calls before the others close."""
    app[SIP_KEY] = endpoint

    async def start_sip(app: web.Application) -> None:
        await endpoint.start()

    async def stop_sip(app: web.Application) -> None:
        await endpoint.aclose()

    app.on_startup.append(start_sip)
    app.on_shutdown.append(stop_sip)


async def run_server(
    settings: ServeSettings,
    *,
    app: web.Application | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` (by default the one `settings` describe) until SIGINT or SIGTERM, then end every call."""
    refusal = bind_refusal(settings.host, token=settings.token, insecure_no_auth=settings.insecure_no_auth)
    if refusal:
        raise ValueError(refusal)
    # Handlers first: start-up (warming the agents, the heartbeat that tells a supervisor this worker is up,
    # opening the port) takes seconds on a busy machine, and a SIGTERM within it must drain, not kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = app or create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0, access_log=None)
    await runner.setup()
    site = GuardedSite(runner, settings.host, settings.port, limits=settings.limits,
                       metrics=app[CONTEXT_KEY].services.metrics.registry,
                       reuse_port=workers.reuse_port())  # fmt: skip
    await site.start()
    # Everything loaded so far lives as long as the process. Left to the cyclic collector, its full passes
    # over these objects stalled the event loop 50-90 ms at 50 calls (measured), making every call's audio
    # late at once; frozen, full passes only visit what calls create.
    gc.collect()
    gc.freeze()
    host, port = runner.addresses[0][:2]
    if ready is not None and not workers.worker_index():  # of several workers, the first one says it
        sip = app.get(SIP_KEY)
        ready(f"http://{host}:{port}" + (f" and sip:{sip.advertised_host}:{sip.port}" if sip else ""))
    try:
        await stop.wait()
        stop.clear()  # a second signal cuts the drain short
        await _drain(app[CONTEXT_KEY], settings.drain_seconds, stop)
    finally:
        await runner.cleanup()
    log.info("stopped")


async def _drain(context: ServeContext, drain_seconds: float, again: asyncio.Event) -> None:
    """Refuse new calls, give live ones `drain_seconds` to end by themselves, then end the rest (each one
    finalising its recording)."""
    context.draining = True
    if context.calls:
        log.info("shutting down: no new calls; %d live call(s) have %.0f s to finish", len(context.calls),
                 drain_seconds)  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + drain_seconds
    while context.calls and loop.time() < deadline and not again.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(again.wait(), min(0.1, max(0.0, deadline - loop.time())))
    if context.calls:
        log.info("shutting down: ending %d call(s) still live", len(context.calls))
    await context.close_all("server shutting down")
