"""Secrets kept in the database (accounts' passwords, kept sessions' cookies), sealed with Fernet
(the ``cryptography`` package) under ``ORDERMON_SECRET_KEY``: no row holds one in clear.

Without the key, or with another than the one that sealed them, a command refuses (exit 2) and
says so; it never falls back to anything weaker.
"""

from __future__ import annotations

from flows.errors import SettingsError

ENV = "ORDERMON_SECRET_KEY"


def new_key() -> str:
    """A fresh key, as ``ORDERMON_SECRET_KEY`` takes it."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Vault:
    def __init__(self, key: str | None):
        from cryptography.fernet import Fernet

        if not key:
            raise SettingsError(f"missing setting {ENV}: the database's secrets are sealed with it "
                                "(`ordermon accounts key` makes one)")  # fmt: skip
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise SettingsError(f"bad setting {ENV}: not a key (32 url-safe base64-encoded bytes)") from None

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SettingsError(f"bad setting {ENV}: it does not open the database's secrets (another key?)") from None
