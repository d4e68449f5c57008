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
from typing import TYPE_CHECKING

from .common import DROPPED, UNCERTAIN, DatabaseBusy, NewAlert, StoreError, iso, parse

if TYPE_CHECKING:
    from .schema import SCHEMA_VERSION
    from .sqlite import Store

_LAZY = {"SCHEMA_VERSION": "schema", "Store": "sqlite"}  # loaded on use: reporting an error needs neither


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DROPPED",
    "SCHEMA_VERSION",
    "UNCERTAIN",
    "DatabaseBusy",
    "NewAlert",
    "Store",
    "StoreError",
    "iso",
    "parse",
]
