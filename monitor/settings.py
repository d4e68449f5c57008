"""The monitor's settings: ``ORDERMON_*`` from the environment and ``.env``, then CLI flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from flows.account import Account
from flows.calendar import BusinessCalendar, check_holiday_country, check_timezone
from flows.errors import SettingsError
from flows.settings import FlowSettings, check_http_url, check_proxy_url

from .windows import AccountWindows, RuleConfig, Windows

if TYPE_CHECKING:
    from .routing import Router


class AlertTarget(BaseModel):
    """An Apprise URL with the tags routes choose it by (``ORDERMON_ROUTES``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)


#: ``ORDERMON_ALERT_URLS`` and an account's ``alert_urls``: URLs, or targets with their tags.
AlertUrls = Annotated[list[str | AlertTarget], NoDecode]


def _apprise_urls(value: list[str | AlertTarget]) -> list[str | AlertTarget]:
    from .redact import describe_target, plugin_for

    for entry in value:
        url = entry if isinstance(entry, str) else entry.url
        if plugin_for(url) is None:
            raise ValueError(f"not an Apprise URL this install can use: {describe_target(url)}")
    return value


def _quiet_hours(value: str | None) -> str | None:
    from .routing import QuietHours

    return None if value is None or not value.strip() else str(QuietHours.parse(value))


class AccountSettings(AccountWindows):
    """One buyer account; ``name`` keys its rows in the database (default: email@host). Its own alert
    targets (``alert_urls``: its alerts only), route tags (``tags``) and quiet hours, beside the
    monitor's."""

    name: str | None = None
    storefront_url: str
    email: str = Field(min_length=1)
    password: SecretStr
    alert_urls: list[str | AlertTarget] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    quiet_hours: str | None = None
    proxy: SecretStr | None = None

    _storefront_url = field_validator("storefront_url")(check_http_url)
    _proxy = field_validator("proxy")(check_proxy_url)
    _alert_urls = field_validator("alert_urls")(_apprise_urls)
    _quiet = field_validator("quiet_hours")(_quiet_hours)

    def account(self) -> Account:
        return Account(self.storefront_url, self.email, self.password, name=self.name, proxy=self.proxy)


class MonitorSettings(FlowSettings, Windows):
    """The monitor's settings; the windows (``Windows``' fields) are the defaults of every account."""

    accounts: list[AccountSettings] = Field(
        default_factory=list, description="JSON list; default: the one ORDERMON_EMAIL account"
    )
    db: str = Field("ordermon.db", description="a SQLite file, or a postgresql:// URL (a fleet's database)")

    @field_validator("db", mode="before")
    @classmethod
    def _path_or_url(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    poll_interval: float = Field(900, gt=0, description="seconds between polls")
    poll_jitter: float = Field(60, ge=0, description="random seconds added to each poll")
    misfire_grace: float = Field(300, ge=1, description="seconds a late poll may still run")
    timezone: str = "UTC"
    holiday_country: str | None = None
    holidays: Annotated[list[dt.date], NoDecode] = Field(default_factory=list)
    alert_urls: AlertUrls = Field(default_factory=list, description='Apprise URLs, or {"url": ..., "tags": [...]}')
    apprise_config: Path | None = Field(None, description="an Apprise configuration file (YAML or TEXT) of targets")
    routes: dict[str, list[str | list[str]]] = Field(
        default_factory=dict, description="severity, rule or account -> Apprise tags of the targets it goes to"
    )
    quiet_hours: str | None = Field(None, description="HH:MM-HH:MM: alerts below urgent wait for its end")
    alert_retry_backoff: float = Field(30, gt=0, description="seconds, doubled per failed delivery")
    alert_max_attempts: int = Field(8, ge=1)
    failure_threshold: int = Field(3, ge=1, description="failed polls in a row before monitor_failing")

    digest_over: int = Field(5, ge=1, description="more new alerts in one poll: one digest")
    secret_key: SecretStr | None = Field(None, description="seals a fleet's passwords and sessions in its database")
    dispatch_seconds: int = Field(60, ge=1, le=60, description="a fleet's dispatcher looks for due polls this often")
    stalled_seconds: float = Field(
        30, gt=0, description="a fleet's worker silent this long is dead: its jobs run again"
    )
    serve_token: SecretStr | None = Field(
        None, description="`ordermon serve` asks for it (needed to listen beyond this machine)"
    )

    @field_validator("serve_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be 16 characters or more")
        return value

    @field_validator("holidays", "alert_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    _timezone = field_validator("timezone")(check_timezone)
    _holiday_country = field_validator("holiday_country")(check_holiday_country)

    _alert_urls = field_validator("alert_urls")(_apprise_urls)
    _quiet = field_validator("quiet_hours")(_quiet_hours)

    @model_validator(mode="after")
    def _default_account(self) -> MonitorSettings:
        if not self.accounts and self.email and self.password:
            self.accounts = [
                AccountSettings(
                    storefront_url=self.storefront_url, email=self.email, password=self.password, proxy=self.proxy
                )
            ]
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.holiday_country, self.holidays, ZoneInfo(self.timezone))

    def router(self, accounts: list[str] | None = None) -> Router:
        """Where each account's alerts go (``accounts``: the labels routes may name; None: any)."""
        from .routing import QuietHours, Router, Target, targets_from_config
        from .rule import Severity
        from .rules import RULES

        def targets(entries: list[str | AlertTarget], account: str | None = None) -> list[Target]:
            return [Target(e, account=account) if isinstance(e, str) else Target(e.url, frozenset(e.tags), account)
                    for e in entries]  # fmt: skip

        found = targets(self.alert_urls)
        if self.apprise_config is not None:
            found += targets_from_config(self.apprise_config)
        labels = {entry.account().label: entry for entry in self.accounts}
        for label, entry in labels.items():
            found += targets(entry.alert_urls, label)
        if accounts is None and self.accounts:
            accounts = list(labels)
        if accounts is not None:
            known = {s.value for s in Severity} | set(RULES) | set(accounts)
            if unknown := sorted(set(self.routes) - known):
                raise SettingsError(
                    f"bad setting ORDERMON_ROUTES: {', '.join(unknown)}: neither a severity "
                    "(urgent, warning, info), a rule, nor an account"
                )
        quiet: dict[str | None, QuietHours | None] = {
            None: QuietHours.parse(self.quiet_hours) if self.quiet_hours else None
        }
        quiet |= {label: QuietHours.parse(e.quiet_hours) for label, e in labels.items() if e.quiet_hours}
        return Router(
            found,
            routes=self.routes,
            account_tags={label: e.tags for label, e in labels.items() if e.tags},
            quiet=quiet,
            zone=ZoneInfo(self.timezone),
        )

    def account_list(self) -> list[Account]:
        if not self.accounts:
            raise SettingsError("no account: set ORDERMON_EMAIL and ORDERMON_PASSWORD, or ORDERMON_ACCOUNTS")
        return [a.account() for a in self.accounts]

    def rule_config(self, account: str | None = None) -> RuleConfig:
        """The windows and calendar for one account (by label): its own where it sets them."""
        windows = self.windows()
        for entry in self.accounts:
            if account is not None and entry.account().label == account:
                windows = windows.overridden(entry.model_dump(include=set(Windows.model_fields), exclude_none=True))
        return RuleConfig(calendar=self.calendar(), **windows.model_dump())
