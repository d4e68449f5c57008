"""`ordermon calendar`: every deadline that binds an order is one event of a file icalendar reads
back, worded as the buyer reads it, with an alarm before it; a deadline the site moves updates its
event (same UID, newer SEQUENCE); an overdue one stays, marked; nothing else is an event."""

import datetime as dt
import stat
from decimal import Decimal

import pytest
from click.testing import CliRunner
from conftest import clean_env, facts
from icalendar import Calendar, Event

from flows.domain import Status
from monitor.cli import cli
from monitor.facts import with_computed
from monitor.ics import calendar, uid
from monitor.order import Order
from monitor.rules import RULES
from monitor.store import SqliteStore, everywhere
from monitor.views import judged_orders
from monitor.windows import RuleConfig

NOW = dt.datetime(2026, 12, 21, 10, tzinfo=dt.UTC)  # a Monday: the site's clock at the poll
D = dt.timedelta(days=1)
CONFIG = RuleConfig()
STORE = 'Lamps, Ltd; "the best" \\ more'  # the characters iCalendar text escapes
ORDERS = {
    "shipping": facts(
        "81000000000001", Status.AWAITING_SHIPMENT, paid_at=NOW - D, site_deadlines={"ship_by": NOW + 5 * D}
    ),
    "never shipped": facts("81000000000002", Status.AWAITING_SHIPMENT, paid_at=NOW - 20 * D),
    # A dispute could be opened from day 11 (a window's start); Dispute closes does not bind it yet.
    "on its way": facts("81000000000003", Status.AWAITING_DELIVERY, shipped_at=NOW - 20 * D),
    # Refund expected by no longer binds a refunded order.
    "refunded": facts(
        "81000000000004",
        Status.CLOSED,
        refund_status="completed",
        refund_started_at=NOW - 10 * D,
        refunded_at=NOW - D,
        site_deadlines={"refund_expected_by": NOW + 5 * D},
    ),
}
BINDING = {
    ("81000000000001", "ship_by"),
    ("81000000000002", "ship_by"),
    ("81000000000003", "protection_ends"),
    ("81000000000003", "delivery_expected_by"),
}


def record(store: SqliteStore, *orders: Order, at: dt.datetime = NOW) -> None:
    """A poll of account "a" that saw ``orders`` (as the views' tests record one)."""
    rows = [
        with_computed(o.model_copy(update={"account": "a", "store": STORE, "total": Decimal("10.00")}), CONFIG).row()
        for o in orders
    ]
    store.record_poll(
        "a", started=at, site_now=at, orders_seen=len(rows), details_read=0, orders=rows, changes=[], findings=[],
        route=everywhere([]),
    )  # fmt: skip


@pytest.fixture
def db(tmp_path):
    store = SqliteStore(tmp_path / "ordermon.db")
    record(store, *ORDERS.values())
    yield store
    store.close()


def built(store: SqliteStore, **options) -> dict[tuple[str, str], Event]:
    """The calendar of the store, read back by icalendar: its events by (order id, deadline)."""
    cal = Calendar.from_ical(calendar(judged_orders(store), **options))
    events = cal.walk("VEVENT")
    by_uid = {uid("a", order_id, name): (order_id, name) for order_id, name in BINDING}
    assert len({str(e["UID"]) for e in events}) == len(events)
    return {by_uid.get(str(e["UID"]), ("?", str(e["UID"]))): e for e in events}


def test_each_binding_deadline_is_one_event_and_nothing_else_is(db):
    events = built(db)
    assert set(events) == BINDING  # no window's start, no Dispute closes, no Refund expected by
    assert events["81000000000003", "protection_ends"].decoded("DTSTART") == dt.datetime(2027, 2, 1, 10, tzinfo=dt.UTC)


def test_an_event_reads_in_the_buyers_words_with_an_alarm_before_it(db):
    event = built(db)["81000000000001", "ship_by"]
    assert event.decoded("DTSTART") == NOW + 5 * D
    assert str(event["SUMMARY"]) == f"Ship by ({STORE})"
    description = str(event["DESCRIPTION"])
    assert "Order 81000000000001" in description and STORE in description and "Awaiting shipment" in description
    assert f"If it is missed: {RULES['ship_deadline_passed'].next_step}" in description
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == -D
    assert "overdue" not in [str(c) for c in event["CATEGORIES"].cats]
    for secret in (STORE, "81000000000001", "ship_by"):  # the UID names none of it
        assert secret not in str(event["UID"])


def test_an_overdue_deadline_is_still_an_event_marked_overdue(db):
    event = built(db)["81000000000002", "ship_by"]
    assert event.decoded("DTSTART") < NOW
    assert str(event["SUMMARY"]).startswith("Overdue: Ship by")
    assert "overdue" in [str(c) for c in event["CATEGORIES"].cats]
    assert f"Next step: {RULES['ship_deadline_passed'].next_step}" in str(event["DESCRIPTION"])


def test_a_deadline_the_site_moves_keeps_its_uid_with_its_new_moment_and_a_higher_sequence(db):
    judged = judged_orders(db)
    assert calendar(judged, now=NOW) == calendar(judged, now=NOW)  # one file for one moment: a server may tag it
    before = built(db, now=NOW)
    assert [str(e["UID"]) for e in built(db, now=NOW + D).values()] == [str(e["UID"]) for e in before.values()]
    # The next poll: the page shows a later Ship by, which the merge counts as the deadline's first move.
    moved = facts(
        "81000000000001", Status.AWAITING_SHIPMENT, paid_at=NOW - D, site_deadlines={"ship_by": NOW + 8 * D},
        episodes={"ship_by": 1},
    )  # fmt: skip
    record(db, moved, at=NOW + D)
    after = built(db, now=NOW + D)
    assert set(after) == set(before) == BINDING
    was, now = before["81000000000001", "ship_by"], after["81000000000001", "ship_by"]
    assert str(now["UID"]) == str(was["UID"])
    assert (was.decoded("DTSTART"), now.decoded("DTSTART")) == (NOW + 5 * D, NOW + 8 * D)
    assert now.decoded("SEQUENCE") > was.decoded("SEQUENCE")
    assert now.decoded("DTSTAMP") > was.decoded("DTSTAMP")


def test_an_order_page_is_the_events_url(db):
    events = built(db, order_url=lambda account, order_id: f"https://shop.example/detail?orderId={order_id}")
    assert (
        str(events["81000000000003", "protection_ends"]["URL"]) == "https://shop.example/detail?orderId=81000000000003"
    )
    assert "URL" not in built(db)["81000000000003", "protection_ends"]


def test_the_command_writes_the_calendar_readable_by_its_owner_only(db, tmp_path):
    out = tmp_path / "deadlines.ics"
    result = CliRunner().invoke(cli, ["calendar", "--db", str(db.path), "--out", str(out)], env=clean_env())
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out} (4 deadlines)\n"
    assert len(Calendar.from_ical(out.read_bytes()).walk("VEVENT")) == 4
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_command_replaces_a_planted_link_never_its_target(db, tmp_path, victim):
    out = tmp_path / "deadlines.ics"
    out.symlink_to(victim)
    result = CliRunner().invoke(cli, ["calendar", "--db", str(db.path), "--out", str(out)], env=clean_env())
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "the user's own file\n"
    assert not out.is_symlink() and len(Calendar.from_ical(out.read_bytes()).walk("VEVENT")) == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".deadlines")) == []  # no temporary left


def test_the_command_without_a_database(tmp_path):
    out = tmp_path / "deadlines.ics"
    result = CliRunner().invoke(
        cli, ["calendar", "--db", str(tmp_path / "none.db"), "--out", str(out)], env=clean_env()
    )
    assert result.exit_code == 7 and "no database" in result.output
    assert not out.exists()
