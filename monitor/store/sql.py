"""Every query of the store, written once in SQL that SQLite and PostgreSQL both read (``?`` for a
parameter; the PostgreSQL store turns them into its own). A store adds its connection, its
transactions and its schema (sqlite.py, postgres.py); tests/test_store_contract.py runs the same
tests against both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from ..order import COLUMNS, GLANCED, Change, Known, Order
from ..rules import Finding
from .common import NewAlert, Route, iso, parse
from .fleet_tables import FleetTables
from .outbox import DELIVERY_STATES, Outbox

_UPSERT_ORDER = (
    f"insert into orders ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))}) "
    f"on conflict (account, order_id) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("account", "order_id"))
)
_HISTORY = list(Change._fields)
_INSERT_CHANGE = f"insert into history ({', '.join(_HISTORY)}) values ({', '.join('?' * len(_HISTORY))})"


class SqlStore(FleetTables, Outbox):
    """What every store does; a store gives the statements (``_execute``, ``_rows``, ``_tuples``, its
    transactions), its connection and its schema."""

    #: How messages name the database: its path, or its URL without a password.
    name: str
    #: The schema version the database had when it was opened (0: none, it was made).
    migrated_from: int
    #: The states of an alert's deliveries, as one comma-separated text.
    STATES = "group_concat(d.state)"

    # ---------------------------------------------------------------- what a store gives (and Statements)
    def close(self) -> None:
        raise NotImplementedError

    @property
    def version(self) -> int:
        """The schema version the database has."""
        raise NotImplementedError

    def checkpoint(self) -> None:
        """Whatever the store keeps aside (SQLite's write-ahead log) moved into the database."""

    # ---------------------------------------------------------------- what a poll reads
    def known(self, account: str) -> Known:
        """Everything a poll of the account needs from the database, in one read transaction: a
        glance at each order; its full row when the poll asks (one monitor or worker per account
        writes it meanwhile: the lock)."""
        with self._reading():
            rows = {
                row[0]: row
                for row in self._tuples(f"select {', '.join(GLANCED)} from orders where account = ?", [account])
            }
            alerted = {
                (order_id, rule, level, episode): parse(site_now)
                for order_id, rule, level, episode, site_now in self._tuples(
                    "select order_id, rule, level, episode, site_now from alerts where account = ?", [account]
                )
            }
            return Known(account, rows, lambda ids: self._full_rows(account, ids), alerted, self.outage(account))

    def _full_rows(self, account: str, order_ids: list[str]) -> list[tuple[Any, ...]]:
        select = f"select {', '.join(COLUMNS)} from orders where account = ?"
        if len(order_ids) > 500:  # most of the account's orders (a first poll): one scan, not a long IN list
            wanted = set(order_ids)
            key = COLUMNS.index("order_id")
            return [row for row in self._tuples(select, [account]) if row[key] in wanted]
        return self._tuples(f"{select} and order_id in ({', '.join('?' * len(order_ids))})", [account, *order_ids])

    def outage(self, account: str) -> dict[str, Any] | None:
        rows = self._rows("select * from outages where account = ?", [account])
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
        route: Route,
        moved: Iterable[tuple[str, str, int]] = (),
        urls: dict[str, str] | None = None,
        digest_over: int | None = None,
        unreadable: Iterable[tuple[str, str]] = (),
    ) -> list[NewAlert]:
        """One transaction: the changed orders (as ``Order.row()`` writes them), their history rows,
        the new alerts with their deliveries (``route``: where and when each goes), the deliveries
        held until ``site_now`` released, the poll itself, the orders it could not read (order id,
        why: they replace the last poll's); a recorded poll also ends the account's outage.

        ``moved``: (order id, deadline name, new episode) of deadlines the site moved: the
        alerts of their earlier episodes are superseded. More than ``digest_over`` new
        alerts to one target go out to it as one digest, and so do its reminders and what the
        quiet hours held.
        """
        with self._writing():
            if orders:
                self._many(_UPSERT_ORDER, ([row[c] for c in COLUMNS] for row in orders))
            if changes:
                self._many(_INSERT_CHANGE, ([*c[:2], iso(c.observed_at), *c[3:]] for c in changes))
            for order_id, name, episode in moved:
                self._execute(
                    "update alerts set superseded = 1 where account = ? and order_id = ? "
                    "and episode like ? and episode != ?",
                    [account, order_id, f"{name}:%", f"{name}:{episode}"],
                )
            self._execute("delete from outages where account = ?", [account])
            self._execute("delete from unreadable where account = ?", [account])
            if rows := [[account, order_id, why, iso(site_now)] for order_id, why in unreadable]:
                self._many(
                    "insert into unreadable (account, order_id, why, seen) values (?, ?, ?, ?) "
                    "on conflict (account, order_id) do update set why = excluded.why",
                    rows,
                )
            created = self._add_alerts(account, findings, site_now, route, urls or {}, digest_over)
            self._release_held(account, site_now)
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
        self, account: str, *, started: dt.datetime, error: str, findings: Iterable, route: Route
    ) -> list[NewAlert]:
        """A failed poll: the outage grows by one; ``findings`` (monitor_failing) mark it alerted; what
        the quiet hours held is released as by a poll (an outage keeps nothing held past their end)."""
        findings = list(findings)
        with self._writing():
            self._execute(
                "insert into outages (account, since, failures, last_error, alerted) values (?, ?, 1, ?, ?) on "
                "conflict (account) do update set failures = outages.failures + 1, last_error = excluded.last_error, "
                "alerted = case when outages.alerted = 1 or excluded.alerted = 1 then 1 else 0 end",
                [account, iso(started), error, int(bool(findings))],
            )
            created = self._add_alerts(account, findings, None, route)
            self._release_held(account, started)
            self._add_poll(account, started, None, error=error, alerts_created=len(created))
        return created

    def _add_poll(self, account: str, started: dt.datetime, site_now: dt.datetime | None, **counts) -> None:
        row = {"orders_seen": 0, "changes": 0, "details_read": 0, "alerts_created": 0, "error": None} | counts
        self._execute(
            "insert into polls (account, started, finished, site_now, orders_seen, changes, details_read, "
            "alerts_created, error) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [account, iso(started), iso(dt.datetime.now(dt.UTC)), iso(site_now), row["orders_seen"], row["changes"],
             row["details_read"], row["alerts_created"], row["error"]],
        )  # fmt: skip

    # ---------------------------------------------------------------- views
    def orders(self, account: str | None = None) -> list[Order]:
        where, args = self._account_filter(account)
        rows = self._rows(f"select * from orders{where} order by account, placed_at desc, order_id", args)
        return [Order.from_row(row) for row in rows]

    def order_rows(self) -> Iterator[tuple[Any, ...]]:
        """Every order's row as stored (in ``COLUMNS``' order), not typed, one at a time: for a view
        that types only the orders that changed, and never holds them all."""
        return self._stream(f"select {', '.join(COLUMNS)} from orders")

    def orders_by_id(self, account: str, order_ids: list[str]) -> list[Order]:
        """These orders of the account (those it has), typed."""
        return [Order.from_row(dict(zip(COLUMNS, row, strict=True))) for row in self._full_rows(account, order_ids)]

    def history(self, order_id: str, account: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from history where order_id = ?" + (" and account = ?" if account else "")
        return self._rows(sql + " order by id", [order_id] + ([account] if account else []))

    def alerts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every alert with its deliveries: ``targets``, ``delivered_to``, ``states`` (comma-separated)."""
        where, args = self._account_filter(account, "a.")
        own = "d.alert_id = a.id"
        return self._rows(
            f"select a.*, (select count(*) from deliveries d where {own}) as targets, "
            f"(select count(*) from deliveries d where {own} and d.state = 'delivered') as delivered_to, "
            f"(select {self.STATES} from deliveries d where {own}) as states "
            f"from alerts a{where} order by a.id",
            args,
        )

    def deliveries(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        """An alert's deliveries (every alert's: None), by alert and target."""
        where, args = (" where alert_id = ?", [alert_id]) if alert_id is not None else ("", [])
        return self._rows(f"select * from deliveries{where} order by alert_id, target", args)

    def site_now(self, account: str) -> dt.datetime | None:
        """The site's clock at the account's last recorded poll."""
        rows = self._tuples(
            "select site_now from polls where account = ? and site_now is not null order by id desc limit 1", [account]
        )
        return parse(rows[0][0]) if rows else None

    def poll_health(self) -> list[dict[str, Any]]:
        """Per account that was ever polled: when its last poll and its last successful poll
        finished, and its open outage (``outage_since``, ``failures``, ``last_error``; None if none)."""
        return self._rows(
            "select p.account, max(p.finished) as last_poll, "
            "max(case when p.error is null then p.finished end) as last_success, "
            "o.since as outage_since, o.failures, o.last_error "
            "from polls p left join outages o on o.account = p.account "
            "group by p.account, o.since, o.failures, o.last_error order by p.account"
        )

    def unreadable(self, account: str | None = None) -> list[dict[str, Any]]:
        """The orders each account's last successful poll could not read: account, order_id, why, seen."""
        where, args = self._account_filter(account)
        return self._rows(f"select * from unreadable{where} order by account, order_id", args)

    def polls(self, account: str | None = None) -> list[dict[str, Any]]:
        where, args = self._account_filter(account)
        return self._rows(f"select * from polls{where} order by id", args)

    def stamp(self) -> tuple:
        """A few numbers that change whenever anything a view shows changes (a poll recorded, an
        alert created, a delivery tried, delivered or given up, an account forgotten or added): a
        view judged at one stamp is the same until the next. Cheap: three maxima of primary keys,
        two counts of small tables and one pass over deliveries (each delivery state counted: every
        move of a delivery changes a count or its attempts). Not caught: on PostgreSQL, a poll that
        commits after a later-numbered one and changed nothing else (the next write shows it)."""
        states = ", ".join(f"sum(case when state = '{s}' then 1 else 0 end)" for s in DELIVERY_STATES)
        return (
            *self._tuples(
                "select (select max(id) from polls), (select max(id) from alerts), (select max(id) from history), "
                "(select count(*) from orders), (select count(*) from accounts)"
            )[0],
            *self._tuples(f"select {states}, sum(attempts) from deliveries")[0],
        )

    def counts(self, account: str | None = None) -> dict[str, int]:
        where, args = self._account_filter(account)
        counts = {
            name: self._tuples(f"select count(*) from {name}{where}", args)[0][0]
            for name in ("orders", "history", "polls", "alerts")
        }
        counts["deliveries"] = self._tuples(
            "select count(*) from deliveries where alert_id in (select id from alerts" + where + ")", args
        )[0][0]
        return counts

    def forget_account(self, account: str) -> None:
        """Every row of one account, gone (the demo starts its account afresh)."""
        with self._writing():
            self._execute(
                "delete from deliveries where alert_id in (select id from alerts where account = ?)", [account]
            )
            for table in ("alerts", "history", "orders", "polls", "outages"):
                self._execute(f"delete from {table} where account = ?", [account])

    @staticmethod
    def _account_filter(account: str | None, prefix: str = "") -> tuple[str, list]:
        return (f" where {prefix}account = ?", [account]) if account else ("", [])
