"""Settings for the flows: environment (``ORDERMON_*``), a ``.env`` file, then CLI flags."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

log = logging.getLogger("ordermon.flows")


def check_http_url(value: str) -> str:
    """A settings validator: an http(s) base URL, without a trailing slash, and without
    credentials (they would end up in logs and the database; the password has its own setting)."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password (use ORDERMON_EMAIL and ORDERMON_PASSWORD)")
    if not parts.hostname:
        raise ValueError("has no host")
    return value.rstrip("/")


PROXY_SCHEMES = ("http", "https", "socks5")


def check_proxy_url(value: SecretStr | None) -> SecretStr | None:
    """A settings validator: a proxy URL (``http://``, ``https://`` or ``socks5://``, credentials
    allowed: the value is a secret, and no message quotes it)."""
    if value is None or not value.get_secret_value().strip():
        return None
    parts = urlsplit(value.get_secret_value().strip())
    if parts.scheme not in PROXY_SCHEMES:
        raise ValueError(f"must start with {', '.join(s + '://' for s in PROXY_SCHEMES)}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not parts.hostname or port == 0:
        raise ValueError("has no host" if not parts.hostname else "has port 0")
    if parts.scheme == "socks5" and parts.username:
        raise ValueError("a SOCKS proxy with a user name: Chromium cannot sign in to one (use http:// for those)")
    return SecretStr(value.get_secret_value().strip())


#: What a `.env` in the working directory may not set (the environment only): a folder's file must not
#: choose the program ordermon runs with the password in reach, nor where its alerts go.
ENVIRONMENT_ONLY = ("browser_path", "browser_endpoint", "alert_urls", "apprise_config", "routes", "proxy")


class _EnvironmentOnly:
    """The `.env` file's settings without the environment-only ones, which it says it ignored."""

    def __init__(self, source: PydanticBaseSettingsSource):
        self.source = source

    def __call__(self) -> dict[str, Any]:
        found = self.source()
        if ignored := [name for name in ENVIRONMENT_ONLY if name in found]:
            names = ", ".join(f"ORDERMON_{name.upper()}" for name in ignored)
            log.warning("ignored %s from .env: set in the environment only", names)
        return {name: value for name, value in found.items() if name not in ENVIRONMENT_ONLY}


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "ordermon"


class FlowSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERMON_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    storefront_url: str = Field("http://127.0.0.1:8765", description="the site's base URL")
    email: str | None = Field(None, description="the buyer account's e-mail")
    password: SecretStr | None = Field(None, description="the buyer account's password")
    proxy: SecretStr | None = Field(None, description="http://, https:// or socks5:// proxy of the account (a secret)")
    browser_path: str | None = Field(None, description="Chromium executable")
    browser_endpoint: str | None = Field(
        None, description="ws:// of a `playwright run-server`, or http(s):// of a CDP endpoint"
    )
    headless: bool = True
    timeout: float = Field(15.0, gt=0, le=600, description="seconds per page action, or per HTTP request in all")
    max_orders: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="the most orders of one account's list read; a site claiming more answered badly",
    )
    max_clock_skew: float = Field(
        86_400,
        ge=60,
        description="seconds the site's clock (its Date header) may differ from this machine's before this"
        " machine's is used instead (inf: always the site's, as for a test storefront that travels in time)",
    )
    retries: int = Field(3, ge=0, le=20, description="retries when the site is unavailable")
    retry_backoff: float = Field(0.5, ge=0, le=60, description="seconds, doubled per retry")
    data_dir: Path = Field(default_factory=default_data_dir, description="storage state lives here")
    artifacts_dir: Path | None = Field(None, description="screenshots and traces (default: data_dir/artifacts)")
    trace: bool = Field(False, description="record a Playwright trace of each flow, kept on failure (slower)")
    poll_via: Literal["http", "browser"] = Field(
        "http",
        description="read orders over HTTP with the browser's session (the browser only signs in), or in the browser",
    )

    _storefront_url = field_validator("storefront_url")(check_http_url)
    _proxy = field_validator("proxy")(check_proxy_url)

    @field_validator("email", "password")
    @classmethod
    def _not_empty(cls, value):
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if secret is not None and not secret.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return init_settings, env_settings, _EnvironmentOnly(dotenv_settings), file_secret_settings

    @property
    def artifacts(self) -> Path:
        return self.artifacts_dir or self.data_dir / "artifacts"
