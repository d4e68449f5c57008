"""The monitor's settings: ``ORDERMON_*`` from the environment and ``.env``, then CLI flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from flows.account import Account
from flows.calendar import BusinessCalendar, check_holiday_country, check_timezone
from flows.domain import PaymentMethod
from flows.errors import SettingsError
from flows.settings import FlowSettings, check_http_url

from .windows import Windows


class AccountSettings(BaseModel):
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
        default_factory=lambda: {m: Windows.REFUND_BUSINESS_DAYS for m in PaymentMethod},
        description="by payment method; missing methods keep the default",
    )
    unpaid_close_days: float = Field(Windows.UNPAID_CLOSE_DAYS, gt=0)
    unpaid_warning_days: float = Field(Windows.UNPAID_WARNING_DAYS, ge=0)
    payment_verification_hours: float = Field(Windows.PAYMENT_VERIFICATION_HOURS, gt=0)
    protection_days: int = Field(Windows.PROTECTION_DAYS, ge=1)
    protection_warning_days: list[int] = Field(default_factory=lambda: list(Windows.PROTECTION_WARNING_DAYS))

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
        return {m: Windows.REFUND_BUSINESS_DAYS for m in PaymentMethod} | value

    _timezone = field_validator("timezone")(check_timezone)
    _holiday_country = field_validator("holiday_country")(check_holiday_country)

    @field_validator("alert_urls")
    @classmethod
    def _apprise_urls(cls, value: list[str]) -> list[str]:
        import apprise

        for url in value:
            if not apprise.Apprise().add(url):
                raise ValueError(f"not an Apprise URL this install can use: {redact_url(url)}")
        return value

    @model_validator(mode="after")
    def _default_account(self) -> MonitorSettings:
        if not self.accounts and self.email and self.password:
            self.accounts = [AccountSettings(storefront_url=self.storefront_url, email=self.email,
                                             password=self.password)]
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.holiday_country, self.holidays, ZoneInfo(self.timezone))

    def account_list(self) -> list[Account]:
        if not self.accounts:
            raise SettingsError("no account: set ORDERMON_EMAIL and ORDERMON_PASSWORD, or ORDERMON_ACCOUNTS")
        return [a.account() for a in self.accounts]


def redact_url(url: str) -> str:
    """scheme://host only: Apprise URLs carry tokens and passwords."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.port:
        host += f":{parsed.port}"
    return f"{parsed.scheme}://{host}" if parsed.scheme else "(unparsable URL)"
