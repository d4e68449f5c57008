"""The fault campaign's oracle on lost states (bench/oracle.py), on a recorded history it is given:
the site's clock has whole seconds, so a look in the second of a change may have come before it."""

import datetime as dt
import sqlite3
from contextlib import closing

import pytest

from bench.oracle import lost_states

T = "2026-12-07T19:00:00+00:00"
LATER = "2026-12-07T19:00:01+00:00"
MID = "2026-12-07T20:00:00+00:00"
AGAIN = "2026-12-08T05:00:00+00:00"
PAYING, SHIPPING, CANCELLING = (
    ("awaiting_payment", "none"),
    ("awaiting_shipment", "none"),
    ("awaiting_cancellation", "none"),
)


def order(*pages: tuple[str, tuple[str, str]]) -> dict:
    """An order of the storefront's record: its pages (since, state); the site shows the last."""
    status, refund = pages[-1][1]
    shown = [{"from": at, "status": s, "refund_status": r, "deadlines": {}} for at, (s, r) in pages]
    return {"id": "1", "account": "a", "status": status, "refund_status": refund, "pages": shown}


def judged(tmp_path, site: dict, recorded: list[tuple[str, str]], looks: list[str]) -> list[str]:
    db = tmp_path / "monitor.db"
    db.unlink(missing_ok=True)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("create table history (id integer primary key, order_id, status_to, refund_to)")
        conn.execute("create table orders (order_id, status, refund_status)")
        conn.executemany("insert into history (order_id, status_to, refund_to) values ('1', ?, ?)", recorded)
        if recorded:
            conn.execute("insert into orders values ('1', ?, ?)", recorded[-1])
    return lost_states([site], db, {"a": [dt.datetime.fromisoformat(at) for at in looks]})


# A Submit held by the site lands in the second a poll read the list: the poll came before it or after.
SAME_SECOND = order((T, SHIPPING), (T, CANCELLING))


@pytest.mark.parametrize(
    "recorded",
    [[SHIPPING, CANCELLING], [CANCELLING]],
    ids=["looked before the change", "looked after it"],
)
def test_a_look_in_the_second_of_a_change_may_have_come_before_it(tmp_path, recorded):
    assert judged(tmp_path, SAME_SECOND, recorded, [T, AGAIN]) == []


ONE_SECOND_ON = order((T, SHIPPING), (LATER, CANCELLING))


@pytest.mark.parametrize(
    "site, recorded, looks",
    [
        (ONE_SECOND_ON, [SHIPPING], [T, MID]),  # after the second of the change: cancelling only
        (ONE_SECOND_ON, [SHIPPING, CANCELLING], [MID, AGAIN]),  # a state no longer shown when it looked
        (SAME_SECOND, [CANCELLING, SHIPPING, CANCELLING], [T, AGAIN]),  # back to an older page
        (SAME_SECOND, [SHIPPING], [T, AGAIN]),  # the change missed by the later look
        # In the second of a change, the page shown before it at most: not one from an earlier second.
        (order((T, PAYING), (LATER, SHIPPING), (MID, CANCELLING)), [PAYING, CANCELLING], [MID, AGAIN]),
        (SAME_SECOND, [SHIPPING, SHIPPING, CANCELLING], [T, AGAIN]),  # a state recorded twice
    ],
)
def test_what_no_look_could_have_found_is_lost(tmp_path, site, recorded, looks):
    assert judged(tmp_path, site, recorded, looks) == ["1"]


def test_a_page_skipped_between_looks_is_lost(tmp_path):
    site = order((T, SHIPPING), (LATER, CANCELLING), (AGAIN, ("closed", "pending")))
    assert judged(tmp_path, site, [SHIPPING, ("closed", "pending")], [T, MID, AGAIN]) == ["1"]
    assert judged(tmp_path, site, [SHIPPING, CANCELLING, ("closed", "pending")], [T, MID, AGAIN]) == []
