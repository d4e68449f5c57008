"""The monitor's database: the only code that reads or writes its tables.

Tables: ``orders`` (latest known state per account and order: one column per
field of ``monitor.order.Order``), ``history`` (one row per observed change,
never one per poll), ``polls``, ``alerts`` and ``deliveries`` (the outbox),
``outages`` (failed polls in a row). An alert is written in the same transaction
as the poll that found it, unique per account, order, rule, level and episode,
so a restart or a crash never creates it twice. Each delivery moves pending ->
sending -> delivered (or back to pending for a retry, or failed after the last
attempt); one left ``sending`` by a crash becomes ``uncertain`` on the next open
and is never resent.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from .common import (
    DROPPED,
    UNCERTAIN,
    AccountExists,
    DatabaseBusy,
    LeaseLost,
    NewAlert,
    Route,
    Routed,
    StoreError,
    StoreUnreachable,
    everywhere,
    iso,
    parse,
)

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .schema import SCHEMA_VERSION
    from .sql import SqlStore as Store
    from .sqlite import SqliteStore

# Loaded on use: reporting an error needs none of them.
_LAZY = {
    "SCHEMA_VERSION": ("schema", "SCHEMA_VERSION"),
    "Store": ("sql", "SqlStore"),
    "SqliteStore": ("sqlite", "SqliteStore"),
    "PostgresStore": ("postgres", "PostgresStore"),
}
SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(SCHEMES)


def open_store(target: str | Path, *, read_only: bool = False) -> Store:
    """The database ``target`` names: a ``postgresql://`` URL (PostgreSQL, for a fleet), else a
    SQLite file's path. ``read_only``: for the commands that only show it (it must exist)."""
    if is_postgres(target):
        from ..extras import require

        require("fleet", "a PostgreSQL database")
        from .postgres import PostgresStore

        return PostgresStore(str(target), read_only=read_only)
    from .sqlite import SqliteStore

    return SqliteStore(target, read_only=read_only)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


__all__ = [
    "DROPPED",
    "SCHEMA_VERSION",
    "UNCERTAIN",
    "AccountExists",
    "DatabaseBusy",
    "LeaseLost",
    "NewAlert",
    "PostgresStore",
    "Route",
    "Routed",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnreachable",
    "everywhere",
    "is_postgres",
    "iso",
    "open_store",
    "parse",
]
