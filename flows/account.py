"""A buyer account, and the file that keeps its signed-in session (Playwright's storage state).

The file holds cookies, never the password: only its owner may read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse, urlsplit

from playwright.sync_api import ProxySettings
from pydantic import SecretStr

from .errors import LocalStateError, SettingsError
from .settings import FlowSettings


class Keeper(Protocol):
    """Where an account's signed-in session (a Playwright storage state) is kept between runs."""

    def load(self) -> dict | None: ...

    def save(self, state: dict) -> None: ...


@dataclass(frozen=True)
class Account:
    storefront_url: str
    email: str
    password: SecretStr = field(repr=False)
    name: str | None = None
    #: Where its session is kept: a file of the data folder by default (``StateFile``); a fleet keeps
    #: it in its database, sealed, for every worker.
    keeper: Keeper | None = field(default=None, repr=False, compare=False)
    #: Every request of the account goes through it (sign-in, polls, cancels): a secret, its
    #: credentials with it.
    proxy: SecretStr | None = field(default=None, repr=False, compare=False)

    def browser_proxy(self) -> ProxySettings | None:
        """The proxy as a Playwright context takes it: the server, and its credentials apart."""
        if self.proxy is None:
            return None
        parts = urlsplit(self.proxy.get_secret_value())
        found: ProxySettings = {
            "server": f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        }
        if parts.username:
            found |= {"username": unquote(parts.username), "password": unquote(parts.password or "")}
        return found

    @property
    def proxy_label(self) -> str | None:
        """The proxy as it may be shown (errors, logs): its server, never its credentials."""
        found = self.browser_proxy()
        return None if found is None else found["server"]

    def http_proxy(self) -> str | None:
        """The proxy as httpx takes it."""
        return None if self.proxy is None else self.proxy.get_secret_value()

    @property
    def label(self) -> str:
        """How the account is named in the database and in alerts."""
        return self.name or f"{self.email}@{urlparse(self.storefront_url).netloc}"

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.storefront_url}\n{self.email}".encode()).hexdigest()[:16]

    @classmethod
    def from_settings(cls, settings: FlowSettings) -> Account:
        email, password = settings.email, settings.password
        if email is None or password is None:
            missing = [name for name, value in (("email", email), ("password", password)) if value is None]
            raise SettingsError("missing setting " + " and ".join(f"ORDERMON_{m.upper()}" for m in missing))
        return cls(settings.storefront_url, email, password, proxy=settings.proxy)


def private_folder(path: Path) -> None:
    """``path`` and its missing parents, created 0700 whatever the umask (existing ones as they are)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, 0o700)


def write_private(path: Path, data: str) -> None:
    """Write a file only its owner can read, atomically: a new file of a name no one could plant
    (O_EXCL, mode 0600), renamed over ``path`` (a symbolic link there is replaced, not followed);
    a full disk leaves ``path`` as it was."""
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


COOKIE_FIELDS = ("name", "value", "domain", "path")


def check_state(state: object, where: str) -> dict:
    """A storage state as Playwright takes it, else ``LocalStateError`` (delete it to sign in again)."""
    try:
        if not isinstance(state, dict) or not isinstance(state.get("cookies"), list):
            raise ValueError("not a storage state")
        for cookie in state["cookies"]:
            if not (isinstance(cookie, dict) and all(isinstance(cookie.get(k), str) for k in COOKIE_FIELDS)):
                raise ValueError("a cookie without name, value, domain and path")
            if cookie.get("sameSite", "Lax") not in ("Strict", "Lax", "None"):
                raise ValueError(f"a cookie with sameSite {cookie.get('sameSite')!r}")
    except ValueError as exc:
        raise LocalStateError(f"storage state {where} is unusable ({exc}); delete it to sign in again") from None
    return state


def keeper(settings: FlowSettings, account: Account) -> Keeper:
    """Where the account's session is kept."""
    return account.keeper or StateFile(settings, account)


class StateFile:
    """The kept session of one account: ``data_dir/state-<key>.json``."""

    def __init__(self, settings: FlowSettings, account: Account):
        self.path = settings.data_dir / f"state-{account.key}.json"

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise LocalStateError(
                f"storage state {self.path} is unusable ({exc}); delete it to sign in again"
            ) from None
        return check_state(state, str(self.path))

    def save(self, state: dict) -> None:
        write_private(self.path, json.dumps(state))
