"""The store on a temporary database: polls, outages, the outbox's transitions and its crash path,
migrations from the first schema, and databases it must refuse untouched."""

import datetime as dt
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitor.order import COLUMNS, JSON_COLUMNS, Change, Order, TrackedDeadline
from monitor.rules import Finding
from monitor.store import SCHEMA_VERSION, Store, StoreError

NOW = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
TARGETS = [("t1", "json://receiver-1"), ("t2", "json://receiver-2")]
V1_SCHEMA = (Path(__file__).parent / "data" / "schema_v1.sql").read_text()


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "ordermon.db")
    yield store
    store.close()


def finding(order_id="8100000000001234", rule="refund_overdue", level="", episode="refund_expected_by:0"):
    return Finding(
        rule,
        order_id,
        NOW - dt.timedelta(days=1),
        NOW,
        "the refund has not arrived",
        "check",
        level,
        episode,
        "refund_expected_by",
    )


def order_row(order_id="8100000000001234", status="closed", refund="pending"):
    day_ago = NOW - dt.timedelta(days=1)
    return Order(
        account="a",
        order_id=order_id,
        status=status,
        refund_status=refund,
        deadlines={"refund_expected_by": {"computed": day_ago}},
    )


def record(store, findings=(), orders=(), changes=()):
    return store.record_poll(
        "a",
        started=NOW,
        site_now=NOW,
        orders_seen=len(orders),
        details_read=0,
        orders=[order.row() for order in orders],
        changes=list(changes),
        findings=list(findings),
        targets=TARGETS,
    )


def test_a_poll_writes_orders_history_alerts_and_one_delivery_per_target(store):
    change = Change("a", "8100000000001234", NOW, None, "closed", None, "pending", None)
    created = record(store, [finding()], [order_row()], [change])
    assert [a.message for a in created] == [finding().message]
    known = store.known("a")
    assert known.order("8100000000001234") == order_row()  # the typed order, as it was written
    assert [h["status_to"] for h in store.history("8100000000001234")] == ["closed"]
    assert known.alerted == {("8100000000001234", "refund_overdue", "", "refund_expected_by:0")}
    assert [d["state"] for d in store.deliveries(created[0].id)] == ["pending", "pending"]
    assert store.counts() == {"orders": 1, "history": 1, "polls": 1, "alerts": 1, "deliveries": 2}
    assert store.site_now("a") == NOW


def test_the_same_alert_is_created_once_however_often_it_is_found(store):
    assert len(record(store, [finding()])) == 1
    assert record(store, [finding()]) == []
    assert len(record(store, [finding(level="7d")])) == 1  # another level is another alert
    assert len(record(store, [finding(episode="refund_expected_by:1")])) == 1  # so is another episode
    assert store.counts()["alerts"] == 3


def test_a_deadline_the_site_moved_supersedes_the_alerts_of_its_earlier_episodes(store):
    record(
        store,
        [finding(rule="protection_expiring", level="14d", episode="protection_ends:0"), finding(rule="refund_overdue")],
    )
    store.record_poll(
        "a",
        started=NOW,
        site_now=NOW,
        orders_seen=1,
        details_read=1,
        orders=[],
        changes=[],
        findings=[],
        targets=TARGETS,
        moved=[("8100000000001234", "protection_ends", 1)],
    )
    superseded = {a["rule"]: a["superseded"] for a in store.alerts()}
    assert superseded == {"protection_expiring": 1, "refund_overdue": 0}


def test_more_new_alerts_than_the_limit_go_out_as_one_digest(store):
    many = [finding(order_id=f"81000000000012{n:02}") for n in range(7)]
    created = store.record_poll(
        "a",
        started=NOW,
        site_now=NOW,
        orders_seen=7,
        details_read=7,
        orders=[],
        changes=[],
        findings=many,
        targets=TARGETS,
        digest_over=5,
    )
    assert len(created) == 7 and store.counts()["deliveries"] == 2  # one per target, for all seven
    assert [a["order_id"] for a in store.digest(created[0].id)] == [f.order_id for f in many]
    store.mark_sending(created[0].id, "t1", attempts=1)
    store.mark_delivered(created[0].id, "t1")
    assert {a["states"] for a in store.alerts()} == {"delivered,pending"}  # every alert shows its digest's delivery
    few = store.record_poll(
        "a",
        started=NOW,
        site_now=NOW,
        orders_seen=1,
        details_read=1,
        orders=[],
        changes=[],
        findings=[finding(order_id="8100000000009999")],
        targets=TARGETS,
        digest_over=5,
    )
    assert len(store.deliveries(few[0].id)) == 2


def test_failures_grow_an_outage_that_a_recorded_poll_ends(store):
    store.record_failure("a", started=NOW, error="down", findings=[], targets=TARGETS)
    store.record_failure(
        "a", started=NOW, error="still down", findings=[finding("", "monitor_failing")], targets=TARGETS
    )
    outage = store.outage("a")
    assert (outage["failures"], outage["alerted"], outage["last_error"]) == (2, 1, "still down")
    assert [p["error"] for p in store.polls("a")] == ["down", "still down"]
    record(store)
    assert store.outage("a") is None


def test_a_delivery_goes_pending_sending_delivered(store):
    (alert,) = record(store, [finding()])
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)  # deliveries are due by the real clock
    assert [d["target"] for d in store.due_deliveries(soon)] == ["t1", "t2"]
    store.mark_sending(alert.id, "t1", attempts=1)
    store.mark_delivered(alert.id, "t1")
    states = {d["target"]: (d["state"], d["attempts"]) for d in store.deliveries(alert.id)}
    assert states == {"t1": ("delivered", 1), "t2": ("pending", 0)}
    assert [d["target"] for d in store.due_deliveries(soon)] == ["t2"]


def test_a_failed_delivery_waits_for_its_retry_then_fails_for_good(store):
    (alert,) = record(store, [finding()])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    store.mark_sending(alert.id, "t1", attempts=1)
    store.mark_failed(alert.id, "t1", "HTTP 500", retry_at=later)
    due = {d["target"] for d in store.due_deliveries(later - dt.timedelta(seconds=1))}
    assert due == {"t2"}
    assert "t1" in {d["target"] for d in store.due_deliveries(later)}
    store.mark_sending(alert.id, "t1", attempts=2)
    store.mark_failed(alert.id, "t1", "HTTP 500", retry_at=None)
    (t1,) = [d for d in store.deliveries(alert.id) if d["target"] == "t1"]
    assert (t1["state"], t1["attempts"], t1["last_error"]) == ("failed", 2, "HTTP 500")
    assert "t1" not in {d["target"] for d in store.due_deliveries(later + dt.timedelta(days=365))}


def test_a_delivery_left_sending_by_a_crash_becomes_uncertain_and_is_never_resent(tmp_path):
    store = Store(tmp_path / "ordermon.db")
    (alert,) = record(store, [finding()])
    store.mark_sending(alert.id, "t1", attempts=1)
    store.db.conn.close()  # the process dies here: Apprise may or may not have delivered

    reopened = Store(tmp_path / "ordermon.db")
    assert reopened.recover_deliveries(["t1", "t2"]) == {"uncertain": 1, "dropped": 0}
    states = {d["target"]: d["state"] for d in reopened.deliveries(alert.id)}
    assert states == {"t1": "uncertain", "t2": "pending"}
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    assert [d["target"] for d in reopened.due_deliveries(far)] == ["t2"]
    assert reopened.recover_deliveries(["t1", "t2"]) == {"uncertain": 0, "dropped": 0}
    reopened.close()


def test_pending_deliveries_to_targets_no_longer_configured_are_dropped(store):
    (alert,) = record(store, [finding()])
    assert store.recover_deliveries(["t2"]) == {"uncertain": 0, "dropped": 1}
    assert {d["target"]: d["state"] for d in store.deliveries(alert.id)} == {"t1": "dropped", "t2": "pending"}


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
    store = Store(path)
    assert (store.migrated_from, store.version) == (1, SCHEMA_VERSION)
    (order,) = store.orders()
    assert order.deadlines == {"refund_expected_by": TrackedDeadline(name="refund_expected_by", computed=NOW)}
    assert _columns(store, "orders") == set(COLUMNS)  # last_seen gone, the model's fields there
    (alert,) = store.alerts()
    assert (alert["level"], alert["episode"], alert["superseded"]) == ("", "2026-01-01T00:00:00+00:00", 0)
    store.close()


def _columns(store, table: str) -> set[str]:
    return {column.name for column in store.db[table].columns}


def test_the_orders_table_has_a_column_for_every_field_of_the_order_model(store):
    assert _columns(store, "orders") == set(COLUMNS)
    assert {"deadlines", "timeline"} <= JSON_COLUMNS


def test_a_version_4_database_keeps_the_last_deadline_its_page_showed(tmp_path):
    path = tmp_path / "v4.db"
    store = Store(path)
    store.close()
    shown, gone = NOW.isoformat(), (NOW - dt.timedelta(days=2)).isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("alter table orders drop column next_due")
        conn.execute("alter table orders drop column judged_with")
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
    store = Store(path)
    (order,) = store.orders()
    assert order.deadlines["ship_by"].site == NOW and order.deadlines["ship_by"].episode == 2
    assert order.deadlines["pay_by"].site is None and order.deadlines["pay_by"].last_shown == NOW - dt.timedelta(days=2)
    assert order.deadline("pay_by") is None  # remembered, no longer a deadline
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
        Store(path)
    assert path.read_bytes() == before


def test_read_commands_need_an_existing_database(tmp_path):
    with pytest.raises(StoreError, match="no database"):
        Store.existing(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_the_read_only_commands_open_it_read_only_and_never_migrate(tmp_path):
    path = tmp_path / "ordermon.db"
    Store(path).close()
    store = Store.existing(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.db.execute("create table mine (x)")
    store.close()
    old = sqlite_file(tmp_path / "old.db", V1_SCHEMA)
    before = old.read_bytes()
    with pytest.raises(StoreError, match="older ordermon"):
        Store.existing(old)
    assert old.read_bytes() == before


def test_a_database_of_another_program_is_refused_untouched(tmp_path):
    path = sqlite_file(tmp_path / "other-app.db", "create table notes (text)")
    before = path.read_bytes()
    for open_it in (Store, Store.existing):
        with pytest.raises(StoreError, match="not an ordermon database"):
            open_it(path)
    assert path.read_bytes() == before and {p.name for p in tmp_path.iterdir()} == {"other-app.db"}


def test_two_connections_write_in_turn_without_database_is_locked(tmp_path):
    """The monitor's poll thread and delivery thread each have a connection: a write waits for the
    other's (BEGIN IMMEDIATE) instead of failing with "database is locked"."""
    path = tmp_path / "ordermon.db"
    Store(path).close()
    errors, until = [], time.monotonic() + 2

    def poll() -> None:
        store = Store(path)
        while time.monotonic() < until:
            try:
                store.record_failure("a", started=NOW, error="x", findings=[], targets=[])
            except sqlite3.OperationalError as exc:
                errors.append(str(exc))
        store.close()

    def deliver() -> None:
        store = Store(path)
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
    assert Store.existing(path).outage("a")["failures"] > 0
