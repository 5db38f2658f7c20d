"""stockbot.toml: one file, ``${ENV_VAR}`` for secrets, validated at start-up.

Every error names the key (as it is written in the TOML file) and says how to fix it; see
``bot/stockbot.example.toml`` for a commented example of every section.
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from stockbot.adapters import ADAPTERS, MissingExtra, adapter_settings
from stockbot.adapters.base import AdapterSettings, register_secret
from stockbot.adapters.i18n import DEFAULT_LANGUAGE, languages

if TYPE_CHECKING:
    from stockbot.adapters.slack import SlackSettings

DEFAULT_CONFIG_FILE = "stockbot.toml"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///stockbot.db"
# Sections that configure an adapter outside [adapters.NAME], because they also configure a front end.
CHAT_SECTIONS = ("slack", "teams")


class ConfigError(Exception):
    """A config problem, worded for the person editing the file."""


_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value)) if isinstance(value, str) and value.strip() else None
    if not match or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration: write it like "30s", "15m", "1h30m" or "2d"')
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(3978, ge=0, le=65535)
    public_url: str | None = None  # links back to stockbot in cards and tickets
    body_limit_bytes: int = Field(1024 * 1024, ge=1024)


class StorageConfig(Section):
    url: str = DEFAULT_DATABASE_URL
    # Raw events are kept this long; their daily totals per product-location (daily_stock) are kept for
    # ever, and the audit log is never pruned. The roll-up runs every rollup_interval (bot/history.py).
    event_retention: Duration = timedelta(days=90)
    rollup_interval: Duration = timedelta(minutes=5)
    # SQLite: how long a write waits for another process's lock before it fails (and the request is
    # answered 503 with Retry-After).
    busy_timeout: Duration = timedelta(seconds=30)

    @field_validator("event_retention")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1):
            raise ValueError('keep events at least "1d" (an alert\'s timeline shows them)')
        return value

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if url.startswith("sqlite:///"):
            url = url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)
        elif url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite:///path/to/stockbot.db or postgresql://user@host/dbname")
        if url.startswith("postgresql+asyncpg://"):
            # asyncpg is the optional [postgres] extra: say so now, not when the first connection is made.
            try:
                importlib.import_module("asyncpg")
            except ImportError as exc:
                raise ValueError(
                    f"PostgreSQL needs the asyncpg package ({exc}): pip install 'stockbot[postgres]'"
                ) from None
        return url


class AlertsConfig(Section):
    # Stock must rise above minimum + resolve_buffer to resolve, so a level flapping around the minimum
    # does not open and close alerts all day.
    resolve_buffer: int = Field(1, ge=0)
    # A new shortage within this time after resolving reopens the same alert instead of a new one.
    reopen_cooldown: Duration = timedelta(minutes=30)
    batch_check_interval: Duration = timedelta(minutes=5)
    escalation_sweep_interval: Duration = timedelta(seconds=15)
    # Opt-in: open a `low` alert (trigger `forecast`) when a product is expected to run out within this
    # time at its current rate of sale, before it reaches its minimum (bot/forecast.py).
    forecast_horizon: Duration | None = None
    forecast_interval: Duration = timedelta(minutes=15)
    # An event whose occurred_at is further ahead of the server clock than this is refused (400): applied,
    # it would outrank every real event until that time and freeze the level.
    max_clock_skew: Duration = timedelta(minutes=5)


class ReorderConfig(Section):
    """Rate of sale, days of cover and the suggested reorder quantity (README, "History and reports")."""

    lead_time_days: int = Field(7, ge=0, le=365)  # when the catalog gives none for a product-location
    review_period_days: int = Field(7, ge=0, le=365)  # how often stock is reviewed and ordered
    sales_window_days: int = Field(7, ge=1, le=365)  # the rate of sale shown on alerts and forecasts


class DeliveryConfig(Section):
    max_age: Duration = timedelta(hours=24)  # then a failing delivery is dead-lettered
    initial_backoff: Duration = timedelta(seconds=2)
    max_backoff: Duration = timedelta(minutes=10)
    # The most adapter calls in flight at once, over every destination together.
    concurrency: int = Field(16, ge=1, le=256)
    # How often the outbox is read for retries and for claims a dead process left (new deliveries are
    # handed to the dispatcher as they are committed, without waiting for this).
    poll_interval: Duration = timedelta(seconds=1)
    # New messages to a rate-limited destination (Slack, Teams, SMS) are grouped, as Alertmanager does:
    # the first waits group_wait for company, then the group goes at most once per group_interval.
    group_wait: Duration = timedelta(seconds=2)
    group_interval: Duration = timedelta(seconds=5)
    # A claimed delivery belongs to its process this long; a live process renews its claims, so this is how
    # long a dead process's deliveries wait before another takes them over.
    claim_lease: Duration = timedelta(seconds=30)

    @field_validator("claim_lease")
    @classmethod
    def _lease(cls, lease: timedelta) -> timedelta:
        if lease < timedelta(seconds=2):
            raise ValueError('at least "2s": a live process renews its claims every third of it')
        return lease


class SourceConfig(Section):
    secret: SecretStr
    # Feed watchdog: no event for longer than this raises a "feed silent" alert to `channels`.
    expect_every: Duration | None = None
    channels: list[str] = []

    @model_validator(mode="after")
    def _watchdog_complete(self) -> SourceConfig:
        if self.channels and self.expect_every is None:
            raise ValueError(
                'channels is for the feed watchdog: set expect_every too, e.g. expect_every = "10m"'
            )
        return self

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < 16:
            raise ValueError("use at least 16 random characters, e.g. from `openssl rand -hex 32`")
        return secret


_QUIET = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


class ChannelConfig(Section):
    adapter: str
    address: str
    secret: SecretStr | None = None  # the webhook adapter signs with it
    # A sandboxed Jinja2 template over the alert's fields that replaces the built-in wording.
    template: str | None = None
    # Hold deliveries in these local hours ("20:00-07:00") and send them as one digest when they end.
    quiet_hours: str | None = None
    timezone: str = "UTC"
    # The language of this channel's cards and messages: one of the shipped catalogs (adapters/i18n.py).
    language: str = DEFAULT_LANGUAGE
    # Most messages per second to this destination (default: the platform's published limit).
    max_per_second: float | None = Field(None, gt=0, le=100)
    # Grouping of new messages (default: [delivery] group_wait / group_interval where the destination has a
    # rate limit, none elsewhere); "0s" turns it off, a duration turns it on for any platform.
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    # Requests in flight to this destination at once; default: the adapter's (the webhook 4, every other 1:
    # one at a time, in order). Rate-limited destinations take 1. An alert's post always goes before its
    # updates whatever this is: an update is claimed only once its post is recorded.
    concurrency: int | None = Field(None, ge=1, le=64)

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None and not _QUIET.match(value):
            raise ValueError(
                'write quiet hours as "HH:MM-HH:MM" in the channel\'s timezone, e.g. "20:00-07:00"'
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone; use an IANA name like America/Chicago") from None
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in languages():
            shipped = ", ".join(f'"{code}"' for code in languages())
            raise ValueError(f"stockbot has no {value!r} catalog; write one of {shipped}")
        return value

    def quiet_window(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """((start hour, minute), (end hour, minute)) of the quiet hours, if any."""
        match = _QUIET.match(self.quiet_hours or "")
        if not match:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return (h1, m1), (h2, m2)

    @field_validator("adapter")
    @classmethod
    def _registered(cls, adapter: str) -> str:
        if adapter not in ADAPTERS:
            raise ValueError(f"unknown adapter {adapter!r}; known adapters: {', '.join(sorted(ADAPTERS))}")
        return adapter


Severity = Literal["low", "out", "critical"]


class RouteMatch(Section):
    severity: list[Severity] = []
    category: list[str] = []
    location: list[str] = []
    sku: list[str] = []


class StepConfig(Section):
    after: Duration = timedelta(0)  # since the alert opened, if nobody has acknowledged it by then
    channels: list[str] = Field(min_length=1)
    # Who to mention in chat: Slack user (U…) or user-group (S…) ids, Teams members (Entra object ids).
    mention: list[str] = []
    name: str | None = None  # shown on cards: "escalated to step 2: managers"


class ImpactConfig(Section):
    """Business impact: failed fulfilments on an alert escalate it once they pass either threshold."""

    blocked_orders: int | None = Field(None, ge=1)
    blocked_quantity: int | None = Field(None, ge=1)


class PolicyConfig(Section):
    steps: list[StepConfig] = Field(min_length=1)
    critical_starts_at: int | None = Field(None, ge=1)  # 1-based step number
    key_product_starts_at: int | None = Field(None, ge=1)
    repeat: Duration | None = None  # re-notify the last step this often while unacknowledged
    impact: ImpactConfig = ImpactConfig()
    critical_ignores_quiet_hours: bool = True
    # Critical alerts leave a channel's group at once instead of waiting group_wait for company.
    critical_skips_group_wait: bool = True

    @model_validator(mode="after")
    def _steps_in_order(self) -> PolicyConfig:
        for index in range(1, len(self.steps)):
            if self.steps[index].after < self.steps[index - 1].after:
                raise ValueError(
                    f"steps[{index}].after comes before the step above it; order steps by `after`"
                )
        for key in ("critical_starts_at", "key_product_starts_at"):
            value = getattr(self, key)
            if value is not None and value > len(self.steps):
                raise ValueError(f"{key} = {value}, but the policy has {len(self.steps)} step(s)")
        if self.repeat is not None and self.repeat < timedelta(minutes=1):
            raise ValueError("repeat must be at least 1m")
        return self


class RouteConfig(Section):
    match: RouteMatch = RouteMatch()
    channels: list[str] = []
    escalate_to: list[str] = []
    escalate_after: Duration | None = None
    policy: str | None = None  # a [policies.NAME]; replaces channels / escalate_to / escalate_after
    # Send `low` alerts to this route's channels as one digest per channel per interval (out and critical
    # alerts still go at once).
    digest: Duration | None = None
    # Grouping of this route's new messages in each channel (see [delivery]); a channel's own keys win.
    group_wait: Duration | None = None
    group_interval: Duration | None = None

    @model_validator(mode="after")
    def _escalation_complete(self) -> RouteConfig:
        if self.policy and (self.channels or self.escalate_to):
            raise ValueError(
                "give either policy or channels/escalate_to, not both (the policy's steps name the channels)"
            )
        if self.escalate_to and self.escalate_after is None:
            self.escalate_after = timedelta(minutes=15)
        return self


class RolesConfig(Section):
    rep: list[str] = []
    warehouse: list[str] = []
    manager: list[str] = []


Role = Literal["rep", "warehouse", "manager"]


class WebConfig(Section):
    """The browser pages (``/reports``, ``/alerts``): reached only through a personal link from chat."""

    session_lifetime: Duration = timedelta(hours=8)
    link_lifetime: Duration = timedelta(minutes=15)
    # Signs dashboard links. Without it, each database keeps a random key of its own (table web_keys), so
    # every replica on one database signs alike; set it to share links across databases or rotate it.
    secret: SecretStr | None = None

    @field_validator("session_lifetime", "link_lifetime")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("must be at least 1m")
        return value


_TOKEN_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class ApiTokenConfig(Section):
    """A machine's token for ``/api/v1``: only its hash is written down (``stockbot tokens create``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    hash: str
    roles: list[Role] = Field(min_length=1)

    @field_validator("hash")
    @classmethod
    def _hash_shape(cls, value: str) -> str:
        if not _TOKEN_HASH.match(value):
            raise ValueError('write the hash `stockbot tokens create` printed, "sha256:" and 64 hex digits')
        return value


class ApiConfig(Section):
    tokens: list[ApiTokenConfig] = []

    @model_validator(mode="after")
    def _unique(self) -> ApiConfig:
        names = [token.name for token in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError(
                "two [[api.tokens]] share a name; names appear in the audit log, keep them unique"
            )
        return self


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EVERY = re.compile(r"^\s*(daily|weekdays|mon|tue|wed|thu|fri|sat|sun)\s+([01]?\d|2[0-3]):([0-5]\d)\s*$")


class ReportScheduleConfig(Section):
    """``[[reports]]``: a report posted to channels on a schedule, in each channel's time zone."""

    channels: list[str] = Field(min_length=1)
    every: str  # "mon 09:00", "daily 08:30" or "weekdays 07:45"
    period: Literal["7d", "30d"] = "7d"
    location: str | None = None
    category: str | None = None

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        if not _EVERY.match(value.lower()):
            raise ValueError(
                'write when as "<day> HH:MM" with day one of mon..sun, daily or weekdays, e.g. "mon 09:00"'
            )
        return value.lower().strip()

    def days(self) -> tuple[int, ...]:
        """Weekdays (Monday = 0) the report goes out on."""
        match = _EVERY.match(self.every)
        assert match is not None
        day = match.group(1)
        if day == "daily":
            return tuple(range(7))
        if day == "weekdays":
            return tuple(range(5))
        return (_DAYS.index(day),)

    def time(self) -> tuple[int, int]:
        match = _EVERY.match(self.every)
        assert match is not None
        return int(match.group(2)), int(match.group(3))


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class Config(Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    alerts: AlertsConfig = AlertsConfig()
    reorder: ReorderConfig = ReorderConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: dict[str, SourceConfig] = {}
    adapters: dict[str, dict[str, Any]] = {}
    slack: dict[str, Any] | None = None
    teams: dict[str, Any] | None = None
    channels: dict[str, ChannelConfig] = {}
    policies: dict[str, PolicyConfig] = {}
    routes: list[RouteConfig] = []
    roles: RolesConfig = RolesConfig()
    web: WebConfig = WebConfig()
    api: ApiConfig = ApiConfig()
    reports: list[ReportScheduleConfig] = []
    # Validated adapter settings by adapter name, filled by load_config (not a TOML key).
    adapter_settings: dict[str, AdapterSettings] = Field(default_factory=dict, exclude=True)

    def settings_for(self, adapter: str) -> AdapterSettings:
        if adapter not in self.adapter_settings:
            self.adapter_settings[adapter] = adapter_settings(adapter, {})
        return self.adapter_settings[adapter]


# --- loading -------------------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, path: str, env: dict[str, str], missing: dict[str, str]) -> Any:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) in every string.

    A variable that is not set is recorded in ``missing`` (key path → variable) and left empty, so one run
    names every missing variable, and the errors its empty value causes are not reported twice.
    """
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else k, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", env, missing) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:  # secrets are registered from the validated SecretStr fields, not every variable
            return env[name]
        if default is not None:
            return default
        missing.setdefault(path, name)
        return ""

    return _ENV_REF.sub(replace, value)


def _missing_message(path: str, name: str) -> str:
    return (
        f"{path}: environment variable {name} is not set; export {name}=... before starting "
        f"stockbot, or write ${{{name}:-default}} to give a default"
    )


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts).replace("routes.[", "routes[")


def _explain(error: ErrorDetails, prefix: str = "") -> str:
    loc = _key_path(tuple(error["loc"]))
    key = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; remove it or check its spelling against bot/stockbot.example.toml"
    if error["type"] == "missing":
        return f"{key}: required key is missing; add it (see bot/stockbot.example.toml)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"


def _validation_message(exc: ValidationError, prefix: str = "", skip: frozenset[str] = frozenset()) -> str:
    """One line per error, leaving out keys whose value is empty because its variable is missing."""
    lines = []
    for error in exc.errors():
        loc = _key_path(tuple(error["loc"]))
        if (f"{prefix}.{loc}" if prefix and loc else (prefix or loc)) not in skip:
            lines.append(_explain(error, prefix))
    return "\n".join(lines)


def parse_config(raw: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    """Validate the whole file; ConfigError lists every problem found, one per line, in one run."""
    missing: dict[str, str] = {}
    raw = _substitute(raw, "", dict(os.environ) if env is None else env, missing)
    skip = frozenset(missing)
    problems = [_missing_message(path, name) for path, name in missing.items()]
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems.append(_validation_message(exc, skip=skip))
        problems += _section_problems(_raw_sections(raw), {}, skip)
        raise ConfigError("\n".join(p for p in problems if p)) from None
    settings: dict[str, AdapterSettings] = {}
    problems += _section_problems(_raw_sections(raw), settings, skip)
    config.adapter_settings.update(settings)
    problems += _check_references(config, broken=set(_raw_sections(raw)) - set(settings))
    problems += _slack_problems(config)
    _fold_workspace_roles(config)
    if problems:
        raise ConfigError("\n".join(p for p in problems if p))
    for adapter in config.adapter_settings.values():
        _register_secrets(adapter)
    return config


def _raw_sections(raw: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Adapter name → (where it is written, its raw body): ``[adapters.NAME]``, ``[slack]``, ``[teams]``."""
    adapters = raw.get("adapters")
    sections = {n: ("adapters." + n, b) for n, b in adapters.items()} if isinstance(adapters, dict) else {}
    for chat in CHAT_SECTIONS:
        if raw.get(chat) is not None:
            sections[chat] = (chat, raw[chat])
    return sections


def _section_problems(
    sections: dict[str, tuple[str, Any]], settings: dict[str, AdapterSettings], skip: frozenset[str]
) -> list[str]:
    """Validate each adapter section on its own; valid ones go into ``settings``."""
    problems = []
    for name, (where, body) in sections.items():
        if name not in ADAPTERS:
            problems.append(f"{where}: no adapter is called {name!r}; known: {', '.join(sorted(ADAPTERS))}")
            continue
        try:
            settings[name] = adapter_settings(name, body if isinstance(body, dict) else {})
        except ValidationError as exc:
            problems.append(_validation_message(exc, where, skip))
        except MissingExtra as exc:
            problems.append(f"{where}: {exc}")
    return problems


def _register_secrets(model: BaseModel) -> None:
    for value in model.__dict__.values():
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())


def _check_references(config: Config, broken: set[str]) -> list[str]:
    """Names that point nowhere. ``broken``: adapter sections already reported as invalid (not missing)."""
    problems = []
    for name, channel in config.channels.items():
        # An adapter whose settings decide which addresses are valid (Slack: T…/C… only when installed per
        # workspace) says so here, at start-up, instead of at the first delivery.
        address_problem = getattr(config.adapter_settings.get(channel.adapter), "address_problem", None)
        if address_problem is not None and channel.address and (problem := address_problem(channel.address)):
            problems.append(f"channels.{name}.address: {problem}")
        if channel.adapter not in config.adapter_settings and channel.adapter not in broken:
            try:
                config.settings_for(channel.adapter)
            except ValidationError:
                where = channel.adapter if channel.adapter in CHAT_SECTIONS else f"adapters.{channel.adapter}"
                problems.append(
                    f"channels.{name}.adapter: {channel.adapter!r} needs account settings; "
                    f"add a [{where}] section"
                )
            except MissingExtra as exc:
                if channel.adapter not in config.adapters:  # else its [adapters.X] section said it already
                    problems.append(f"channels.{name}.adapter: {exc}")
        if channel.secret:
            register_secret(channel.secret.get_secret_value())
    for index, route in enumerate(config.routes):
        for key in ("channels", "escalate_to"):
            problems += _unknown_channels(config, f"routes[{index}].{key}", getattr(route, key))
        if route.policy and route.policy not in config.policies:
            problems.append(
                f"routes[{index}].policy: no policy is called {route.policy!r}; "
                f"define [policies.{route.policy}] or fix the name"
            )
    for name, policy in config.policies.items():
        for index, step in enumerate(policy.steps):
            problems += _unknown_channels(config, f"policies.{name}.steps[{index}].channels", step.channels)
    for index, report in enumerate(config.reports):
        problems += _unknown_channels(config, f"reports[{index}].channels", report.channels)
    if config.web.secret:
        register_secret(config.web.secret.get_secret_value())
    for name, source in config.sources.items():
        register_secret(source.secret.get_secret_value())
        problems += _unknown_channels(config, f"sources.{name}.channels", source.channels)
    return problems


def slack_settings(config: Config) -> SlackSettings | None:
    """``[slack]``'s settings, if configured. The Slack adapter (and its SDK) is imported only then: a
    start without Slack loads none of it (tests/test_startup.py)."""
    settings = config.adapter_settings.get("slack")
    if settings is None:
        return None
    from stockbot.adapters.slack import SlackSettings

    return settings if isinstance(settings, SlackSettings) else None


def _slack_problems(config: Config) -> list[str]:
    """Installing per workspace needs a URL for Slack to send the installer back to."""
    slack = slack_settings(config)
    if slack is not None and slack.distributed:
        if slack.redirect_url is None and config.server.public_url is None:
            return [
                "slack.redirect_url: installing per workspace (client_id) needs the URL Slack sends the "
                "installer back to; set [server] public_url (it becomes PUBLIC_URL/slack/oauth_redirect) or "
                "[slack] redirect_url, and list it under the app's OAuth & Permissions → Redirect URLs"
            ]
    return []


def _fold_workspace_roles(config: Config) -> None:
    """``[slack.workspaces.T….roles]`` join ``[roles]`` as workspace-qualified ids (``T…/U…``), which
    hold only for people acting from that workspace (bot/permissions.py)."""
    slack = slack_settings(config)
    if slack is None or not slack.workspaces:
        return
    extra = slack.workspace_roles()
    config.roles = RolesConfig(
        **{role: [*getattr(config.roles, role), *extra[role]] for role in ("rep", "warehouse", "manager")}
    )


def _unknown_channels(config: Config, where: str, names: list[str]) -> list[str]:
    return [
        f"{where}: no channel is called {channel!r}; define [channels.{channel}] or fix the name"
        for channel in names
        if channel not in config.channels
    ]


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read ``path`` (default ``$STOCKBOT_CONFIG`` or ./stockbot.toml); no file at all means defaults."""
    explicit = path is not None or "STOCKBOT_CONFIG" in os.environ
    file = Path(path or os.environ.get("STOCKBOT_CONFIG", DEFAULT_CONFIG_FILE))
    if not file.exists():
        if explicit:
            raise ConfigError(f"{file}: no such config file; write one with `stockbot init`")
        return parse_config({}, env)
    try:
        raw = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        return parse_config(raw, env)
    except ConfigError as exc:
        raise ConfigError(f"{file}:\n{exc}") from None
