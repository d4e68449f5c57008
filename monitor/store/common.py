"""What every store shares: its errors, the outbox's words, and how moments are written."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

UNCERTAIN = "interrupted while sending; not resent to avoid a duplicate"
DROPPED = "target no longer configured"


#: SQLite's words for a disk that refuses the database (full, read-only, not allowed).
SQLITE_DISK = ("disk is full", "readonly database", "unable to open database", "disk I/O error")


def disk_refused(exc: BaseException) -> bool:
    """Whether SQLite failed because the disk refused the file, not because of what it holds."""
    return isinstance(exc, sqlite3.OperationalError) and any(words in str(exc) for words in SQLITE_DISK)


class StoreError(Exception):
    """The database cannot be used: missing, not ordermon's, newer, or held by another monitor."""


class DatabaseBusy(StoreError):
    pass


class StoreUnreachable(StoreError):
    """The database server does not answer (down, restarting, or unreachable)."""


class LeaseLost(StoreError):
    """The fleet's job this store writes for is no longer this worker's: the worker was silent past
    the limit and the job was handed on. Nothing it would write is written."""


class AccountExists(StoreError):
    """An account by that name is already in the database (a usage error, not a broken database)."""


class Statements:
    """What a store gives its queries: statements and transactions on its connection."""

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""
        raise NotImplementedError

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _tuples(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows one at a time, where the connection can (else all of them, then one at a time)."""
        yield from self._tuples(sql, args)

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (taken at its start: writers wait for each other)."""
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """A read transaction: one snapshot, whatever another connection writes meanwhile."""
        raise NotImplementedError


@dataclass(frozen=True)
class NewAlert:
    id: int
    message: str


@dataclass(frozen=True)
class Routed:
    """A target an alert goes to (its key and its label), and until when the quiet hours hold it
    (None: it is due now)."""

    target: str
    label: str
    held_until: dt.datetime | None = None


#: Where and when an account's finding goes: (account, finding, the site's now) -> its deliveries.
Route = Callable[[str, Any, dt.datetime], list[Routed]]


def everywhere(targets: list[tuple[str, str]]) -> Route:
    """Every finding to each of these targets ((key, label)), due now: no routes, no quiet hours."""
    return lambda account, finding, now: [Routed(key, label) for key, label in targets]


def iso(value: dt.datetime | None) -> str | None:
    """A moment as the database writes it: ISO 8601 in UTC."""
    return value.astimezone(dt.UTC).isoformat() if value else None


def parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
