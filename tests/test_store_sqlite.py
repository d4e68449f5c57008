"""The SQLite store's own ways: migrations from its first schema, files it must refuse untouched,
read-only opening, and two connections writing in turn."""

import datetime as dt
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitor.order import COLUMNS, TrackedDeadline
from monitor.store import SCHEMA_VERSION, SqliteStore, StoreError, everywhere

NOW = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
V1_SCHEMA = (Path(__file__).parent / "data" / "schema_v1.sql").read_text()


def _columns(store, table: str) -> set[str]:
    return {column.name for column in store.db.table(table).columns}


def test_the_first_schema_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute(
            "insert into orders (account, order_id, status, deadlines, last_seen) values (?, ?, ?, ?, ?)",
            ["a", "8100000000001234", "closed", json.dumps({"refund": NOW.isoformat()}), NOW.isoformat()],
        )
        conn.execute(
            "insert into alerts (account, order_id, rule, deadline, message) values ('a', "
            "'8100000000001234', 'refund_overdue', '2026-01-01T00:00:00+00:00', 'm')"
        )
    conn.close()
    store = SqliteStore(path)
    assert (store.migrated_from, store.version) == (1, SCHEMA_VERSION)
    (order,) = store.orders()
    assert order.deadlines == {"refund_expected_by": TrackedDeadline(name="refund_expected_by", computed=NOW)}
    assert _columns(store, "orders") == set(COLUMNS)  # last_seen gone, the model's fields there
    (alert,) = store.alerts()
    assert (alert["level"], alert["episode"], alert["superseded"]) == ("", "2026-01-01T00:00:00+00:00", 0)
    store.close()


def test_a_version_4_database_keeps_the_last_deadline_its_page_showed(tmp_path):
    path = tmp_path / "v4.db"
    store = SqliteStore(path)
    store.close()
    shown, gone = NOW.isoformat(), (NOW - dt.timedelta(days=2)).isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("alter table orders drop column next_due")  # what versions 5 to 9 added, undone
        conn.execute("alter table orders drop column judged_with")
        conn.execute("drop table cancels")
        conn.execute("drop table sessions")
        conn.execute("drop table accounts")
        conn.execute("drop table unreadable")  # and what version 9 added
        conn.execute("alter table deliveries drop column carried_by")  # and version 10's
        conn.execute("alter table alerts add column digest_of integer")
        v4 = {
            "ship_by": {"site": shown, "computed": gone, "episode": 2},
            "pay_by": {"site": gone, "computed": None, "episode": 0, "shown": False},
        }
        conn.execute(
            "insert into orders (account, order_id, status, deadlines) values ('a', '1', 'awaiting_shipment', ?)",
            [json.dumps(v4)],
        )
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    store = SqliteStore(path)
    (order,) = store.orders()
    assert order.deadlines["ship_by"].site == NOW and order.deadlines["ship_by"].episode == 2
    assert order.deadlines["pay_by"].site is None and order.deadlines["pay_by"].last_shown == NOW - dt.timedelta(days=2)
    assert order.deadline("pay_by") is None  # remembered, no longer a deadline
    store.close()


def test_a_version_9_digest_becomes_deliveries_its_first_alert_carries(tmp_path):
    path = tmp_path / "v9.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("alter table deliveries drop column carried_by")
        conn.execute("alter table alerts add column digest_of integer")
        conn.executemany(
            "insert into alerts (id, account, order_id, rule, digest_of) values (?, 'a', ?, 'r', ?)",
            [(1, "1", 1), (2, "2", 1), (3, "3", None)],
        )
        conn.executemany(
            "insert into deliveries (alert_id, target, label, state, attempts) values (?, ?, 'json://r', ?, 1)",
            [(1, "t1", "delivered"), (1, "t2", "failed"), (3, "t1", "pending")],
        )
        conn.execute("PRAGMA user_version = 9")
    conn.close()
    store = SqliteStore(path)
    got = [(d["alert_id"], d["target"], d["state"], d["carried_by"]) for d in store.deliveries()]
    assert got == [(1, "t1", "delivered", None), (1, "t2", "failed", None), (2, "t1", "delivered", 1),
                   (2, "t2", "failed", 1), (3, "t1", "pending", None)]  # fmt: skip
    assert [a["id"] for a in store.carried(1, "t1")] == [1, 2] and "digest_of" not in store.alerts()[0]
    with pytest.raises(sqlite3.IntegrityError):  # alerts stay unique per situation
        store.db.execute("insert into alerts (account, order_id, rule) values ('a', '1', 'r')")
    store.close()


def sqlite_file(path, sql: str):
    """A database file made by ``sql`` (not by ordermon), closed."""
    with sqlite3.connect(path) as conn:
        conn.executescript(sql)
    conn.close()
    return path


def test_a_newer_database_is_refused_untouched(tmp_path):
    path = sqlite_file(tmp_path / "new.db", "PRAGMA user_version = 99")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer than this ordermon"):
        SqliteStore(path)
    assert path.read_bytes() == before


def test_read_commands_need_an_existing_database(tmp_path):
    with pytest.raises(StoreError, match="no database"):
        SqliteStore.existing(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_the_read_only_commands_open_it_read_only_and_never_migrate(tmp_path):
    path = tmp_path / "ordermon.db"
    SqliteStore(path).close()
    store = SqliteStore.existing(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.db.execute("create table mine (x)")
    store.close()
    old = sqlite_file(tmp_path / "old.db", V1_SCHEMA)
    before = old.read_bytes()
    with pytest.raises(StoreError, match="older ordermon"):
        SqliteStore.existing(old)
    assert old.read_bytes() == before


def test_a_database_of_another_program_is_refused_untouched(tmp_path):
    path = sqlite_file(tmp_path / "other-app.db", "create table notes (text)")
    before = path.read_bytes()
    for open_it in (SqliteStore, SqliteStore.existing):
        with pytest.raises(StoreError, match="not an ordermon database"):
            open_it(path)
    assert path.read_bytes() == before and {p.name for p in tmp_path.iterdir()} == {"other-app.db"}


def test_two_connections_write_in_turn_without_database_is_locked(tmp_path):
    """The monitor's poll thread and delivery thread each have a connection: a write waits for the
    other's (BEGIN IMMEDIATE) instead of failing with "database is locked"."""
    path = tmp_path / "ordermon.db"
    SqliteStore(path).close()
    errors, until = [], time.monotonic() + 2

    def poll() -> None:
        store = SqliteStore(path)
        while time.monotonic() < until:
            try:
                store.record_failure("a", started=NOW, error="x", findings=[], route=everywhere([]))
            except sqlite3.OperationalError as exc:
                errors.append(str(exc))
        store.close()

    def deliver() -> None:
        store = SqliteStore(path)
        while time.monotonic() < until:
            try:
                store.recover_deliveries(["t"])
                store.forget_account("gone")
            except sqlite3.OperationalError as exc:
                errors.append(str(exc))
        store.close()

    threads = [threading.Thread(target=poll), threading.Thread(target=deliver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert SqliteStore.existing(path).outage("a")["failures"] > 0
