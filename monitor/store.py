"""The monitor's SQLite database (sqlite-utils): orders, status history, polls, alerts.

One row per observed change in ``history``, never one per poll. Alerts are an
outbox: written in the same transaction as the change that caused them, and
unique per account, order, rule, deadline and level, so a restart or a crash
can never create an alert twice.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

SCHEMA_VERSION = 2


class StoreError(Exception):
    exit_code = 7


class DatabaseBusy(StoreError):
    pass


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _v1(db: sqlite_utils.Database) -> None:
    db["orders"].create({
        "account": str, "order_id": str, "status": str, "status_label": str, "store": str,
        "total": str, "currency": str, "order_date": str, "payment_method": str,
        "placed_at": str, "paid_at": str, "cancel_requested_at": str, "shipped_at": str,
        "closed_at": str, "close_reason": str, "cancel_reason": str, "refund_status": str,
        "refund_started_at": str, "refunded_at": str, "deadlines": str,
        "first_seen": str, "last_seen": str, "detail_read_at": str,
    }, pk=("account", "order_id"), not_null={"status"})
    db["history"].create({
        "id": int, "account": str, "order_id": str, "observed_at": str,
        "status_from": str, "status_to": str, "refund_from": str, "refund_to": str,
        "close_reason": str,
    }, pk="id", foreign_keys=[(("account", "order_id"), "orders", ("account", "order_id"))])
    db["history"].create_index(["account", "order_id"])
    db["polls"].create({
        "id": int, "account": str, "started": str, "finished": str, "site_now": str,
        "orders_seen": int, "changes": int, "details_read": int, "alerts_created": int,
        "error": str,
    }, pk="id")
    db["alerts"].create({
        "id": int, "account": str, "order_id": str, "rule": str, "deadline": str,
        "message": str, "next_step": str, "created": str, "site_now": str,
    }, pk="id")
    db["alerts"].create_index(["account", "order_id", "rule", "deadline"], unique=True)
    db["deliveries"].create({
        "alert_id": int, "target": str, "label": str, "state": str, "attempts": int,
        "last_error": str, "next_attempt": str, "delivered": str,
    }, pk=("alert_id", "target"), foreign_keys=[("alert_id", "alerts", "id")],
        defaults={"state": "pending", "attempts": 0})


def _v2(db: sqlite_utils.Database) -> None:
    """Protection warnings have levels; outages are tracked for monitor_failing."""
    db["alerts"].add_column("level", str, not_null_default="")
    db.execute("DROP INDEX IF EXISTS idx_alerts_account_order_id_rule_deadline")
    db["alerts"].create_index(["account", "order_id", "rule", "deadline", "level"], unique=True,
                              index_name="alerts_unique")
    db["outages"].create({
        "account": str, "since": str, "failures": int, "last_error": str, "alerted": int,
    }, pk="account")


MIGRATIONS = {1: _v1, 2: _v2}


def create_private(path: Path) -> None:
    """The database holds order data: readable by its owner only."""
    if str(path) == ":memory:" or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        create_private(self.path)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        if self.version > SCHEMA_VERSION:  # refuse before touching the file (WAL rewrites its header)
            version = self.version
            self.db.close()
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this ordermon ({SCHEMA_VERSION})"
            )
        self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.migrated_from = self.version
        self.migrate()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this ordermon ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- reads
    def known_orders(self, account: str) -> dict[str, dict[str, Any]]:
        rows = self.db.query("select * from orders where account = ?", [account])
        return {row["order_id"]: row for row in rows}

    def orders(self, account: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from orders" + (" where account = ?" if account else "") + " order by account, placed_at desc"
        return list(self.db.query(sql, [account] if account else []))

    def history(self, order_id: str, account: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from history where order_id = ?" + (" and account = ?" if account else "")
        return list(self.db.query(sql + " order by id", [order_id] + ([account] if account else [])))

    def alerts(self, account: str | None = None) -> list[dict[str, Any]]:
        sql = """
            select a.*,
              (select count(*) from deliveries d where d.alert_id = a.id) as targets,
              (select count(*) from deliveries d where d.alert_id = a.id and d.state = 'delivered') as delivered_to,
              (select group_concat(d.state) from deliveries d where d.alert_id = a.id) as states
            from alerts a""" + (" where a.account = ?" if account else "") + " order by a.id"
        return list(self.db.query(sql, [account] if account else []))

    def polls(self, account: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql = "select * from polls" + (" where account = ?" if account else "") + " order by id desc limit ?"
        return list(self.db.query(sql, ([account] if account else []) + [limit]))

    def counts(self) -> dict[str, int]:
        return {name: self.db[name].count for name in ("orders", "history", "polls", "alerts", "deliveries")}

    # ---------------------------------------------------------------- writes
    def add_alerts(self, account: str, findings: Iterable, site_now: dt.datetime,
                   targets: list[tuple[str, str]]) -> list[int]:
        """Insert new alerts (ignoring ones already recorded) with a delivery row per target.

        Call inside ``db.atomic()`` with the change that caused them.
        """
        created = []
        now_real = iso(dt.datetime.now(dt.UTC))
        for f in findings:
            cursor = self.db.execute(
                "insert or ignore into alerts (account, order_id, rule, level, deadline, message, "
                "next_step, created, site_now) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account, f.order_id, f.rule, f.level, iso(f.deadline), f.message, f.next_step,
                 now_real, iso(site_now)],
            )
            if cursor.rowcount:
                alert_id = cursor.lastrowid
                created.append(alert_id)
                for target, label in targets:
                    self.db["deliveries"].insert(
                        {"alert_id": alert_id, "target": target, "label": label, "state": "pending",
                         "attempts": 0, "next_attempt": now_real})
        return created

    def alert_exists(self, account: str, order_id: str, rule: str, deadline: dt.datetime, level: str) -> bool:
        row = self.db.execute(
            "select 1 from alerts where account=? and order_id=? and rule=? and deadline=? and level=?",
            [account, order_id, rule, iso(deadline), level]).fetchone()
        return row is not None

    def outage(self, account: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from outages where account = ?", [account]))
        return rows[0] if rows else None

    def to_json(self, row: dict) -> dict:
        out = dict(row)
        if isinstance(out.get("deadlines"), str):
            out["deadlines"] = json.loads(out["deadlines"])
        return out


class MonitorLock:
    """An exclusive lock beside the database: a second monitor refuses to start.

    flock is released by the kernel when the process dies, even by kill -9.
    """

    def __init__(self, db_path: Path):
        self.path = Path(str(db_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseBusy(f"another ordermon monitor is using {self.path.with_suffix('')}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MonitorLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
