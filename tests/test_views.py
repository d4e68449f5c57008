"""The views judge as the rules do: `status --json`, the report's rows and its summary agree with
``rules.evaluate`` on orders in every status; a window's start is never overdue, and a deadline
that no longer binds is never the next one."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from conftest import clean_env, facts

from flows.domain import Status
from monitor import html_report, rules
from monitor.cli import cli
from monitor.facts import with_computed
from monitor.rules import Attention
from monitor.store import SqliteStore, everywhere
from monitor.views import status_rows
from monitor.windows import RuleConfig

NOW = dt.datetime(2026, 12, 21, 10, tzinfo=dt.UTC)  # a Monday
D, H = dt.timedelta(days=1), dt.timedelta(hours=1)
CONFIG = RuleConfig()

#: name: (the order's facts, what it needs now, its next deadline)
ORDERS = {
    "unpaid, closing": (
        dict(status=Status.AWAITING_PAYMENT, placed_at=NOW - 19 * D),
        Attention.WARNING,
        "pay_by",
    ),
    "unpaid, fresh": (dict(status=Status.AWAITING_PAYMENT, placed_at=NOW - D), Attention.NONE, "pay_by"),
    "payment stuck": (dict(status=Status.PAYMENT_VERIFYING, paid_at=NOW - 3 * D), Attention.OVERDUE, "verification_by"),
    "seller never shipped": (dict(status=Status.AWAITING_SHIPMENT, paid_at=NOW - 20 * D), Attention.OVERDUE, "ship_by"),
    "paid yesterday": (dict(status=Status.AWAITING_SHIPMENT, paid_at=NOW - D), Attention.NONE, "ship_by"),
    # Ship by is sooner, but the seller's answer is what the buyer waits for.
    "cancellation unanswered": (
        dict(status=Status.AWAITING_CANCELLATION, paid_at=NOW - 6 * D, cancel_requested_at=NOW - 4 * D),
        Attention.OVERDUE,
        "seller_response_by",
    ),
    "cancellation asked": (
        dict(status=Status.AWAITING_CANCELLATION, paid_at=NOW - 9 * D, cancel_requested_at=NOW - H),
        Attention.NONE,
        "seller_response_by",
    ),
    # A dispute could be opened from day 11: a window that opened, nothing overdue.
    "on its way": (dict(status=Status.AWAITING_DELIVERY, shipped_at=NOW - 20 * D), Attention.NONE, "protection_ends"),
    "late premium parcel": (
        dict(status=Status.AWAITING_DELIVERY, shipped_at=NOW - 30 * D, shipping_method="premium"),
        Attention.OVERDUE,
        "delivery_expected_by",
    ),
    "protection ending": (
        dict(status=Status.AWAITING_DELIVERY, shipped_at=NOW - 55 * D),
        Attention.WARNING,  # five days left; its Standard estimate (45 business days) is later still
        "protection_ends",
    ),
    "completed by the protection": (
        dict(status=Status.COMPLETED, completed_at=NOW - 2 * D, completed_by="protection_ended"),
        Attention.WARNING,
        "dispute_closes",
    ),
    "received": (
        dict(status=Status.COMPLETED, completed_at=NOW - 2 * D, completed_by="buyer_confirmed"),
        Attention.NONE,
        None,
    ),
    "refund stuck": (
        dict(status=Status.CLOSED, refund_status="pending", refund_started_at=NOW - 40 * D),
        Attention.OVERDUE,
        "refund_expected_by",
    ),
    "refunded": (
        dict(
            status=Status.CLOSED,
            refund_status="completed",
            refund_started_at=NOW - 10 * D,
            refunded_at=NOW - D,
            site_deadlines={"refund_expected_by": NOW + 5 * D},
        ),
        Attention.NONE,
        None,
    ),
    "in dispute": (dict(status=Status.DISPUTE, shipped_at=NOW - 20 * D), Attention.NONE, None),
}
IDS = {name: f"81000000000{index:05d}" for index, name in enumerate(ORDERS)}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("views") / "ordermon.db"
    store = SqliteStore(path)
    orders = []
    for name, (known, _, _) in ORDERS.items():
        order = facts(IDS[name], store="Shop", total=Decimal("10.00"), currency="USD", **known)
        orders.append(with_computed(order.model_copy(update={"account": "a", "status_label": name}), CONFIG))
    rows = [o.row() for o in orders]
    store.record_poll(
        "a", started=NOW, site_now=NOW, orders_seen=len(rows), details_read=0, orders=rows, changes=[], findings=[],
        route=everywhere([]),
    )  # fmt: skip
    store.close()
    return path


def judged_by_the_rules(db) -> dict[str, Attention]:
    store = SqliteStore.existing(db)
    try:
        return {o.order_id: rules.attention(rules.evaluate(o, NOW, CONFIG)) for o in store.orders()}
    finally:
        store.close()


def test_each_order_needs_what_its_rules_say_and_its_next_deadline_binds(db):
    store = SqliteStore.existing(db)
    rows = {row["order_id"]: row for row in status_rows(store)}
    store.close()
    by_rules = judged_by_the_rules(db)
    for name, (_, needs, next_deadline) in ORDERS.items():
        row = rows[IDS[name]]
        assert row["attention"] == by_rules[IDS[name]] == needs, name
        assert row["overdue"] is (needs is Attention.OVERDUE), name
        assert row["next_deadline_name"] == next_deadline, name
        assert bool(row["attention_rules"]) is (needs is not Attention.NONE), name


def test_a_window_that_opened_is_open_not_overdue(db):
    store = SqliteStore.existing(db)
    row = next(r for r in status_rows(store) if r["order_id"] == IDS["on its way"])
    store.close()
    opens = row["deadlines"]["dispute_opens"]
    assert (opens["kind"], opens["overdue"], opens["binds"]) == ("window_start", False, False)
    assert opens["state"].startswith("open since ")
    assert not any(d["overdue"] for d in row["deadlines"].values())


def test_overdue_orders_come_first_then_warnings(db):
    store = SqliteStore.existing(db)
    needs = [row["attention"] for row in status_rows(store)]
    store.close()
    ranks = [["overdue", "warning", "none"].index(n) for n in needs]
    assert ranks == sorted(ranks)


def test_status_json_the_report_and_its_summary_agree_with_the_rules(db):
    result = CliRunner().invoke(cli, ["status", "--json", "--db", str(db)], env=clean_env())
    assert result.exit_code == 0, result.output
    shown = {row["order_id"]: row["attention"] for row in json.loads(result.output)}
    by_rules = judged_by_the_rules(db)
    assert shown == {order_id: level.value for order_id, level in by_rules.items()}

    store = SqliteStore.existing(db)
    report = html_report.build(store)
    store.close()
    assert {o["order_id"]: o["attention"] for o in report["orders"]} == shown
    assert report["overdue"] == sum(1 for level in by_rules.values() if level is Attention.OVERDUE)
    assert report["attention"] == sum(1 for level in by_rules.values() if level is Attention.WARNING)
    for order in report["orders"]:
        assert all(not d["overdue"] for d in order["deadline_rows"] if d["window_start"])
