"""The fault campaign's oracle: which alerts a monitor owed the buyer, from the storefront's own record.

It imports nothing of ordermon's: the storefront's admin state says what every order's page
showed from which moment on ("pages": status, refund status, deadlines) and what happened to it
("timeline"); the monitor's database says only *when* it looked (its successful polls' site
time) and which deliveries it marked uncertain; the receiver says what arrived. The alert-worthy
situations are docs/domain.md's ("What a buyer wants to be told"), in this file's own words, with
the windows the campaign gives the monitor (``WINDOWS``). An alert is owed for every situation
that held at a moment the monitor looked: once per order, situation and warning level (or event).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict


class Windows(TypedDict):
    """The monitor's windows, in ORDERMON_*'s units (minutes, days)."""

    grace_minutes: int
    recent_days: int
    unpaid_warning_days: int
    protection_warning_days: tuple[int, ...]


#: The windows the campaign sets on the monitor (ORDERMON_*), so both sides count alike.
WINDOWS: Windows = {
    "grace_minutes": 60,
    "recent_days": 7,
    "unpaid_warning_days": 2,
    "protection_warning_days": (14, 7, 3),
}

#: Situation -> the title a buyer gets for it (what the receiver shows).
TITLES = {
    "no_answer": "Seller hasn't answered your cancellation",
    "not_shipped": "Seller hasn't shipped in time",
    "refund_late": "Refund hasn't arrived",
    "protection_ending": "Buyer protection ends soon",
    "payment_stuck": "Payment still not verified",
    "unpaid_closing": "Unpaid order closes soon",
    "refused": "Seller refused your cancellation",
    "shipped_anyway": "Order shipped while you were cancelling",
    "parcel_late": "Parcel is late",
    "dispute_closing": "Last days to open a dispute",
    "refund_arrived": "Refund arrived",
}
HEALTH = ("ordermon can't read your orders", "ordermon reads your orders again")  # about ordermon, not an order
#: Overdue situations: (status the order is still in, or None for any; the deadline that passed).
OVERDUE = {
    "no_answer": ("awaiting_cancellation", "seller_response_by"),
    "not_shipped": ("awaiting_shipment", "ship_by"),
    "payment_stuck": ("payment_verifying", "verification_by"),
    "parcel_late": ("awaiting_delivery", "delivery_expected_by"),
    "refund_late": (None, "refund_expected_by"),
}
ALERT_ID = re.compile(r"\(ordermon alert #(\d+)\)\s*$")
TITLE = re.compile(r"^(?P<title>.+?) \N{EM DASH} order (?P<order>\d+)$")
LEVEL = re.compile(r"ends within (\d+) days")


def _t(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _at(text: str) -> dt.datetime:
    """A moment the record always has (a page's start, an event's, a deadline, a poll's site time)."""
    return dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class Page:
    since: dt.datetime
    status: str
    refund: str
    deadlines: dict[str, str]  # name -> ISO moment


def _page_at(pages: list[Page], at: dt.datetime) -> Page | None:
    shown = [p for p in pages if p.since <= at]
    return shown[-1] if shown else None


def owed_at(order: dict, pages: list[Page], at: dt.datetime) -> set[tuple]:
    """The alerts a monitor looking at ``at`` owes for this order: (order, situation, detail)."""
    page = _page_at(pages, at)
    if page is None:
        return set()
    w, oid, d = WINDOWS, order["id"], {k: _at(v) for k, v in page.deadlines.items()}
    grace, recent = dt.timedelta(minutes=w["grace_minutes"]), dt.timedelta(days=w["recent_days"])
    owed: set[tuple] = set()
    for situation, (status, deadline) in OVERDUE.items():
        if (
            deadline in d
            and (status is None or page.status == status)
            and at >= d[deadline] + grace
            and (situation != "refund_late" or page.refund == "pending")
        ):
            owed.add((oid, situation, ""))
    ends = d.get("protection_ends")
    if page.status == "awaiting_delivery" and ends and at < ends:
        reached = [days for days in w["protection_warning_days"] if at >= ends - dt.timedelta(days=days)]
        if reached:
            owed.add((oid, "protection_ending", str(min(reached))))
    pay_by = d.get("pay_by")
    if (
        page.status == "awaiting_payment"
        and pay_by
        and pay_by - dt.timedelta(days=w["unpaid_warning_days"]) <= at < pay_by
    ):
        owed.add((oid, "unpaid_closing", ""))
    closes = d.get("dispute_closes")
    if page.status == "completed" and order.get("completed_by") == "protection_ended" and closes and at < closes:
        owed.add((oid, "dispute_closing", ""))
    events = [(_at(e["at"]), e["kind"]) for e in order["timeline"] if _at(e["at"]) <= at]
    if page.status in ("awaiting_shipment", "awaiting_delivery"):
        owed |= {(oid, "refused", t.isoformat()) for t, k in events if k == "cancel_refused" and at - t <= recent}
    if page.status == "awaiting_delivery":
        for shipped, kind in events:
            if kind != "shipped" or at - shipped > recent:
                continue
            asked = [t for t, k in events if k == "cancel_requested" and t <= shipped]
            refused = [t for t, k in events if k == "cancel_refused"]
            if asked and not any(asked[-1] <= t <= shipped for t in refused):
                owed.add((oid, "shipped_anyway", shipped.isoformat()))
    refunded = _t(order.get("refunded_at"))
    if page.refund == "completed" and refunded and at - refunded <= recent:
        owed.add((oid, "refund_arrived", refunded.isoformat()))
    return owed


Db = Path | str  # the monitor's database: a SQLite file, or a postgresql:// URL (the fleet's)


def rows(db: Db, sql: str, *params) -> list[tuple]:
    """``sql`` (``?`` placeholders) read from the monitor's database, read-only."""
    if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def looked(db: Db) -> dict[str, list[dt.datetime]]:
    """Per account, the site times at which the monitor completed a poll of it (its database)."""
    found: dict[str, set[dt.datetime]] = {}
    for account, at in rows(db, "select account, site_now from polls where error is null and site_now is not null"):
        found.setdefault(account, set()).add(_at(at))
    return {account: sorted(moments) for account, moments in found.items()}


def polls_in(db: Db) -> int:
    """How many polls the monitor has recorded, failed ones included (its database)."""
    return rows(db, "select count(*) from polls")[0][0]


def deliveries_in(db: Db, state: str) -> list[tuple[int, str, str, str]]:
    """(alert id, target, order, title) of every delivery in ``state`` (the monitor's outbox)."""
    return rows(
        db,
        "select d.alert_id, d.target, a.order_id, a.title from deliveries d "
        "join alerts a on a.id = d.alert_id where d.state = ?",
        state,
    )


def _moments_of(moments: dict[str, list[dt.datetime]], order: dict, owner: Callable[[dict], str] | None):
    """When the monitor looked at the account that holds ``order``: that account's polls (every
    poll's, for one account's monitor)."""
    if owner is None:
        return sorted({at for each in moments.values() for at in each})
    return moments.get(owner(order), [])


def _received_key(item: dict) -> tuple | None:
    """(order, situation, level) of a notification; None for one about ordermon itself."""
    title = item.get("title") or ""
    if title in HEALTH:
        return None
    found = TITLE.match(title)
    situation = next((s for s, words in TITLES.items() if found and found["title"] == words), "unknown")
    level = LEVEL.search(item.get("message") or "")
    return (
        found["order"] if found else title,
        situation,
        level.group(1) if situation == "protection_ending" and level else "",
    )


def judge(orders: list[dict], db: Db, received: list[dict], owner: Callable[[dict], str] | None = None) -> dict:
    """missed, false, duplicate and uncertain deliveries, and the states the monitor lost.
    ``owner``: the account (as the database names it) of an order, where the monitor has several."""
    moments = looked(db)
    owed: set[tuple] = set()
    for order in orders:
        pages = [Page(_at(p["from"]), p["status"], p["refund_status"], p["deadlines"]) for p in order["pages"]]
        for at in _moments_of(moments, order, owner):
            owed |= owed_at(order, pages, at)
    # An alert is one per order, situation and level (an event's alerts: one per event).
    wanted = Counter((o, s, lvl if s == "protection_ending" else "") for o, s, lvl in owed)
    got = Counter(k for k in map(_received_key, received) if k is not None)
    unsure: Counter[tuple[str, str]] = Counter()
    titles = {words: s for s, words in TITLES.items()}
    for _, _, order_id, title in deliveries_in(db, "uncertain"):
        unsure[(order_id, titles.get(title, "unknown"))] += 1
    ids = Counter(m.group(1) for item in received if (m := ALERT_ID.search(item.get("message") or "")))
    missed = wanted - got
    missed = Counter({k: n for k, n in missed.items() if unsure[k[:2]] == 0})
    return {
        "alerts_owed": sum(wanted.values()),
        "missed_alerts": sum(missed.values()),
        "false_alerts": sum((got - wanted).values()),
        "duplicate_deliveries": sum(n - 1 for n in ids.values() if n > 1),
        "uncertain_deliveries": sum(unsure.values()),
        "health_alerts": sum(1 for item in received if item.get("title") in HEALTH),
        "examples": {"missed": sorted(missed)[:5], "false": sorted(got - wanted)[:5]},
        "moments": moments,
    }


def lost_states(
    orders: list[dict],
    db: Db,
    moments: dict[str, list[dt.datetime]],
    owner: Callable[[dict], str] | None = None,
    why: dict[str, dict] | None = None,
) -> list[str]:
    """Orders whose recorded history is not what the site showed at the moments the monitor looked:
    a status (or refund status) the page showed at one of them and the history lacks, or one it
    records that the page never showed then, or a last state other than the site's. ``why``, if
    given, gets each such order's states: seen, recorded, last recorded, and the site's."""
    history = rows(db, "select order_id, status_to, refund_to from history order by id")
    last = {o: (s, r) for o, s, r in rows(db, "select order_id, status, refund_status from orders")}
    recorded: dict[str, list] = {}
    for order_id, status, refund in history:
        recorded.setdefault(order_id, []).append((status, refund))
    lost = []
    for order in orders:
        pages = [Page(_at(p["from"]), p["status"], p["refund_status"], p["deadlines"]) for p in order["pages"]]
        seen: list[tuple[str, str]] = []
        for at in _moments_of(moments, order, owner):
            page = _page_at(pages, at)
            if page and (not seen or seen[-1] != (page.status, page.refund)):
                seen.append((page.status, page.refund))
        if recorded.get(order["id"], []) != seen or last.get(order["id"]) != (order["status"], order["refund_status"]):
            lost.append(order["id"])
            if why is not None:
                why[order["id"]] = {
                    "seen": seen, "recorded": recorded.get(order["id"], []), "last": last.get(order["id"]),
                    "site": (order["status"], order["refund_status"]),
                    "pages": [(str(p.since), p.status, p.refund) for p in pages],
                    "looked": [str(at) for at in _moments_of(moments, order, owner)],
                }  # fmt: skip
    return lost
