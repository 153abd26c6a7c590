"""`voicerouter.toml`: the model table and the routing policy, validated with messages that name file and key.

Swapping a model is a config change. The embedded default works offline; a user file overrides it key by key,
and environment variables (`VOICEROUTER_CONFIG`, provider API keys) choose the file and the live providers.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, ValidationError, model_validator

from voicerouter.audio.settings import AudioConfig
from voicerouter.events import TIERS, Tier

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "default.toml"

ProviderKind = Literal["openai", "anthropic", "openai_realtime", "offline"]


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file, the key and the problem."""


class Distribution(BaseModel):
    """A latency figure as a log-normal through p50 and p95, the shape provider latencies take."""

    model_config = ConfigDict(extra="forbid")
    p50: float = Field(gt=0)
    p95: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if self.p95 < self.p50:
            raise ValueError(f"p95 ({self.p95}) must be >= p50 ({self.p50})")
        return self


class ErrorRates(BaseModel):
    """How often a model gets a turn of one tier wrong, by kind of mistake (probabilities per turn)."""

    model_config = ConfigDict(extra="forbid")
    wrong_tool_arg: float = Field(default=0.0, ge=0, le=1)
    missed_tool_call: float = Field(default=0.0, ge=0, le=1)
    invented_record: float = Field(default=0.0, ge=0, le=1)
    needless_refusal: float = Field(default=0.0, ge=0, le=1)
    misclassify: float = Field(default=0.0, ge=0, le=1, description="as escalation classifier: wrong tier")


class BehaviourProfile(BaseModel):
    """How a model behaves in the simulator: latency, speed, reliability and mistakes by tier."""

    model_config = ConfigDict(extra="forbid")
    first_token_ms: Distribution = Distribution(p50=400, p95=900)
    tokens_per_s: float = Field(default=80.0, gt=0)
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="429/500 per request")
    errors: dict[str, ErrorRates] = Field(default_factory=dict, description="keyed by tier")
    source: str = Field(default="assumed", description='"assumed", or "measured: <the run it was fitted on>"')
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="counts and 95 % intervals behind measured rates (sim calibrate)"
    )

    @model_validator(mode="after")
    def _tiers(self) -> BehaviourProfile:
        for tier in self.errors:
            if tier not in TIERS:
                raise ValueError(f"errors.{tier}: unknown tier (known: {', '.join(TIERS)})")
        return self


class ModelEntry(BaseModel):
    """One row of the model table."""

    model_config = ConfigDict(extra="forbid")
    provider: ProviderKind
    model: str = Field(description="the vendor's model id")
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="env var holding the key; unset = offline only")
    price_in_per_mtok: float = Field(default=0.0, ge=0, description="text input, USD per million tokens")
    price_out_per_mtok: float = Field(default=0.0, ge=0, description="text output")
    price_cached_in_per_mtok: float = Field(default=0.0, ge=0, description="text input read from the cache")
    price_cache_write_per_mtok: float | None = Field(
        default=None, ge=0, description="input written to the prompt cache; unset = the input price"
    )
    price_audio_in_per_mtok: float = Field(default=0.0, ge=0, description="audio input (Realtime)")
    price_cached_audio_in_per_mtok: float = Field(default=0.0, ge=0, description="cached audio input")
    price_audio_out_per_mtok: float = Field(default=0.0, ge=0, description="audio output (Realtime)")
    prices_taken: str = Field(default="", description="date this row's prices were read")
    prices_source: str = Field(default="", description="where this row's prices were read")
    max_tokens: int = Field(default=400, gt=0)
    profile: BehaviourProfile = BehaviourProfile()


class HealthPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failure_threshold: int = Field(default=3, ge=1, description="consecutive failures that open the breaker")
    open_cooldown_s: float = Field(default=30.0, gt=0, description="how long an open breaker rejects")
    max_retry_after_s: float = Field(default=120.0, gt=0, description="cap on a provider's Retry-After")


class RoutingPolicy(BaseModel):
    """Which model answers which tier, with what budgets."""

    model_config = ConfigDict(extra="forbid")
    triage: list[str]
    reasoning: list[str]
    speech: list[str]
    escalate_below_confidence: float = Field(default=0.55, ge=0, le=1)
    escalation: Literal["premium", "ask_small_model"] = "premium"
    first_token_budget_ms: int = Field(default=1500, gt=0, description="every tier, unless set by tier below")
    first_token_budget_ms_by_tier: dict[Tier, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    tool_budget_ms: int = Field(default=3000, gt=0, description="ceiling on any one tool wait")
    turn_budget_ms: int = Field(default=20000, gt=0, description="ceiling on a whole turn")
    turn_cost_budget_usd: float = Field(default=0.05, gt=0)
    call_cost_cap_usd: float = Field(default=0.50, gt=0)
    cost_cap_downshift_at: float = Field(default=0.8, gt=0, le=1, description="fraction of the cap")
    max_steps_per_turn: int = Field(default=6, ge=1, description="model calls (tool rounds) in one turn")
    silence_reprompt_ms: int = Field(
        default=8000, ge=0, description="voice calls: caller silent this long after the agent finished -> "
        "'are you still there?' (0 = never)"
    )  # fmt: skip
    silence_reprompts: int = Field(default=1, ge=0, description="re-prompts before a polite hang-up")
    preemptive_generation: bool = Field(
        default=True, description="start the model on the caller's words at a pause, before the end of turn"
    )
    voice_budget_ms: int = Field(
        default=700, gt=0, description="expected silence past which the agent acknowledges before answering"
    )

    def first_token_budget(self, tier: str) -> int:
        """How long a model of this tier may take to start answering before the chain moves on."""
        return self.first_token_budget_ms_by_tier.get(tier, self.first_token_budget_ms)  # type: ignore[call-overload]

    def chain(self, tier: str) -> list[str]:
        chain: list[str] = getattr(self, tier)
        return chain


class ContextPolicy(BaseModel):
    """How much conversation every model sees (see engine/history.py for the policy)."""

    model_config = ConfigDict(extra="forbid")
    max_messages: int = Field(default=24, ge=4)
    keep_first_user_turns: int = Field(default=1, ge=0)


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    margin_p95_first_token_ms: float = 50.0
    margin_tool_arg_accuracy: float = 0.01
    margin_refusal_on_missing_rate: float = 0.01
    margin_cost_per_session_usd: float = 0.002
    latency: Literal["first_token", "first_audio"] = Field(
        default="first_token", description="gate on p95 first token, or on p95 first audio the caller hears"
    )
    margin_p95_first_audio_ms: float = 50.0


class SipRegistration(BaseModel):
    """REGISTER to a trunk or PBX that only sends calls to registered contacts (digest auth, refreshed)."""

    model_config = ConfigDict(extra="forbid")
    registrar: str = Field(description="REGISTER Request-URI, e.g. sip:pbx.example.com")
    aor: str = Field(description="address of record, e.g. sip:1001@pbx.example.com")
    username: str | None = Field(default=None, description="digest user; defaults to the AOR user")
    password_env: str | None = Field(default=None, description="env var holding the digest password")
    expires_s: int = Field(default=3600, ge=60)
    proxy: str | None = Field(default=None, description="outbound proxy URI; default: the registrar")


class SipConfig(BaseModel):
    """Phone calls over SIP/RTP (`voicerouter serve --sip-port`): who may call, which agent answers, ports."""

    model_config = ConfigDict(extra="forbid")
    advertised_host: str | None = Field(
        default=None, description="address put in Via/Contact/SDP; set the public IP behind NAT"
    )
    allowed_sources: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")],
        description="networks whose INVITEs are accepted (others get 403)",
    )
    numbers: dict[str, str] = Field(
        default_factory=dict, description="dialled number or Request-URI user -> agent name"
    )
    default_agent: str | None = Field(
        default=None, description="agent for a Request-URI without a user part; None: serve --agent"
    )
    unknown_user: Literal["reject", "default_agent"] = Field(
        default="reject", description="a user that is neither mapped nor an agent: 404, or the default agent"
    )
    rtp_port_min: int = Field(default=20000, ge=1024, le=65534)
    rtp_port_max: int = Field(default=20999, ge=1025, le=65535)
    max_calls: int = Field(default=100, ge=1, description="concurrent SIP calls; past this INVITEs get 503")
    calls_per_minute_per_source: int = Field(default=120, ge=1, description="INVITE rate limit per IP")
    burst_per_source: int = Field(default=20, ge=1)
    auth_realm: str = "voicerouter"
    auth_algorithms: tuple[Literal["SHA-256", "MD5"], ...] = Field(
        default=("SHA-256", "MD5"),
        min_length=1,
        description="digest challenges offered, in order; MD5 alone for peers that read only the first",
    )
    auth_users_env: dict[str, str] = Field(
        default_factory=dict,
        description="digest user -> env var with its password; when set, INVITEs are digest-challenged",
    )
    access: Literal["auto", "allow_list"] = Field(
        default="auto",
        description="auto: digest when auth users or VOICEROUTER_TOKEN are set; allow_list: sources only",
    )
    transfer_target: str | None = Field(
        default=None, description="where transfer_to_human sends the caller: a SIP URI or a number"
    )
    transfer_digit: str = Field(default="0", description="DTMF key that asks for a person; empty: none")
    send_in_dialog_to_source: bool = Field(
        default=True, description="BYE/REFER go where the INVITE came from (callers behind NAT)"
    )
    jitter_target_ms: int = Field(default=60, ge=20, le=400)
    ring_ms: int = Field(default=0, ge=0, le=30_000, description="ring this long before answering")
    registrations: list[SipRegistration] = Field(default_factory=list)

    @model_validator(mode="after")
    def _port_range(self) -> SipConfig:
        if self.rtp_port_max - self.rtp_port_min < 1:
            raise ValueError(
                f"rtp_port_min {self.rtp_port_min} .. rtp_port_max {self.rtp_port_max}: "
                "need room for at least one RTP/RTCP pair"
            )
        if self.transfer_digit and self.transfer_digit not in tuple("0123456789*#ABCD"):
            raise ValueError(f"transfer_digit {self.transfer_digit!r}: not a DTMF key (0-9, *, #, A-D)")
        return self


class SpeechCosts(BaseModel):
    """What speech recognition and synthesis cost on a voice call (text calls pay neither).

    STT is billed per minute of caller audio; TTS per million characters spoken by a text tier (the speech
    tier speaks with its own audio tokens, priced in its model row)."""

    model_config = ConfigDict(extra="forbid")
    stt_model: str = "offline"
    stt_usd_per_minute: float = Field(default=0.0, ge=0)
    tts_model: str = "offline"
    tts_usd_per_mchars: float = Field(default=0.0, ge=0)
    prices_taken: str = ""
    prices_source: str = ""


class VoicerouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelEntry]
    routing: RoutingPolicy
    health: HealthPolicy = HealthPolicy()
    context: ContextPolicy = ContextPolicy()
    gate: GatePolicy = GatePolicy()
    audio: AudioConfig = AudioConfig()
    sip: SipConfig = SipConfig()
    speech_costs: SpeechCosts = SpeechCosts()
    prices_taken: str = Field(default="", description="date the list prices were read")
    profiles: list[str] = Field(
        default_factory=list, description="profile files (sim calibrate --out) merged over the model table"
    )
    source: str = ""

    @model_validator(mode="after")
    def _chains_name_known_models(self) -> VoicerouterConfig:
        for tier in TIERS:
            chain = self.routing.chain(tier)
            if not chain:
                raise ValueError(f"routing.{tier}: needs at least one model")
            for i, name in enumerate(chain):
                if name not in self.models:
                    known = ", ".join(sorted(self.models))
                    raise ValueError(f"routing.{tier}[{i}]: unknown model {name!r} (known: {known})")
        return self

    def with_routing(self, overrides: dict[str, Any]) -> VoicerouterConfig:
        """This config with an agent's routing overrides applied, validated again."""
        if not overrides:
            return self
        data = self.model_dump()
        data["routing"] = {**data["routing"], **overrides}
        return validate_config(data, source=f"{self.source} + agent routing overrides")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_error(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")
    return "\n".join(lines)


def validate_config(data: dict[str, Any], *, source: str) -> VoicerouterConfig:
    try:
        config = VoicerouterConfig.model_validate({k: v for k, v in data.items() if k != "source"})
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from exc
    return config.model_copy(update={"source": source})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_config(path: str | Path | None = None) -> VoicerouterConfig:
    """The embedded default overridden by `path`, else $VOICEROUTER_CONFIG, else ./voicerouter.toml."""
    base = _read_toml(DEFAULT_CONFIG_PATH)
    chosen = path or os.environ.get("VOICEROUTER_CONFIG")
    if chosen is None and Path("voicerouter.toml").is_file():
        chosen = "voicerouter.toml"
    if chosen is None:
        return validate_config(base, source=str(DEFAULT_CONFIG_PATH))
    user = _read_toml(Path(chosen))
    # A user's tier chain replaces the default chain; tables merge key by key.
    merged = _deep_merge(base, user)
    for name in merged.get("profiles", []):
        profile_path = (Path(chosen).parent / str(name)).resolve()
        merged = _deep_merge(merged, _profile_file(profile_path, source=str(chosen)))
    return validate_config(merged, source=str(chosen))


def _profile_file(path: Path, *, source: str) -> dict[str, Any]:
    """A profile file holds only `[models.NAME.profile]` tables (what `sim calibrate --out` writes)."""
    data = _read_toml(path)
    models = data.get("models")
    if set(data) != {"models"} or not isinstance(models, dict):
        raise ConfigError(f"{source}: profiles: {path}: expected only [models.NAME.profile] tables")
    for name, table in models.items():
        if not isinstance(table, dict) or set(table) != {"profile"}:
            raise ConfigError(f"{source}: profiles: {path}: models.{name}: only a profile table may be set")
    return data
