"""`voicerouter serve --sip-port`: phone calls over SIP/RTP, the call decisions around the SIP user agent.

The `UserAgentLoop` carries bytes and time; this endpoint makes the application's decisions on the user
agent's events: which agent answers (or 404), who is over the rate limit or outside the allowed networks
(503 / 403), which RTP ports a call gets, when to transfer, and it runs one `SipCallLeg` per answered call.
No peer input and no failing handler may raise out of it, and stopping it ends every call and frees every
socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from voicerouter import workers
from voicerouter.agent import available_agents, load_agent
from voicerouter.config import ConfigError, SipConfig
from voicerouter.media.context import ServeContext
from voicerouter.media.sip import (
    CallEnded,
    CallEstablished,
    EndReason,
    IncomingCall,
    LocalMedia,
    MediaUpdated,
    MessageRejected,
    NegotiatedMedia,
    RegistrationConfig,
    RegistrationUpdated,
    TransferUpdated,
    UaEvent,
    UnknownCall,
    UserAgent,
    UserAgentConfig,
)
from voicerouter.media.sip.call import IllegalCallTransition
from voicerouter.media.sip.midcall import TransferNotAllowed
from voicerouter.media.sip_io.call import SipCallLeg
from voicerouter.media.sip_io.loop import UserAgentLoop
from voicerouter.media.sip_io.metrics import SipMetrics
from voicerouter.media.sip_io.policy import AgentChooser, RtpPortPool, SourceRateLimiter, sip_access

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # for calls to hang up and our BYEs to be answered when the server stops
BUSY_RETRY_AFTER_S = 5

_END_REASONS = {
    EndReason.REMOTE_BYE: "caller hung up",
    EndReason.LOCAL_BYE: "agent hung up",
    EndReason.CANCELLED: "caller cancelled before the answer",
    EndReason.REJECTED: "call refused",
    EndReason.ACK_TIMEOUT: "the caller never acknowledged the answer",
    EndReason.TRANSFERRED: "transferred",
    EndReason.NO_ANSWER: "not answered in time",
}


@dataclass(frozen=True, slots=True)
class EndpointCounts:
    """Live objects, for the no-leak checks: all zero (registrations aside) once every call has ended."""

    calls: int
    dialogs: int
    transactions: int
    legs: int
    rtp_ports: int
    tcp_connections: int
    tasks: int


def advertised_address(config: SipConfig, bind_host: str) -> str:
    """What peers must reach us at: the configured public address, the bind address, or the host's own."""
    if config.advertised_host:
        return config.advertised_host
    if not ipaddress.ip_address(bind_host).is_unspecified:
        return bind_host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet leaves: this only asks the kernel for a route
        host = str(probe.getsockname()[0])
    log.warning("sip: bound to %s without sip.advertised_host; advertising %s (set it behind NAT)",
                bind_host, host)  # fmt: skip
    return host


class SipEndpoint:
    def __init__(
        self,
        context: ServeContext,
        config: SipConfig,
        *,
        host: str,
        port: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.context = context
        self.config = config
        self.bind_host = host
        self.requested_port = port
        self.env = os.environ if env is None else env
        self.metrics = SipMetrics(context.services.metrics.registry)
        self.ports = RtpPortPool(*workers.rtp_range(config.rtp_port_min, config.rtp_port_max))
        agents = frozenset(available_agents())  # read once: choosing an agent per INVITE does no file I/O
        self.chooser = AgentChooser(config, context.default_agent, agents.__contains__)
        self.limiter = SourceRateLimiter(config.calls_per_minute_per_source, config.burst_per_source)
        self.legs: dict[str, SipCallLeg] = {}
        self.loop = UserAgentLoop(self._dispatch)
        self.advertised_host = ""
        self._stopping = False
        for agent in self.chooser.agents():
            load_agent(agent)  # a misspelt agent in sip.numbers fails at start-up, not on the first call

    @property
    def port(self) -> int:
        return self.loop.port

    def now_ms(self) -> float:
        return self.loop.now_ms()

    # ---- lifecycle

    async def start(self) -> None:
        config = self.config
        access = sip_access(config, self.context.token, self._auth_users())
        await self.loop.open(self.bind_host, self.requested_port)
        self.advertised_host = advertised_address(config, self.bind_host)
        ua = UserAgent(
            UserAgentConfig(
                advertised_host=self.advertised_host,
                port=self.port,
                allowed_sources=tuple(config.allowed_sources),
                auth_realm=config.auth_realm,
                auth_users=dict(access.users),
                auth_algorithms=config.auth_algorithms,
                in_dialog_to_source=config.send_in_dialog_to_source,
            )
        )
        self.loop.attach(ua)
        for registration in config.registrations:
            trunk = RegistrationConfig(
                registrar=registration.registrar,
                aor=registration.aor,
                username=registration.username,
                password=self._secret(registration.password_env, "sip.registrations.password_env"),
                expires_s=registration.expires_s,
                proxy=registration.proxy,
            )
            ua.register(trunk, self.now_ms())  # a registrar URI that does not parse fails the start-up
        self.loop.pump()
        log.info("sip: listening on %s:%d (UDP, TCP), advertising %s, RTP ports %d-%d", self.bind_host,
                 self.port, self.advertised_host, config.rtp_port_min, config.rtp_port_max)  # fmt: skip
        log.info("sip: callers admitted by %s", access.summary)

    async def aclose(self) -> None:
        """Refuse new calls, hang up every call, let our BYEs be answered, then close every socket."""
        self._stopping = True
        ua = self.loop.ua
        if ua is not None:
            for registration_id in ua.registration_ids():
                self._unregister(registration_id)
        legs = list(self.legs.values())
        for leg in legs:
            leg.end("server shutting down")
            self.hangup(leg.call_id)
        if legs:
            try:
                await asyncio.wait_for(asyncio.gather(*(leg.done.wait() for leg in legs)), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("sip: calls still closing after %.0f s: cancelling them", STOP_TIMEOUT_S)
                running = [leg.task for leg in legs if leg.task is not None and not leg.task.done()]
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        for _ in range(int(STOP_TIMEOUT_S / 0.05)):
            if ua is None or ua.counts().calls == 0:
                break
            await asyncio.sleep(0.05)
        await self.loop.aclose()

    def counts(self) -> EndpointCounts:
        assert self.loop.ua is not None
        ua = self.loop.ua.counts()
        return EndpointCounts(
            calls=ua.calls,
            dialogs=ua.dialogs,
            transactions=ua.transactions,
            legs=len(self.legs),
            rtp_ports=self.ports.in_use,
            tcp_connections=self.loop.tcp_connections,
            tasks=self.loop.task_count,
        )

    def run_timers(self, now_ms: float) -> None:
        """Run every user-agent timer due by `now_ms` (tests fast-forward to prove nothing lingers)."""
        self.loop.decide(lambda ua: ua.on_timer(now_ms))

    # ---- decisions a call leg asks for (SipCallControl)

    def accept(self, leg: SipCallLeg) -> NegotiatedMedia | None:
        assert leg.sockets is not None
        local = LocalMedia(self.advertised_host, leg.sockets.rtp_port)
        return self.loop.decide(lambda ua: ua.accept(leg.call_id, local, self.now_ms()))

    def reject(self, call_id: str, status: int) -> None:
        self.loop.decide(lambda ua: ua.reject(call_id, status, self.now_ms()))

    def hangup(self, call_id: str) -> None:
        self.loop.decide(lambda ua: ua.hangup(call_id, self.now_ms()))

    def transfer(self, call_id: str) -> str | None:
        """Send REFER to the configured target; returns the target, or None if no transfer started."""
        ua, target = self.loop.ua, self.config.transfer_target
        if ua is None or not target:
            log.warning("sip call %s: a transfer was asked for but sip.transfer_target is not set", call_id)
            return None
        try:
            if not target.lower().startswith(("sip:", "sips:")):  # a number: ask the trunk that sent the call
                target = f"sip:{target}@{ua.call(call_id).source.host}"
            ua.transfer(call_id, target, self.now_ms())
        except (UnknownCall, IllegalCallTransition, TransferNotAllowed) as exc:
            log.warning("sip call %s: cannot transfer to %s: %s", call_id, target, exc)
            self.metrics.transfers.inc(1, "refused")
            return None
        finally:
            self.loop.pump()
        return target

    def leg_done(self, leg: SipCallLeg) -> None:
        if self.legs.get(leg.call_id) is leg:
            del self.legs[leg.call_id]
            self.metrics.active_calls.set(len(self.legs))

    def _unregister(self, registration_id: str) -> None:
        self.loop.decide(lambda ua: ua.unregister(registration_id, self.now_ms()))

    # ---- the user agent's events

    def _dispatch(self, event: UaEvent) -> None:
        if isinstance(event, IncomingCall):
            self._on_incoming(event)
        elif isinstance(event, CallEstablished):
            self.metrics.calls.inc(1, "answered")
            leg = self.legs.get(event.call_id)
            if leg is not None:
                leg.established(event.media)
            else:
                self.hangup(event.call_id)  # its leg gave up meanwhile (server stopping)
        elif isinstance(event, MediaUpdated):
            if (leg := self.legs.get(event.call_id)) is not None:
                leg.media_updated(event.media)
        elif isinstance(event, CallEnded):
            self._on_ended(event)
        elif isinstance(event, TransferUpdated):
            if (leg := self.legs.get(event.call_id)) is not None:
                leg.transfer_updated(event)
        elif isinstance(event, MessageRejected):
            self.metrics.rejected_messages.inc(1, str(event.status or "drop"))
            log.info("sip: %s from %s: %s (%s)", event.status or "dropped", event.source, event.reason,
                     event.detail)  # fmt: skip
        elif isinstance(event, RegistrationUpdated):
            log.info("sip: registration %s is %s (status %s, expires %s s)", event.registration_id,
                     event.state, event.status, event.expires_s)  # fmt: skip

    def _on_incoming(self, event: IncomingCall) -> None:
        ua = self.loop.ua
        assert ua is not None
        now_ms = self.now_ms()
        if self._stopping:
            self._refuse(ua, event, 503, "server stopping", retry_after_s=BUSY_RETRY_AFTER_S)
            return
        if not self.limiter.allow(event.source.host, now_ms):
            retry = self.limiter.retry_after_s(event.source.host)
            self._refuse(ua, event, 503, "rate limit for this source", retry_after_s=retry)
            return
        agent = self.chooser.choose(event.user)
        if agent is None:
            self._refuse(ua, event, 404, f"no agent or number {event.user!r}")
            return
        if len(self.legs) >= self.config.max_calls:
            busy = f"{len(self.legs)} calls in progress"
            self._refuse(ua, event, 503, busy, retry_after_s=BUSY_RETRY_AFTER_S)
            return
        ua.ring(event.call_id, now_ms)
        leg = SipCallLeg(self, event, agent)
        self.legs[event.call_id] = leg
        self.metrics.active_calls.set(len(self.legs))
        leg.start()

    def _refuse(
        self, ua: UserAgent, event: IncomingCall, status: int, why: str, *, retry_after_s: int | None = None
    ) -> None:
        log.info("sip: refusing INVITE %s from %s with %d: %s", event.call_id, event.source, status, why)
        ua.reject(event.call_id, status, self.now_ms(), retry_after_s=retry_after_s)

    def _on_ended(self, event: CallEnded) -> None:
        if event.reason is EndReason.REJECTED:
            self.metrics.calls.inc(1, str(event.status))
        elif event.reason in (EndReason.CANCELLED, EndReason.NO_ANSWER, EndReason.ACK_TIMEOUT):
            self.metrics.calls.inc(1, event.reason.value)
        leg = self.legs.get(event.call_id)
        if leg is not None:
            leg.end(_END_REASONS.get(event.reason, event.reason.value))

    # ---- configuration

    def _auth_users(self) -> dict[str, str]:
        return {
            user: self._secret(env_name, f"sip.auth_users_env.{user}")
            for user, env_name in self.config.auth_users_env.items()
        }

    def _secret(self, env_name: str | None, key: str) -> str:
        value = self.env.get(env_name or "")
        if not env_name or value is None:
            raise ConfigError(f"{key}: environment variable {env_name!r} is not set")
        return value
