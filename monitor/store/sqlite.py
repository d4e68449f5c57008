"""The SQLite store (sqlite-utils): WAL mode, one write transaction at a time (BEGIN IMMEDIATE),
the schema versioned in ``PRAGMA user_version`` and migrated on open (schema.py)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from flows.account import private_folder

from .common import DatabaseBusy, StoreError, disk_refused
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from .sql import SqlStore

__all__ = ["DatabaseBusy", "SqliteStore", "StoreError"]


def _create_private(path: Path) -> None:
    """The database holds order data: readable by its owner only."""
    if path.exists():
        return
    private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _connect(path: Path, read_only: bool) -> sqlite_utils.Database:
    if not read_only:
        return sqlite_utils.Database(path)
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:  # a read-only folder: no shared memory for the WAL, so read as is
        conn = sqlite3.connect(uri + "&immutable=1", uri=True)
    return sqlite_utils.Database(conn)


class SqliteStore(SqlStore):
    """The monitor's database in a SQLite file. ``read_only``: for the commands that only show it
    (status, alerts, history, report): opened read-only, never created nor migrated."""

    def __init__(self, path: Path | str, *, read_only: bool = False):
        self.path = Path(path)
        self.name = str(self.path)
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path} is not a database file")
        if read_only and not self.path.exists():
            raise StoreError(f"no database at {self.path}: run `ordermon monitor --once` first (or set ORDERMON_DB)")
        if not read_only:
            _create_private(self.path)
        try:
            self.db = _connect(self.path, read_only)
            self.db.execute("PRAGMA busy_timeout = 5000")
            self.migrated_from = self.version
            tables = set(self.db.table_names())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an ordermon database ({exc})") from None
        # Refuse before touching the file: enabling WAL or migrating would rewrite it.
        if self.migrated_from > SCHEMA_VERSION:
            self._refuse(f"has schema version {self.migrated_from}, newer than this ordermon ({SCHEMA_VERSION})")
        if tables - TABLES - {"sqlite_sequence"} or (self.migrated_from == 0 and tables):
            self._refuse("is not an ordermon database (it has tables of another program)")
        if read_only:
            if self.migrated_from < SCHEMA_VERSION:
                self._refuse(
                    f"was written by an older ordermon (schema {self.migrated_from}): "
                    "run `ordermon monitor --once` to upgrade it"
                )
            return
        self.db.execute("PRAGMA foreign_keys = ON")
        try:  # every step in one transaction: a file that only claims a version is left as it was
            with self._writing():
                for version in range(self.migrated_from + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[version](self.db)
                    self.db.execute(f"PRAGMA user_version = {version}")
        except sqlite3.DatabaseError as exc:
            if disk_refused(exc):
                self._refuse(f"cannot be written: {exc}")
            self._refuse(f"is not an ordermon database of schema {self.migrated_from} ({exc}; left as it was)")
        if self.path.stat().st_mode & 0o077 and self.path.stat().st_uid == os.getuid():
            os.chmod(self.path, 0o600)  # an ordermon database made readable by others (an older ordermon, a copy)
        self.db.enable_wal()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction that takes SQLite's write lock at its start (BEGIN IMMEDIATE), waiting
        up to the busy timeout while another connection writes (the monitor's delivery thread has
        its own): a deferred one that reads before it writes would fail at once instead."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A read transaction: what it reads is one snapshot, whatever another connection writes."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.db.conn.execute("COMMIT")

    def _refuse(self, why: str):
        self.db.close()
        raise StoreError(f"{self.path} {why}")

    @classmethod
    def existing(cls, path: Path | str) -> SqliteStore:
        """The database of the read-only commands, opened read-only: it must exist already."""
        return cls(path, read_only=True)

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- the statements
    def _execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, list(args)).rowcount

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.conn.executemany(sql, rows)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, list(args)))

    def _tuples(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, list(args)).fetchall()

    def _stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self.db.execute(sql, list(args))

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file (to measure the file's size)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
