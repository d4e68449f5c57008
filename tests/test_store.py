"""The store's contract, one suite for every store (SQLite, PostgreSQL): polls, history, outages,
alerts once per episode, digests, the outbox's transitions and its crash path, the views."""

import datetime as dt

import pytest

from monitor.order import COLUMNS, JSON_COLUMNS, Change, Order
from monitor.rules import Finding
from monitor.store import PostgresStore, Routed, SqliteStore, everywhere, open_store

NOW = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
TARGETS = [("t1", "json://receiver-1"), ("t2", "json://receiver-2")]


@pytest.fixture
def target(store_target) -> str:
    return store_target


@pytest.fixture
def store(target):
    store = open_store(target)
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
        route=everywhere(TARGETS),
    )


def test_a_poll_writes_orders_history_alerts_and_one_delivery_per_target(store):
    change = Change("a", "8100000000001234", NOW, None, "closed", None, "pending", None)
    created = record(store, [finding()], [order_row()], [change])
    assert [a.message for a in created] == [finding().message]
    known = store.known("a")
    assert known.order("8100000000001234") == order_row()  # the typed order, as it was written
    assert [h["status_to"] for h in store.history("8100000000001234")] == ["closed"]
    assert known.alerted == {("8100000000001234", "refund_overdue", "", "refund_expected_by:0"): NOW}  # when, site time
    assert [d["state"] for d in store.deliveries(created[0].id)] == ["pending", "pending"]
    assert store.counts() == {"orders": 1, "history": 1, "polls": 1, "alerts": 1, "deliveries": 2}
    assert store.site_now("a") == NOW


@pytest.mark.parametrize("asked", [3, 550])  # a few orders by id; most of them (a first poll): one scan
def test_a_glance_at_every_order_and_full_rows_only_of_those_asked_for(store, asked):
    orders = [order_row(f"81000000000{n:05}", status="awaiting_shipment") for n in range(600)]
    record(store, orders=orders)
    record(store, orders=[order_row("8100000000099999")])  # a later poll's order
    known = store.known("a")
    assert len(known.rows) == 601 and known.glance(orders[0].order_id).listed[0] == "awaiting_shipment"
    wanted = [o.order_id for o in orders[:asked]] + ["8100000000077777"]  # one never stored
    stored = known.stored(wanted)
    assert sorted(stored) == wanted[:-1]
    assert known.typed(stored[orders[1].order_id]) == orders[1] and known.stored([]) == {}


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
        route=everywhere(TARGETS),
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
        route=everywhere(TARGETS),
        digest_over=5,
    )
    assert (
        len(created) == 7 and len(store.due_deliveries(dt.datetime.now(dt.UTC))) == 2
    )  # one per target, for all seven
    assert [a["order_id"] for a in store.carried(created[0].id, "t1")] == [f.order_id for f in many]
    store.mark_sending(created[0].id, "t1", attempts=1)
    store.mark_delivered(created[0].id, "t1")
    # Every alert shows the state of the notification that carries it, to each target.
    states = [sorted(a["states"].split(",")) for a in store.alerts()]
    assert states == [["delivered", "pending"]] + [["carried", "delivered"]] * 6
    few = store.record_poll(
        "a",
        started=NOW,
        site_now=NOW,
        orders_seen=1,
        details_read=1,
        orders=[],
        changes=[],
        findings=[finding(order_id="8100000000009999")],
        route=everywhere(TARGETS),
        digest_over=5,
    )
    assert len(store.deliveries(few[0].id)) == 2


QUIET_END = NOW + dt.timedelta(hours=8)
FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def phone_now_mail_later(account, finding, now):
    """t1 gets every alert at once; t2 (an e-mail) only once the quiet hours end."""
    return [Routed("t1", "phone", None), Routed("t2", "mail", QUIET_END)]


def poll_at(store, site_now, findings=(), route=phone_now_mail_later):
    return store.record_poll(
        "a", started=site_now, site_now=site_now, orders_seen=0, details_read=0, orders=[], changes=[],
        findings=list(findings), route=route,
    )  # fmt: skip


def test_held_deliveries_wait_for_a_poll_at_the_end_of_the_quiet_hours_then_go_as_one_per_target(target):
    store = open_store(target)
    created = poll_at(store, NOW, [finding(order_id=f"81000000000012{n:02}") for n in range(3)])
    assert [d["target"] for d in store.due_deliveries(FAR)] == ["t1"] * 3  # the phone's at once, one by one
    assert {d["state"] for d in store.deliveries() if d["target"] == "t2"} == {"held"}
    store.close()  # a restart inside the quiet hours
    store = open_store(target)
    assert store.recover_deliveries(["t1", "t2"]) == {"uncertain": 0, "dropped": 0}
    poll_at(store, QUIET_END - dt.timedelta(seconds=1))
    assert [d["target"] for d in store.due_deliveries(FAR)] == ["t1"] * 3  # still held, on the site's clock
    poll_at(store, QUIET_END)
    (mail,) = [d for d in store.due_deliveries(FAR) if d["target"] == "t2"]
    assert (mail["alert_id"], mail["carries"]) == (created[0].id, 2)
    assert [a["id"] for a in store.carried(created[0].id, "t2")] == [a.id for a in created]
    poll_at(store, QUIET_END + dt.timedelta(hours=1))
    assert len(store.due_deliveries(FAR)) == 4  # released once
    store.mark_sending(created[0].id, "t2", attempts=1)
    store.mark_failed(created[0].id, "t2", "HTTP 500", retry_at=NOW)
    assert {d["alert_id"]: d["state"] for d in store.deliveries() if d["target"] == "t2"} == {
        created[0].id: "pending",
        created[1].id: "carried",
        created[2].id: "carried",
    }
    store.mark_sending(created[0].id, "t2", attempts=2)
    store.mark_delivered(created[0].id, "t2")
    assert {d["state"] for d in store.deliveries() if d["target"] == "t2"} == {"delivered"}
    store.close()


def test_a_polls_reminders_to_one_target_go_as_one_digest_its_new_alerts_one_by_one(store):
    reminders = [finding(order_id=f"81000000000012{n:02}", level="reminder 2") for n in range(2)]
    created = record(store, [finding(order_id="8100000000009999"), *reminders])
    due = store.due_deliveries(FAR)
    assert [(d["alert_id"], d["carries"]) for d in due if d["target"] == "t1"] == [
        (created[0].id, 0),
        (created[1].id, 1),
    ]
    one = record(store, [finding(order_id="8100000000009999", level="reminder 3")])
    assert [d["state"] for d in store.deliveries(one[0].id)] == ["pending", "pending"]  # a lone reminder: itself
    store.mark_sending(created[1].id, "t1", attempts=8)
    store.mark_failed(created[1].id, "t1", "HTTP 500", retry_at=None)  # given up: what it carries too
    assert [d["state"] for d in store.deliveries() if d["target"] == "t1" and d["alert_id"] != one[0].id] == [
        "pending",
        "failed",
        "failed",
    ]


def test_a_failed_poll_after_the_quiet_hours_releases_what_they_held(store):
    poll_at(store, NOW, [finding()])
    store.record_failure(
        "a", started=QUIET_END - dt.timedelta(seconds=1), error="down", findings=[], route=everywhere([])
    )
    assert [d["target"] for d in store.due_deliveries(FAR)] == ["t1"]
    store.record_failure("a", started=QUIET_END, error="down", findings=[], route=everywhere([]))
    assert [d["target"] for d in store.due_deliveries(FAR)] == ["t1", "t2"]


def test_held_deliveries_to_a_target_no_longer_configured_are_dropped(store):
    poll_at(store, NOW, [finding()])
    assert store.recover_deliveries(["t1"]) == {"uncertain": 0, "dropped": 1}
    poll_at(store, QUIET_END)
    assert [d["target"] for d in store.due_deliveries(FAR)] == ["t1"]


def test_failures_grow_an_outage_that_a_recorded_poll_ends(store):
    store.record_failure("a", started=NOW, error="down", findings=[], route=everywhere(TARGETS))
    store.record_failure(
        "a", started=NOW, error="still down", findings=[finding("", "monitor_failing")], route=everywhere(TARGETS)
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


def test_pending_deliveries_to_targets_no_longer_configured_are_dropped(store):
    (alert,) = record(store, [finding()])
    assert store.recover_deliveries(["t2"]) == {"uncertain": 0, "dropped": 1}
    assert {d["target"]: d["state"] for d in store.deliveries(alert.id)} == {"t1": "dropped", "t2": "pending"}


def test_a_delivery_left_sending_by_a_crash_becomes_uncertain_and_is_never_resent(target):
    store = open_store(target)
    (alert,) = record(store, [finding()])
    store.mark_sending(alert.id, "t1", attempts=1)
    store.close()  # the process dies here: Apprise may or may not have delivered

    reopened = open_store(target)
    assert reopened.recover_deliveries(["t1", "t2"]) == {"uncertain": 1, "dropped": 0}
    states = {d["target"]: d["state"] for d in reopened.deliveries(alert.id)}
    assert states == {"t1": "uncertain", "t2": "pending"}
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    assert [d["target"] for d in reopened.due_deliveries(far)] == ["t2"]
    assert reopened.recover_deliveries(["t1", "t2"]) == {"uncertain": 0, "dropped": 0}
    reopened.close()


def test_no_target_configured_drops_every_pending_delivery(store):
    record(store, [finding()])
    assert store.recover_deliveries([]) == {"uncertain": 0, "dropped": 2}


def test_the_views_name_each_account_apart(store):
    change = Change("a", "8100000000001234", NOW, None, "closed", None, "pending", None)
    record(store, [finding()], [order_row()], [change])
    store.record_poll("b", started=NOW, site_now=NOW + dt.timedelta(hours=1), orders_seen=0, details_read=0,
                      orders=[], changes=[], findings=[], route=everywhere(TARGETS))  # fmt: skip
    assert [o.order_id for o in store.orders("a")] == ["8100000000001234"] and store.orders("b") == []
    assert (store.site_now("a"), store.site_now("b"), store.site_now("c")) == (NOW, NOW + dt.timedelta(hours=1), None)
    assert [h["account"] for h in store.history("8100000000001234", "a")] == ["a"]
    assert store.history("8100000000001234", "b") == []
    health = {row["account"]: row for row in store.poll_health()}
    assert set(health) == {"a", "b"} and health["a"]["outage_since"] is None and health["a"]["last_success"]
    assert store.counts("b") == {"orders": 0, "history": 0, "polls": 1, "alerts": 0, "deliveries": 0}
    (alert,) = store.alerts("a")
    assert (alert["targets"], alert["delivered_to"], alert["states"]) == (2, 0, "pending,pending")
    store.forget_account("a")
    assert store.counts("a") == dict.fromkeys(["orders", "history", "polls", "alerts", "deliveries"], 0)
    assert store.counts("b")["polls"] == 1


def test_an_order_is_written_and_read_back_as_the_model(store):
    order = Order.model_validate(
        {"account": "a", "order_id": "1", "status": "awaiting_delivery", "total": "19.90", "order_date": "2026-11-20",
         "shipped_at": NOW, "timeline": [[NOW, "shipped"]], "deadlines": {"protection_ends": {"site": NOW}}}
    )  # fmt: skip
    record(store, orders=[order])
    assert store.orders() == [order] and store.known("a").order("1") == order
    changed = order.model_copy(update={"store": "Renamed"})
    record(store, orders=[changed])
    assert store.orders() == [changed]


def test_the_orders_table_has_a_column_for_every_field_of_the_order_model(store):
    assert _columns(store, "orders") == set(COLUMNS)
    assert {"deadlines", "timeline"} <= JSON_COLUMNS


def _columns(store, table: str) -> set[str]:
    if isinstance(store, SqliteStore):
        return {column.name for column in store.db.table(table).columns}
    assert isinstance(store, PostgresStore)
    rows = store.conn.execute("select column_name from information_schema.columns where table_name = %s", [table])
    return {row[0] for row in rows}


def test_the_stamp_changes_with_every_change_a_view_shows_and_only_then(store):
    empty = store.stamp()
    assert store.stamp() == empty
    created = record(store, [finding()], [order_row()])
    polled = store.stamp()
    assert polled != empty and store.stamp() == polled
    seen = [polled]
    alert_id, target = created[0].id, TARGETS[0][0]
    for step in (
        lambda: store.mark_sending(alert_id, target, 1),
        lambda: store.mark_failed(alert_id, target, "refused", retry_at=NOW),  # tried again later
        lambda: store.mark_sending(alert_id, target, 2),
        lambda: store.mark_delivered(alert_id, target),
        lambda: store.mark_sending(alert_id, TARGETS[1][0], 1),
        lambda: store.mark_uncertain(alert_id, TARGETS[1][0]),
        lambda: record(store),  # a poll that changed nothing is still a poll (its time)
        lambda: store.add_account("b", storefront_url="http://shop.example", email="b@example.com",
                                  password="sealed", windows="{}"),  # a fleet's account: its windows, its health
        lambda: store.remove_account("b"),
        lambda: store.forget_account("a"),
    ):  # fmt: skip
        step()
        assert store.stamp() != seen[-1]  # (a step may bring back an earlier state: remove_account)
        seen.append(store.stamp())
