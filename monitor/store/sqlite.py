"""The SQLite store (sqlite-utils): WAL mode, one write transaction at a time (BEGIN IMMEDIATE),
the schema versioned in ``PRAGMA user_version`` and migrated on open (schema.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from ..order import COLUMNS, Change, Known, Order
from ..rules import Finding
from .common import DROPPED, UNCERTAIN, DatabaseBusy, NewAlert, StoreError, iso, parse
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["DatabaseBusy", "Store", "StoreError"]


def _create_private(path: Path) -> None:
    """The database holds order data: readable by its owner only."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
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


class Store:
    """The monitor's database. ``read_only``: for the commands that only show it (status,
    alerts, history, report): opened read-only, never created nor migrated."""

    def __init__(self, path: Path | str, *, read_only: bool = False):
        self.path = Path(path)
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
        self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        for version in range(self.migrated_from + 1, SCHEMA_VERSION + 1):
            with self._writing():
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version}")

    @contextlib.contextmanager
    def _writing(self):
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
    def _reading(self):
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
    def existing(cls, path: Path | str) -> Store:
        """The database of the read-only commands, opened read-only: it must exist already."""
        return cls(path, read_only=True)

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- what a poll reads
    def known(self, account: str) -> Known:
        """Everything a poll of the account needs from the database, in one read transaction."""
        with self._reading():
            cursor = self.db.execute(f"select {', '.join(COLUMNS)} from orders where account = ?", [account])
            key = COLUMNS.index("order_id")
            rows = {row[key]: row for row in cursor}
            alerted = {
                tuple(r)
                for r in self.db.execute(
                    "select order_id, rule, level, episode from alerts where account = ?", [account]
                )
            }
            return Known(account, COLUMNS, rows, alerted, self.outage(account))

    def outage(self, account: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from outages where account = ?", [account]))
        return rows[0] if rows else None

    # ---------------------------------------------------------------- what a poll writes
    def record_poll(
        self,
        account: str,
        *,
        started: dt.datetime,
        site_now: dt.datetime,
        orders_seen: int,
        details_read: int,
        orders: list[dict[str, Any]],
        changes: list[Change],
        findings: Iterable[Finding],
        targets: list[tuple[str, str]],
        moved: Iterable[tuple[str, str, int]] = (),
        urls: dict[str, str] | None = None,
        digest_over: int | None = None,
    ) -> list[NewAlert]:
        """One transaction: the changed orders (as ``Order.row()`` writes them), their history rows,
        the new alerts with their deliveries, the poll itself; a recorded poll also ends the account's
        outage.

        ``moved``: (order id, deadline name, new episode) of deadlines the site moved: the
        alerts of their earlier episodes are superseded. More than ``digest_over`` new
        alerts go out as one digest (the first alert's deliveries carry them all).
        """
        with self._writing():
            if orders:
                self.db.table("orders").upsert_all(orders, pk=("account", "order_id"))
            if changes:
                self.db.table("history").insert_all(
                    change._asdict() | {"observed_at": iso(change.observed_at)} for change in changes
                )
            for order_id, name, episode in moved:
                self.db.execute(
                    "update alerts set superseded = 1 where account = ? and order_id = ? "
                    "and episode like ? and episode != ?",
                    [account, order_id, f"{name}:%", f"{name}:{episode}"],
                )
            self.db.execute("delete from outages where account = ?", [account])
            created = self._add_alerts(account, findings, site_now, targets, urls or {}, digest_over)
            self._add_poll(
                account,
                started,
                site_now,
                orders_seen=orders_seen,
                changes=len(changes),
                details_read=details_read,
                alerts_created=len(created),
            )
        return created

    def record_failure(
        self, account: str, *, started: dt.datetime, error: str, findings: Iterable, targets: list[tuple[str, str]]
    ) -> list[NewAlert]:
        """A failed poll: the outage grows by one; ``findings`` (monitor_failing) mark it alerted."""
        findings = list(findings)
        with self._writing():
            outage = self.outage(account) or {"account": account, "since": iso(started), "failures": 0, "alerted": 0}
            outage.update(
                failures=outage["failures"] + 1, last_error=error, alerted=int(bool(outage["alerted"] or findings))
            )
            self.db.table("outages").upsert(outage, pk="account")
            created = self._add_alerts(account, findings, None, targets)
            self._add_poll(account, started, None, error=error, alerts_created=len(created))
        return created

    def _add_poll(self, account: str, started: dt.datetime, site_now: dt.datetime | None, **counts) -> None:
        row = {"orders_seen": 0, "changes": 0, "details_read": 0, "alerts_created": 0, "error": None} | counts
        self.db.table("polls").insert(
            {
                "account": account,
                "started": iso(started),
                "finished": iso(dt.datetime.now(dt.UTC)),
                "site_now": iso(site_now),
                **row,
            }
        )

    def _add_alerts(
        self,
        account: str,
        findings: Iterable,
        site_now: dt.datetime | None,
        targets: list[tuple[str, str]],
        urls: dict[str, str] | None = None,
        digest_over: int | None = None,
    ) -> list[NewAlert]:
        """New alerts (ones already recorded are ignored), and the deliveries that carry them."""
        created = []
        now = iso(dt.datetime.now(dt.UTC))
        for f in findings:
            cursor = self.db.execute(
                "insert or ignore into alerts (account, order_id, rule, level, episode, deadline, deadline_name, "
                "title, message, next_step, url, created, site_now) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    account,
                    f.order_id,
                    f.rule,
                    f.level,
                    f.episode,
                    iso(f.deadline),
                    f.deadline_name,
                    f.title,
                    f.message,
                    f.next_step,
                    (urls or {}).get(f.order_id),
                    now,
                    iso(site_now or f.now),
                ],
            )
            if cursor.rowcount and cursor.lastrowid is not None:
                created.append(NewAlert(cursor.lastrowid, f.message))
        carriers = created
        if digest_over is not None and len(created) > digest_over:
            carriers = created[:1]
            self.db.execute(
                f"update alerts set digest_of = ? where id in ({','.join('?' * len(created))})",
                [created[0].id, *(a.id for a in created)],
            )
        for alert in carriers:
            for target, target_label in targets:
                self.db.table("deliveries").insert(
                    {
                        "alert_id": alert.id,
                        "target": target,
                        "label": target_label,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt": now,
                    }
                )
        return created

    # ---------------------------------------------------------------- the outbox
    def recover_deliveries(self, configured: Iterable[str]) -> dict[str, int]:
        """On open: deliveries a crash left ``sending`` become ``uncertain`` (never resent);
        pending ones to targets no longer configured are ``dropped``."""
        configured = list(configured)
        with self._writing():
            uncertain = self.db.execute(
                "update deliveries set state = 'uncertain', last_error = ? where state = 'sending'", [UNCERTAIN]
            ).rowcount
            marks = ",".join("?" * len(configured))
            dropped = self.db.execute(  # SQLite takes "not in ()": no target configured drops them all
                f"update deliveries set state = 'dropped', last_error = ? where state = 'pending' "
                f"and target not in ({marks})",
                [DROPPED, *configured],
            ).rowcount
        return {"uncertain": uncertain, "dropped": dropped}

    def due_deliveries(self, now: dt.datetime) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "select d.alert_id, d.target, d.attempts, a.rule, a.level, a.order_id, a.message, a.account, a.title, "
                "a.url, a.digest_of from deliveries d join alerts a on a.id = d.alert_id "
                "where d.state = 'pending' and (d.next_attempt is null or d.next_attempt <= ?) "
                "order by d.alert_id",
                [iso(now)],
            )
        )

    def digest(self, first: int) -> list[dict[str, Any]]:
        """The alerts one digest notification carries (``first``: its first alert)."""
        return list(self.db.query("select * from alerts where digest_of = ? order by id", [first]))

    def mark_sending(self, alert_id: int, target: str, attempts: int) -> None:
        """Committed before the target is called: a crash from here on leaves ``sending``."""
        with self._writing():
            self.db.table("deliveries").update((alert_id, target), {"state": "sending", "attempts": attempts})

    def mark_delivered(self, alert_id: int, target: str) -> None:
        with self._writing():
            self.db.table("deliveries").update(
                (alert_id, target),
                {"state": "delivered", "delivered": iso(dt.datetime.now(dt.UTC)), "last_error": None},
            )

    def mark_failed(self, alert_id: int, target: str, error: str, *, retry_at: dt.datetime | None) -> None:
        """A failed attempt: pending again until ``retry_at``, or ``failed`` for good (no retry_at)."""
        with self._writing():
            self.db.table("deliveries").update(
                (alert_id, target),
                {"state": "pending" if retry_at else "failed", "last_error": error, "next_attempt": iso(retry_at)},
            )

    # ---------------------------------------------------------------- views
    def orders(self, account: str | None = None) -> list[Order]:
        where, args = self._account_filter(account)
        rows = self.db.query(f"select * from orders{where} order by account, placed_at desc", args)
        return [Order.from_row(row) for row in rows]

    def history(self, order_id: str, account: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from history where order_id = ?" + (" and account = ?" if account else "")
        return list(self.db.query(sql + " order by id", [order_id] + ([account] if account else [])))

    def alerts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every alert with the deliveries that carry it (its own, or its digest's): ``targets``,
        ``delivered_to``, ``states`` (comma-separated)."""
        where, args = self._account_filter(account, "a.")
        carrier = "d.alert_id = coalesce(a.digest_of, a.id)"
        return list(
            self.db.query(
                f"select a.*, (select count(*) from deliveries d where {carrier}) as targets, "
                f"(select count(*) from deliveries d where {carrier} and d.state = 'delivered') as delivered_to, "
                f"(select group_concat(d.state) from deliveries d where {carrier}) as states "
                f"from alerts a{where} order by a.id",
                args,
            )
        )

    def deliveries(self, alert_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("select * from deliveries where alert_id = ? order by target", [alert_id]))

    def site_now(self, account: str) -> dt.datetime | None:
        """The site's clock at the account's last recorded poll."""
        row = self.db.execute(
            "select site_now from polls where account = ? and site_now is not null order by id desc limit 1", [account]
        ).fetchone()
        return parse(row[0]) if row else None

    def poll_health(self) -> list[dict[str, Any]]:
        """Per account that was ever polled: when its last poll and its last successful poll
        finished, and its open outage (``outage_since``, ``failures``, ``last_error``; None if none)."""
        return list(
            self.db.query(
                "select p.account, max(p.finished) as last_poll, "
                "max(case when p.error is null then p.finished end) as last_success, "
                "o.since as outage_since, o.failures, o.last_error "
                "from polls p left join outages o on o.account = p.account group by p.account order by p.account"
            )
        )

    def polls(self, account: str | None = None) -> list[dict[str, Any]]:
        where, args = self._account_filter(account)
        return list(self.db.query(f"select * from polls{where} order by id", args))

    def counts(self, account: str | None = None) -> dict[str, int]:
        where, args = self._account_filter(account)
        counts = {
            name: self.db.execute(f"select count(*) from {name}{where}", args).fetchone()[0]
            for name in ("orders", "history", "polls", "alerts")
        }
        counts["deliveries"] = self.db.execute(
            "select count(*) from deliveries where alert_id in (select id from alerts" + where + ")", args
        ).fetchone()[0]
        return counts

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file (to measure the file's size)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_account(self, account: str) -> None:
        """Every row of one account, gone (the demo starts its account afresh)."""
        with self._writing():
            self.db.execute(
                "delete from deliveries where alert_id in (select id from alerts where account = ?)", [account]
            )
            for table in ("alerts", "history", "orders", "polls", "outages"):
                self.db.execute(f"delete from {table} where account = ?", [account])

    @staticmethod
    def _account_filter(account: str | None, prefix: str = "") -> tuple[str, list]:
        return (f" where {prefix}account = ?", [account]) if account else ("", [])
