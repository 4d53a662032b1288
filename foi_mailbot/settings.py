"""Typed configuration: one TOML file, overridden by FOI_MAILBOT_<SECTION>__<KEY> variables.

Built once by `load_settings` and passed down; nothing here is read at import time. Any secret
can also come from a file, named by `<key>_file` in TOML or `FOI_MAILBOT_<SECTION>__<KEY>_FILE`.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from foi_mailbot.errors import ConfigError

ENV_PREFIX = "FOI_MAILBOT_"
CONFIG_ENV = "FOI_MAILBOT_CONFIG"
DEFAULT_SECRET = "change-me-reference-secret"  # noqa: S105 - the example value, to warn about


class _Section(BaseModel):
    """A config section: unknown keys are mistakes, and secrets may come from files."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret_files(data: Any, secret_keys: tuple[str, ...]) -> Any:
    """Replace `<key>_file` entries by the stripped contents of the file they name."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in secret_keys:
        path = out.pop(f"{key}_file", None)
        if path:
            try:
                out[key] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                msg = f"cannot read the file for {key} ({path}): {exc.strerror}"
                raise ValueError(msg) from exc
    return out


class OrganisationSettings(_Section):
    """Who we are: names, addresses and the law that applies."""

    name: str = "Example Council"
    reference_prefix: str = Field(default="IC", pattern=r"^[A-Z]{1,6}$")
    # None: generated at the first start and kept in the database (`storage.secret`).
    reference_secret: SecretStr | None = None
    mailbox_address: str = "foi@example.gov.uk"
    other_mailbox_addresses: list[str] = []
    staff_domains: list[str] = []
    staff_addresses: list[str] = []
    responsible_officer: str = "foi-officer@example.gov.uk"
    team_address: str = "foi-team@example.gov.uk"
    time_zone: str = "Europe/London"
    jurisdiction: Literal["uk", "scotland"] = "uk"
    # References of a case system used before this one, by name: {old_system = 'FOI-\d{4}-\d{4}'}.
    legacy_reference_patterns: dict[str, str] = {}

    @field_validator("legacy_reference_patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        from foi_mailbot.cases.legacy import pattern_problem

        for name, pattern in value.items():
            problem = pattern_problem(pattern)
            if problem:
                msg = f"legacy reference pattern '{name}': {problem}"
                raise ValueError(msg)
        return value
    # Subject access requests (UK GDPR Art 15): "case" opens one with the one-month clock and
    # acknowledges it; "flag" leaves it for a person. The DPO, where set, gets a copy.
    sar_handling: Literal["case", "flag"] = "case"
    dpo_address: str | None = None
    # The information regulators' domains: their mail is flagged, never acknowledged.
    regulator_domains: list[str] = ["ico.org.uk", "foi.scot", "itspublicknowledge.info"]

    @field_validator("dpo_address")
    @classmethod
    def _dpo_looks_like_address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "@" not in value or any(c in value for c in "\r\n <>"):
            msg = f"'{value}' is not an email address"
            raise ValueError(msg)
        return value.lower()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"'{value}' is not a time zone name such as Europe/London"
            raise ValueError(msg) from exc
        return value

    @field_validator("mailbox_address", "responsible_officer", "team_address")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        if "@" not in value or any(c in value for c in "\r\n <>"):
            msg = f"'{value}' is not an email address"
            raise ValueError(msg)
        return value.lower()

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone."""
        return ZoneInfo(self.time_zone)

    def all_mailbox_addresses(self) -> frozenset[str]:
        """Every address that is ours (the mailbox and its aliases), lower-cased."""
        return frozenset(a.lower() for a in [self.mailbox_address, *self.other_mailbox_addresses])


class PathSettings(_Section):
    """Where local state lives."""

    data_dir: Path = Path("data")
    outgoing_dir: Path | None = None
    template_dir: Path | None = None

    def outgoing(self) -> Path:
        """The folder outgoing mail is written to when no SMTP server is configured."""
        return self.outgoing_dir or self.data_dir / "outgoing"


class DatabaseSettings(_Section):
    """The case register's database."""

    url: SecretStr | None = None

    def resolved_url(self, paths: PathSettings) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file in the data directory."""
        if self.url is not None:
            return self.url.get_secret_value()
        return f"sqlite:///{(paths.data_dir / 'foi-mailbot.db').resolve()}"


class MailboxSettings(_Section):
    """Where mail comes from: an IMAP server, or a local Maildir (the embedded default)."""

    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    auth: Literal["password", "xoauth2"] = "password"
    token_command: str | None = None
    token_file: Path | None = None
    security: Literal["none", "starttls", "ssl"] = "ssl"
    inbox_folder: str = "INBOX"
    sent_folder: str | None = "Sent"
    processed_folder: str = "FOI/Processed"
    after_processing: Literal["move", "flag"] = "move"
    maildir: Path | None = None
    idle_renew_seconds: int = Field(default=540, ge=30, le=1740)
    poll_interval_seconds: float = Field(default=30.0, gt=0)
    use_idle: bool = True
    batch_size: int = Field(default=100, ge=1, le=1000)
    timeout_seconds: float = Field(default=30.0, gt=0)
    # What is in the mailbox at the first connection: "new" leaves it as history (nothing
    # answered, moved or flagged), "import" stores it as history held for a person to confirm,
    # "all" treats it as new mail.
    start: Literal["new", "import", "all"] = "new"
    # The id our receiving server writes at the head of its Authentication-Results header; only
    # that header is believed when inbox mail claims to be from staff.
    authserv_id: str | None = None
    # Microsoft 365: `X-MS-Exchange-Organization-AuthAs: Internal` vouches for a staff sender.
    exchange_internal_marker: bool = False
    # Larger messages are stored whole but read from their headers and first text only.
    max_message_bytes: int = Field(default=40 * 1024 * 1024, ge=1024 * 1024)

    def uses_imap(self) -> bool:
        """True when an IMAP host is configured and no Maildir overrides it."""
        return self.maildir is None and self.host is not None

    def resolved_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return 993 if self.security == "ssl" else 143


class SmtpSettings(_Section):
    """Where outgoing mail goes; with no host it is written to files instead."""

    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    append_to_sent: bool = True
    retry_for_hours: float = Field(default=48.0, gt=0)
    auth: Literal["password", "xoauth2"] = "password"
    token_command: str | None = None
    token_file: Path | None = None

    def resolved_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class ExtraHoliday(_Section):
    """A bank holiday proclaimed after the installed calendar was released."""

    date: date
    name: str
    regions: list[Literal["ENG", "WLS", "SCT", "NIR"]] = ["ENG", "WLS", "SCT", "NIR"]


class ClockSettings(_Section):
    """The statutory clock's documented choices (see docs/statutory-clock.md)."""

    receipt_on_non_working_day: Literal["calendar_day", "next_working_day"] = "calendar_day"
    foisa_fees_notice_day: Literal["disregarded", "counted"] = "disregarded"
    sar_holiday_region: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"
    clarification_closure_months: int = Field(default=3, ge=1, le=24)
    extra_holidays: list[ExtraHoliday] = []


class RepliesSettings(_Section):
    """Automatic replies and their loop guards."""

    max_auto_replies_per_day: int = Field(default=3, ge=1)
    noreply_patterns: list[str] = [
        "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "mailer-daemon",
        "postmaster", "bounce",
    ]
    # An acknowledgement for mail older than this (working days) is held for a person.
    acknowledge_within_working_days: int = Field(default=2, ge=0)
    # The per-domain loop breaker: more than `loop_breaker_letters` automatic letters within an
    # hour to different addresses of one domain, each answering mail that arrived within
    # `loop_breaker_minutes` of our previous letter there, stop automatic letters to it.
    loop_breaker_letters: int = Field(default=3, ge=1)
    loop_breaker_minutes: int = Field(default=10, ge=1, le=60)
    # Shared domains where every address is a different person are never stopped.
    loop_breaker_exempt_domains: list[str] = [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk",
        "live.com", "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com",
        "icloud.com", "me.com", "mac.com", "aol.com", "btinternet.com", "sky.com",
        "virginmedia.com", "talktalk.net", "protonmail.com", "proton.me", "pm.me",
        "gmx.com", "gmx.co.uk", "mail.com", "zoho.com", "fastmail.com", "tutanota.com",
        "whatdotheyknow.com", "asktheeu.org", "mysociety.org",
    ]


class ClassificationSettings(_Section):
    """Phrase lists that extend the built-in English ones."""

    extra_review_phrases: list[str] = []
    extra_auto_reply_phrases: list[str] = []
    extra_not_foi_phrases: list[str] = []
    extra_environmental_phrases: list[str] = []


class ReminderSettings(_Section):
    """When staff are reminded about deadlines."""

    days_before: list[int] = [5, 1]
    overdue_every_working_days: int = Field(default=1, ge=1)
    clarification_chase_working_days: int = Field(default=20, ge=1)
    send_at: time = time(8, 0)


class DigestSettings(_Section):
    """The weekly digest to the responsible officer."""

    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    at: time = time(8, 0)
    extra_recipients: list[str] = []


class TriageSettings(_Section):
    """Where triage notices, the daily summary and command confirmations for the team go."""

    address: str | None = None  # None: organisation.team_address


class HealthSettings(_Section):
    """The health endpoint and the operations alert."""

    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=0, le=65535)
    enabled: bool = True
    stale_after_seconds: int = Field(default=900, ge=10)
    alert_after_seconds: int = Field(default=900, ge=10)
    ops_address: str | None = None


class PipelineSettings(_Section):
    """How stored messages are processed."""

    # A backlog's next messages are parsed in a second process (about 22 MB) on a multi-core
    # machine; a lone new message is always parsed in place.
    parse_worker: bool = True


class RetentionSettings(_Section):
    """How long raw message bodies are kept."""

    keep_raw_days: int | None = Field(default=None, ge=30)


class OAuthSettings(_Section):
    """Where OAuth2 access tokens come from, for IMAP and SMTP alike (`auth = "xoauth2"`).

    `provider` names a built-in client ("microsoft": client credentials against Microsoft Entra
    ID; "google": a service account with domain-wide delegation), or "command" / "file" for a
    token supplied from outside. A `token_command` or `token_file` in `[mailbox]` or `[smtp]`
    overrides this section for that side. Secret and key files are read again at each fetch,
    so a rotated secret needs no restart.
    """

    provider: Literal["microsoft", "google", "command", "file"] | None = None
    token_command: str | None = None
    token_file: Path | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    certificate_file: Path | None = None
    certificate_key_file: Path | None = None
    authority: str | None = None
    service_account_file: Path | None = None
    subject: str | None = None
    scope: str | None = None
    secret_expires: date | None = None


_SECRETS: dict[str, tuple[str, ...]] = {
    "organisation": ("reference_secret",),
    "database": ("url",),
    "mailbox": ("password",),
    "smtp": ("password",),
}


class Settings(BaseSettings):
    """All of foi-mailbot's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    organisation: OrganisationSettings = OrganisationSettings()
    paths: PathSettings = PathSettings()
    database: DatabaseSettings = DatabaseSettings()
    mailbox: MailboxSettings = MailboxSettings()
    smtp: SmtpSettings = SmtpSettings()
    clock: ClockSettings = ClockSettings()
    replies: RepliesSettings = RepliesSettings()
    classification: ClassificationSettings = ClassificationSettings()
    reminders: ReminderSettings = ReminderSettings()
    digest: DigestSettings = DigestSettings()
    health: HealthSettings = HealthSettings()
    retention: RetentionSettings = RetentionSettings()
    pipeline: PipelineSettings = PipelineSettings()
    oauth: OAuthSettings = OAuthSettings()
    triage: TriageSettings = TriageSettings()

    @field_validator(*_SECRETS, mode="before")
    @classmethod
    def _secret_files(cls, value: Any, info: Any) -> Any:
        return _read_secret_files(value, _SECRETS[info.field_name])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: is not a setting foi-mailbot knows (check the spelling)"
    if error["type"] == "missing":
        return f"{where}: is required"
    given = error.get("input")
    shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}{shown}"


def config_problems(exc: ValidationError) -> list[str]:
    """One plain sentence per wrong key."""
    return [_describe(e) for e in exc.errors()]


def load_settings(config_file: Path | None = None) -> Settings:
    """Read the TOML file (argument, or $FOI_MAILBOT_CONFIG) and the environment."""
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if path is not None:
        if not path.is_file():
            msg = f"the configuration file {path} does not exist"
            raise ConfigError(msg)
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            msg = f"the configuration file {path} is not valid TOML: {exc}"
            raise ConfigError(msg) from exc
    cls: type[Settings] = Settings
    if path is not None:
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})
        cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return cls()
    except ValidationError as exc:
        raise ConfigError("; ".join(config_problems(exc))) from exc
