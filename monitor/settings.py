"""The monitor's settings: ``ORDERMON_*`` from the environment and ``.env``, then CLI flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from flows.account import Account
from flows.calendar import BusinessCalendar, check_holiday_country, check_timezone
from flows.domain import PaymentMethod
from flows.errors import SettingsError
from flows.settings import FlowSettings, check_http_url

from .facts import RuleConfig
from .windows import Windows

WINDOWS = (
    "seller_response_hours",
    "processing_business_days",
    "refund_business_days",
    "unpaid_close_days",
    "unpaid_warning_days",
    "payment_verification_hours",
    "protection_days",
    "protection_warning_days",
    "dispute_opens_day",
    "dispute_after_protection_days",
    "transit_business_days",
)


class AccountWindows(BaseModel):
    """Windows one account may set for itself (a 90-day protection country, a 48-hour seller window)."""

    model_config = ConfigDict(extra="forbid")

    seller_response_hours: float | None = Field(None, gt=0)
    processing_business_days: int | None = Field(None, ge=1)
    refund_business_days: dict[PaymentMethod, int] | None = None
    unpaid_close_days: float | None = Field(None, gt=0)
    unpaid_warning_days: float | None = Field(None, ge=0)
    payment_verification_hours: float | None = Field(None, gt=0)
    protection_days: int | None = Field(None, ge=1)
    protection_warning_days: list[int] | None = None
    dispute_opens_day: int | None = Field(None, ge=0)
    dispute_after_protection_days: int | None = Field(None, ge=0)
    transit_business_days: dict[str, tuple[int, int]] | None = None


class AccountSettings(AccountWindows):
    """One buyer account; ``name`` keys its rows in the database (default: email@host)."""

    name: str | None = None
    storefront_url: str
    email: str = Field(min_length=1)
    password: SecretStr

    _storefront_url = field_validator("storefront_url")(check_http_url)

    def account(self) -> Account:
        return Account(self.storefront_url, self.email, self.password, name=self.name)


class MonitorSettings(FlowSettings):
    accounts: list[AccountSettings] = Field(
        default_factory=list, description="JSON list; default: the one ORDERMON_EMAIL account"
    )
    db: Path = Field(Path("ordermon.db"), description="SQLite database")

    poll_interval: float = Field(900, gt=0, description="seconds between polls")
    poll_jitter: float = Field(60, ge=0, description="random seconds added to each poll")
    misfire_grace: float = Field(300, ge=1, description="seconds a late poll may still run")
    timezone: str = "UTC"
    holiday_country: str | None = None
    holidays: Annotated[list[dt.date], NoDecode] = Field(default_factory=list)
    alert_urls: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Apprise URLs")
    alert_retry_backoff: float = Field(30, gt=0, description="seconds, doubled per failed delivery")
    alert_max_attempts: int = Field(8, ge=1)
    failure_threshold: int = Field(3, ge=1, description="failed polls in a row before monitor_failing")

    seller_response_hours: float = Field(Windows.SELLER_RESPONSE_HOURS, gt=0)
    processing_business_days: int = Field(Windows.PROCESSING_BUSINESS_DAYS, ge=1)
    refund_business_days: dict[PaymentMethod, int] = Field(
        default_factory=lambda: dict.fromkeys(PaymentMethod, Windows.REFUND_BUSINESS_DAYS),
        description="by payment method; missing methods keep the default",
    )
    unpaid_close_days: float = Field(Windows.UNPAID_CLOSE_DAYS, gt=0)
    unpaid_warning_days: float = Field(Windows.UNPAID_WARNING_DAYS, ge=0)
    payment_verification_hours: float = Field(Windows.PAYMENT_VERIFICATION_HOURS, gt=0)
    protection_days: int = Field(Windows.PROTECTION_DAYS, ge=1)
    protection_warning_days: list[int] = Field(default_factory=lambda: list(Windows.PROTECTION_WARNING_DAYS))
    dispute_opens_day: int = Field(Windows.DISPUTE_OPENS_DAY, ge=0)
    dispute_after_protection_days: int = Field(Windows.DISPUTE_AFTER_PROTECTION_DAYS, ge=0)
    transit_business_days: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: dict(Windows.TRANSIT_BUSINESS_DAYS),
        description="by shipping method: earliest and latest delivery, business days after shipment",
    )
    grace_minutes: float = Field(Windows.GRACE_MINUTES, ge=0, description="before an overdue rule fires")
    recent_days: float = Field(Windows.RECENT_DAYS, ge=0, description="older events raise no alert when first seen")
    digest_over: int = Field(Windows.DIGEST_OVER, ge=1, description="more new alerts in one poll: one digest")

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

    @field_validator("refund_business_days", mode="after")
    @classmethod
    def _fill_methods(cls, value: dict) -> dict:
        return dict.fromkeys(PaymentMethod, Windows.REFUND_BUSINESS_DAYS) | value

    _timezone = field_validator("timezone")(check_timezone)
    _holiday_country = field_validator("holiday_country")(check_holiday_country)

    @field_validator("alert_urls")
    @classmethod
    def _apprise_urls(cls, value: list[str]) -> list[str]:
        from .redact import describe_target, plugin_for

        for url in value:
            if plugin_for(url) is None:
                raise ValueError(f"not an Apprise URL this install can use: {describe_target(url)}")
        return value

    @model_validator(mode="after")
    def _default_account(self) -> MonitorSettings:
        if not self.accounts and self.email and self.password:
            self.accounts = [
                AccountSettings(storefront_url=self.storefront_url, email=self.email, password=self.password)
            ]
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.holiday_country, self.holidays, ZoneInfo(self.timezone))

    def account_list(self) -> list[Account]:
        if not self.accounts:
            raise SettingsError("no account: set ORDERMON_EMAIL and ORDERMON_PASSWORD, or ORDERMON_ACCOUNTS")
        return [a.account() for a in self.accounts]

    def rule_config(self, account: str | None = None) -> RuleConfig:
        """The windows and calendar for one account (by label): its own where it sets them."""
        windows = {name: getattr(self, name) for name in WINDOWS}
        for entry in self.accounts:
            if account is not None and entry.account().label == account:
                windows |= entry.model_dump(include=set(WINDOWS), exclude_none=True)
        windows["refund_business_days"] = dict.fromkeys(PaymentMethod, Windows.REFUND_BUSINESS_DAYS) | dict(
            windows["refund_business_days"]
        )
        windows["protection_warning_days"] = tuple(sorted(windows["protection_warning_days"], reverse=True))
        return RuleConfig(
            calendar=self.calendar(),
            grace=dt.timedelta(minutes=self.grace_minutes),
            recent=dt.timedelta(days=self.recent_days),
            **windows,
        )
