"""The `voicerouter` command: route one utterance, chat with an agent through the full engine, serve calls.

Bad configuration or agent names end the command with one clear message, never a traceback. Each command
imports what it runs inside its own function, so `--help` and `route` never pay for media, SDKs or numpy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from voicerouter.cli_options import agents_dir_option, log_format_option

if TYPE_CHECKING:
    from voicerouter.router.features import TurnContext
    from voicerouter.wiring import Runtime


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def _user_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """Bad agent names and configuration (and the `also` errors of one command): reported in one line."""
    from voicerouter.agent import AgentError
    from voicerouter.config import ConfigError

    return (AgentError, ConfigError, *also)


def _runtime(config: str | None) -> Runtime:
    from voicerouter.wiring import build_runtime

    try:
        return build_runtime(config)
    except _user_errors(FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        raise  # unreachable


@click.group()
@click.version_option(package_name="voicerouter")
def main() -> None:
    """voicerouter: voice agents with per-turn model routing."""


@main.command()
@click.argument("text", required=False)
@agents_dir_option
@click.option("--agent", "agent_name", default="clinic", show_default=True)
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="voicerouter.toml to use")
@click.option("--json", "as_json", is_flag=True, help="print the decision as one JSON object")
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help='JSON list of {"role": "user"|"agent", "text": ...} before TEXT, in call order',
)
@click.option(
    "--batch",
    is_flag=True,
    help='JSONL on stdin, {"agent", "text", "history"} a line; one JSON decision a line on stdout',
)
def route(
    text: str | None,
    agent_name: str,
    config: str | None,
    as_json: bool,
    history_file: str | None,
    batch: bool,
) -> None:
    """The route decision for one utterance, after the history of its call when given."""
    from pydantic import TypeAdapter, ValidationError

    from voicerouter.agent import AgentError
    from voicerouter.config import ConfigError
    from voicerouter.router.dataset import HistoryEntry

    history_of = TypeAdapter(list[HistoryEntry])
    if batch == (text is not None):
        _fail("give either TEXT or --batch")
    try:
        runtime = _RouterOnly(config)
    except _user_errors(FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        raise  # unreachable
    if batch:
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            item: Any = None
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("a line must be a JSON object")
                earlier = history_of.validate_python(item.get("history") or [])
                said = item.get("text")
                if not isinstance(said, str) or not said.strip():
                    raise ValueError("text: a non-empty string is required")
                payload = _route_payload(runtime, str(item.get("agent") or agent_name), said, earlier)
            except (ValueError, ValidationError, AgentError, ConfigError) as exc:
                payload = {"line": number, "error": str(exc).splitlines()[0]}
            if isinstance(item, dict) and "id" in item:
                payload["id"] = item["id"]
            click.echo(json.dumps(payload), nl=True)
            sys.stdout.flush()
        return
    assert text is not None
    history: list[HistoryEntry] = []
    if history_file:
        try:
            with open(history_file, encoding="utf-8") as fh:
                history = history_of.validate_python(json.load(fh))
        except (OSError, ValueError, ValidationError) as exc:
            _fail(f"{history_file}: not a history list: {str(exc).splitlines()[0]}")
    try:
        payload = _route_payload(runtime, agent_name, text, history)
    except (AgentError, ConfigError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(payload))
        return
    click.echo(f"{payload['tier']} -> {payload['model']} ({payload['provider']})")
    click.echo(f"  reason: {payload['reason']}")
    click.echo(f"  confidence {payload['confidence']:.2f}, estimated ${payload['est_cost_usd']:.6f}")


class _RouterOnly:
    """What `route` needs of a runtime: the router and the agents, never a provider (so no SDK import)."""

    def __init__(self, config: str | None) -> None:
        from voicerouter.clock import RealClock
        from voicerouter.config import load_config
        from voicerouter.wiring import build_router

        self.base = load_config(config)
        self.router = build_router(self.base)
        self.clock = RealClock()

    def agent(self, name: str) -> tuple[Any, Any]:
        from voicerouter.agent import load_agent

        spec = load_agent(name)
        return spec, self.base.with_routing(spec.routing)  # routing that does not fit the config fails here


def _route_payload(runtime: Any, agent_name: str, text: str, history: list[Any]) -> dict[str, Any]:
    """Route `text` after `history` as a live call would: each earlier caller turn in its own context."""
    from voicerouter.router.dialogue import context_from_history

    spec, _config = runtime.agent(agent_name)
    router = runtime.router

    def decide(said: str, context: TurnContext) -> Any:
        return router.decide(
            said,
            context,
            now_ms=runtime.clock.now_ms(),
            call_cost_usd=0.0,
            prompt_chars=len(spec.prompt) + len(said),
        )

    context = context_from_history(
        [(h.role, h.text) for h in history],
        text,
        agent=spec.name,
        classify=lambda said, ctx: decide(said, ctx).tier,
    )
    decision = decide(text, context)
    return {
        "text": text,
        "agent": spec.name,
        "tier": decision.tier,
        "model": decision.model or "none",
        "provider": decision.provider,
        "reason": decision.reason,
        "confidence": round(decision.confidence, 4),
        "est_cost_usd": round(decision.est_cost_usd, 8),
        "chain": list(decision.chain),
    }


@main.command()
@agents_dir_option
@log_format_option(logging.WARNING)
@click.option("--agent", "agent_name", default="clinic", show_default=True)
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="voicerouter.toml to use")
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="write the call as JSONL events into this folder",
)
def chat(agent_name: str, config: str | None, record_dir: str | None) -> None:
    """A text conversation through the full engine (type 'bye' or Ctrl-D to end)."""
    import asyncio

    runtime = _runtime(config)
    try:
        asyncio.run(_chat(runtime, agent_name, record_dir))
    except _user_errors() as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


async def _chat(runtime: Runtime, agent_name: str, record_dir: str | None) -> None:
    import asyncio

    from voicerouter import events as ev
    from voicerouter.call.session import CallSession
    from voicerouter.engine import io
    from voicerouter.store import CallRecorder

    engine, tools = runtime.new_call(agent_name, transport="text", caller="terminal")
    recorder = CallRecorder.in_dir(record_dir, engine.call_id) if record_dir else None
    turn_done = asyncio.Event()
    interactive = sys.stdin.isatty()
    click.secho(f"{engine.agent.display_name} — call {engine.call_id}", bold=True)

    def show(event: ev.Event) -> None:
        if recorder is not None:
            recorder.write(event)
        if isinstance(event, ev.AgentText) and event.final and event.turn_id == 0:
            click.secho(f"agent: {event.text}", fg="green")
        elif isinstance(event, ev.RouteDecided):
            click.secho(
                f"  [{event.tier} -> {event.model} via {event.provider}, conf {event.confidence:.2f}] "
                f"{event.reason}",
                fg="cyan",
                dim=True,
            )
        elif isinstance(event, ev.ToolCalled):
            click.secho(f"  [tool {event.name}({json.dumps(event.args)})]", fg="magenta", dim=True)
        elif isinstance(event, ev.ProviderFailed):
            click.secho(f"  [{event.model} failed: {event.error}; next: {event.fallback_to}]", fg="yellow")
        elif isinstance(event, ev.AgentText) and event.final:
            click.secho(f"agent: {event.text}", fg="green")
        elif isinstance(event, ev.TurnCompleted):
            first = f"{event.first_token_ms} ms" if event.first_token_ms is not None else "n/a"
            click.secho(
                f"  [first token {first}, turn {event.total_ms} ms, "
                f"{event.tokens_in}+{event.tokens_out} tokens, "
                f"${event.cost_usd:.6f}; call ${engine.call_cost_usd:.6f}]",
                dim=True,
            )
            turn_done.set()

    session = CallSession(engine, runtime.providers, tools, on_event=show)
    session.start()
    try:
        while True:
            prompt = "you: " if interactive else ""
            line = await asyncio.to_thread(_read_line, prompt)
            if line is None:
                break
            if not line.strip():
                continue
            if not interactive:
                click.echo(f"you: {line}")
            turn_done.clear()
            session.feed(io.Transcript(text=line))
            await turn_done.wait()
            if line.strip().lower().rstrip(".!") in {"bye", "goodbye", "quit", "exit"}:
                break
    finally:
        await session.close("caller hung up")
        await runtime.providers.aclose()
        if recorder is not None:
            recorder.close()
            click.secho(f"recorded to {recorder.path}", dim=True)


def _read_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


@main.command("agents")
@agents_dir_option
def list_agents() -> None:
    """The agents known here: yours (--agents-dir, VOICEROUTER_AGENTS_DIR), then the shipped ones."""
    from voicerouter.agent import available_agents, load_agent

    for name in available_agents():
        spec = load_agent(name)
        click.echo(f"{name:10} {spec.display_name}")


@main.command()
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="folder to create the agent in (it becomes DIR/NAME/)")
def init(name: str, directory: str) -> None:
    """Scaffold your own agent: definition, prompt, a typed tool over a data file, its test, three calls."""
    from pathlib import Path

    from voicerouter.scaffold import scaffold

    try:
        folder = scaffold(name, Path(directory).resolve())
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    parent = folder.parent
    click.secho(f"created agent {name!r} in {folder}", fg="green")
    click.echo(f"  try: voicerouter chat --agent {name} --agents-dir {parent}")
    click.echo(f"       sim replay {folder / 'calls'} --agents-dir {parent}")


@main.command()
@agents_dir_option
@log_format_option()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--agent", "agent_name", default="clinic", show_default=True, help="agent when calls name none")
@click.option(
    "--recordings",
    "recordings_dir",
    type=click.Path(file_okay=False),
    default="recordings",
    show_default=True,
    help="folder for call recordings (JSONL + WAV) and their index",
)
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="voicerouter.toml to use")
@click.option("--speech", type=click.Choice(["auto", "offline", "openai"]), default="auto", show_default=True,
              help="speech engines: auto = OpenAI when OPENAI_API_KEY is set, else offline")
@click.option("--sip-port", type=click.IntRange(0, 65535), default=None,
              help="also answer phone calls over SIP (UDP and TCP) on this port; 0 or absent: off")
@click.option("--workers", type=click.IntRange(0, 64), default=1, show_default=True,
              help="serving processes sharing the ports; 0: one per core")
@click.option("--drain-seconds", type=click.FloatRange(0), default=10.0, show_default=True,
              help="on SIGTERM/SIGINT, refuse new calls and give live ones this long before ending them")
@click.option("--insecure-no-auth", is_flag=True,
              help="serve a non-loopback --host without VOICEROUTER_TOKEN (anyone reaching the port gets in)")
@click.option("--allowed-origin", "allowed_origins", multiple=True,
              help="a browser origin /ws accepts besides the server's own (repeatable; * = any)")
def serve(
    host: str, port: int, agent_name: str, recordings_dir: str, config: str | None, speech: str,
    sip_port: int | None, workers: int, drain_seconds: float, insecure_no_auth: bool,
    allowed_origins: tuple[str, ...],
) -> None:  # fmt: skip
    """Serve calls: /ws (WebSocket audio), /twilio (Twilio Media Streams), /calls, /metrics, /healthz,
    and SIP phone calls with --sip-port."""
    import asyncio
    from pathlib import Path

    from pydantic import ValidationError

    from voicerouter.server import run_server, settings_from_env

    try:
        settings = settings_from_env(
            host=host, port=port, agent=agent_name, recordings_dir=Path(recordings_dir), config_path=config,
            speech=speech, sip_port=sip_port, drain_seconds=drain_seconds, insecure_no_auth=insecure_no_auth,
            allowed_origins=allowed_origins or None,
        )  # fmt: skip
    except ValidationError as exc:
        _fail(str(exc))

    from voicerouter.media.auth import bind_refusal

    refusal = bind_refusal(settings.host, token=settings.token, insecure_no_auth=settings.insecure_no_auth)
    if refusal:
        _fail(refusal)
    count = workers or os.cpu_count() or 1  # 0: one per core
    if count > 1:
        from voicerouter.workers import Supervisor

        try:
            supervisor = Supervisor(sys.argv[1:], count, host=host, port=port, sip_port=sip_port,
                                    drain_seconds=drain_seconds)  # fmt: skip
        except OSError as exc:
            _fail(f"cannot bind the serving ports: {exc}")
        click.secho(f"voicerouter: {count} workers on port {supervisor.port}"
                    + (f", SIP {supervisor.sip_port}" if supervisor.sip_port else ""), dim=True)  # fmt: skip
        sys.exit(supervisor.run())

    def ready(address: str) -> None:
        click.secho(f"voicerouter serving agent {settings.agent!r} on {address} (recordings: "
                    f"{settings.recordings_dir})", fg="green")  # fmt: skip

    try:
        asyncio.run(run_server(settings, ready=ready))
    except _user_errors(ValueError, OSError) as exc:
        _fail(str(exc))


@main.command()
@click.argument("url")
@click.option(
    "--wav",
    "wav_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="what the caller says (any rate, mono or stereo PCM16 WAV)",
)
@click.option("--twilio", is_flag=True, help="speak Twilio Media Streams (µ-law 8 kHz) to /twilio")
@click.option("--agent", "agent_name", default=None, help="agent to call (default: the server's)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="agent audio WAV")
@click.option("--token", default=None, envvar="VOICEROUTER_TOKEN", help="token for a server that needs one")
@click.option("--answer-seconds", type=float, default=None, help="hang up after this much of the answer")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="seconds to connect and upgrade to a WebSocket")
@click.option("--silence-timeout", type=click.FloatRange(min=0.5), default=30.0, show_default=True,
              help="hang up when the server sends nothing at all for this many seconds")
def call(
    url: str, wav_path: str, twilio: bool, agent_name: str | None, out_path: str | None, token: str | None,
    answer_seconds: float | None, connect_timeout: float, silence_timeout: float,
) -> None:  # fmt: skip
    """Call a voicerouter server as a caller: stream a WAV in real time and print what happens."""
    import asyncio

    from voicerouter.caller.client import CallFailed, load_wav, save_wav
    from voicerouter.caller.run import run_call

    rate_hz = 8000 if twilio else 16000
    try:
        speech = load_wav(wav_path, rate_hz)
    except (ValueError, OSError) as exc:
        _fail(f"{wav_path}: {exc}")

    def show(event: dict[str, object]) -> None:
        kind = event.get("type")
        if kind == "user.transcript" and event.get("final"):
            click.secho(f"you said: {event.get('text')!r} (confidence {event.get('confidence')})", fg="blue")
        elif kind == "route.decided":
            click.secho(f"  [{event.get('tier')} -> {event.get('model')} via {event.get('provider')}] "
                        f"{event.get('reason')}", fg="cyan", dim=True)  # fmt: skip
        elif kind == "agent.text" and event.get("final"):
            click.secho(f"agent: {event.get('text')}", fg="green")
        elif kind == "turn.interrupted":
            click.secho(f"  [interrupted; heard: {event.get('heard_text')!r}]", fg="yellow")

    try:
        result = asyncio.run(
            run_call(url, speech, twilio=twilio, agent=agent_name, token=token, on_event=show,
                     answer_s=answer_seconds, connect_timeout_s=connect_timeout,
                     silence_timeout_s=silence_timeout)
        )  # fmt: skip
    except CallFailed as exc:
        _fail(str(exc))
    except (OSError, ValueError) as exc:
        _fail(f"{url}: {exc}")
    except KeyboardInterrupt:
        return
    seconds = len(result.agent_audio) / 2 / result.rate_hz
    click.secho(f"call {result.call_id}: {seconds:.1f} s of agent audio received", dim=True)
    if out_path:
        save_wav(out_path, bytes(result.agent_audio), result.rate_hz)
        click.secho(f"agent audio saved to {out_path}", dim=True)


if __name__ == "__main__":
    main()
