"""A fleet's accounts, kept in its database: each with its password and its signed-in session sealed
(monitor/vault.py), its own windows, and when it is polled next.

``ordermon accounts add|list|remove`` manage them; a worker takes an account from here for each
job, and the session one worker signed in is the one the others use (a sign-in per worker would
bring captchas).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr, ValidationError

from flows.account import Account, check_state
from flows.errors import SettingsError
from flows.settings import check_http_url
from flows.site import SITE

from .settings import MonitorSettings
from .store import Store
from .vault import Vault
from .windows import AccountWindows, RuleConfig


class DatabaseKeeper:
    """An account's session kept in the fleet's database, sealed (``flows.account.Keeper``)."""

    def __init__(self, store: Store, vault: Vault, name: str):
        self.store, self.vault, self.name = store, vault, name

    def load(self) -> dict | None:
        sealed = self.store.session(self.name)
        if sealed is None:
            return None
        return check_state(json.loads(self.vault.open(sealed)), f"of {self.name} in the database")

    def save(self, state: dict) -> None:
        self.store.save_session(self.name, self.vault.seal(json.dumps(state)))


def parse_windows(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs (a value in JSON where it is not a plain number or word) as an account's
    own windows, checked as ``ORDERMON_ACCOUNTS`` entries are."""
    given: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SettingsError(f"bad window {pair!r}: write NAME=VALUE (e.g. protection_days=90)")
        try:
            given[name.strip()] = json.loads(value)
        except ValueError:
            given[name.strip()] = value
    try:
        return AccountWindows.model_validate(given).model_dump(exclude_none=True, mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SettingsError(f"bad window {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None


def add(store: Store, vault: Vault, name: str, *, storefront_url: str, email: str, password: str,
        windows: dict[str, Any]) -> None:  # fmt: skip
    try:
        url = check_http_url(storefront_url)
    except ValueError as exc:
        raise SettingsError(f"bad storefront URL: {exc}") from None
    if not name.strip() or not email.strip() or not password:
        raise SettingsError("an account needs a name, an e-mail and a password")
    store.add_account(name, storefront_url=url, email=email, password=vault.seal(password), windows=json.dumps(windows))


def listed(store: Store) -> list[dict[str, Any]]:
    """Every account, without its secrets."""
    return [
        {"name": row["name"], "storefront_url": row["storefront_url"], "email": row["email"],
         "windows": json.loads(row["windows"] or "{}"), "added": row["added"], "next_poll": row["next_poll"],
         "session_kept": store.session(row["name"]) is not None}
        for row in store.accounts()
    ]  # fmt: skip


def account(store: Store, vault: Vault, name: str) -> tuple[Account, dict[str, Any]]:
    """The account to poll or sign in with (its session kept in the database), and its own windows."""
    row = store.account(name)
    found = Account(
        row["storefront_url"],
        row["email"],
        SecretStr(vault.open(row["password"])),
        name=row["name"],
        keeper=DatabaseKeeper(store, vault, row["name"]),
    )
    return found, json.loads(row["windows"] or "{}")


def judging(settings: MonitorSettings, windows: dict[str, Any], label: str | None = None) -> RuleConfig:
    """What an account's orders are judged with: the settings' windows, its own where it sets them."""
    base = settings.rule_config(label)
    return RuleConfig(calendar=base.calendar, **base.overridden(windows).model_dump())


def order_urls(settings: MonitorSettings, store: Store) -> Callable[[str, str], str | None]:
    """The page of an account's order on its site (by the account's label and the order's id): a
    fleet's accounts from its database, any other's from the settings; None for an account neither
    knows."""
    sites = {row["name"]: row["storefront_url"] for row in store.accounts()}
    if settings.accounts:
        sites |= {entry.account().label: entry.account().storefront_url for entry in settings.accounts}
    return lambda account, order_id: (
        sites[account] + SITE.order_page(quote(order_id, safe="")) if account in sites else None
    )


def config_of(settings: MonitorSettings, store: Store) -> Callable[[str], RuleConfig]:
    """Each account's judging by its label: a fleet's from its database, any other's from the settings."""
    own = {row["name"]: json.loads(row["windows"] or "{}") for row in store.accounts()}
    return lambda label: judging(settings, own[label], label) if label in own else settings.rule_config(label)
