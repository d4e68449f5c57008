"""The fault campaign's oracle: which alerts a monitor owed the buyer, from the storefront's own record.

It imports nothing of ordermon's: the storefront's admin state says what every order's page
showed from which moment on ("pages": status, refund status, deadlines) and what happened to it
("timeline"); the monitor's database says only *when* it looked (its successful polls' site
time) and which deliveries it marked uncertain; the receiver says what arrived. The alert-worthy
situations are docs/domain.md's ("What a buyer wants to be told"), in this file's own words, with
the windows the campaign gives the monitor (``WINDOWS``). An alert is owed for every situation
that held at a moment the monitor looked: once per order, situation and warning level (or event).

The campaign also routes, holds and reminds (``ROUTES``, ``QUIET``, ``REMIND_HOURS``): what puts money
at risk now goes to the phone, the rest to the mailbox, and the mailbox's wait out the night; an
overdue situation still holding is reminded every ``REMIND_HOURS`` counted from its deadline's grace,
from the first such moment after it was first told. Each alert is owed to its one target.
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

#: The campaign's targets (the receiver's paths), the tags routes send to them, and its quiet night.
PHONE, MAILBOX = "/phone", "/mailbox"
ROUTES = {"urgent": ["phone"], "warning": ["mailbox"], "info": ["mailbox"]}
QUIET = (22, 6)  # from 22:00 to 06:00, UTC: the mailbox's alerts wait for the morning
REMIND_HOURS = 6  # often: a short campaign sees several
REMINDED = "Still open: "  # how a reminder's title begins

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
#: What wakes the buyer at night: money at risk now (and protection's last warning, ``_to``).
URGENT = {*OVERDUE, "shipped_anyway"}
ALERT_ID = re.compile(r"\(ordermon alert #(\d+)\)\s*$")
DIGEST_IDS = re.compile(r"\(ordermon alerts ((?:#\d+(?:, )?)+)\)\s*$")
TITLE = re.compile(r"^(?P<title>.+?) \N{EM DASH} order (?P<order>\d+)$")
LEVEL = re.compile(r"ends within (\d+) days")
_TITLES = "|".join(re.escape(t) for t in [*TITLES.values(), *HEALTH])
#: A digest's line: "- 8100...: Still open: Refund hasn't arrived (reminder 2); Refund expected by ..."
LINE = re.compile(rf"^- (?P<order>.+?): (?P<reminder>{REMINDED})?(?P<title>{_TITLES})(?: \((?P<level>[^()]*)\))?; ")


def quiet_until(at: dt.datetime) -> dt.datetime | None:
    """When the quiet night that holds at ``at`` ends (None: it does not hold then)."""
    start, end = QUIET
    if at.hour >= start:
        return (at + dt.timedelta(days=1)).replace(hour=end, minute=0, second=0, microsecond=0)
    if at.hour < end:
        return at.replace(hour=end, minute=0, second=0, microsecond=0)
    return None


def first_night(now: dt.datetime) -> dt.datetime:
    """The campaign's start: the next whole hour an hour into the quiet night, so that its first
    poll's alerts (a long history's) wait for the morning, and the quiet hours are tried every run."""
    start = now.replace(hour=(QUIET[0] + 1) % 24, minute=0, second=0, microsecond=0)
    return start if start > now else start + dt.timedelta(days=1)


def _to(situation: str, level: str) -> str:
    """The target an alert is owed to: the phone for what is urgent, the mailbox for the rest."""
    last = str(min(WINDOWS["protection_warning_days"]))
    return PHONE if situation in URGENT or (situation == "protection_ending" and level == last) else MAILBOX


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


def reminders_owed(order: dict, pages: list[Page], looks: list[dt.datetime]) -> set[tuple]:
    """The reminders a monitor looking at ``looks`` owes for this order: (order, situation, number).
    Reminder n of an overdue situation falls ``n * REMIND_HOURS`` after its deadline's grace ended; it
    is owed at a look where the situation still holds with that deadline, once its moment came after
    the look that first told it (a first look at a long-overdue order tells it once, then reminds)."""
    every, grace = dt.timedelta(hours=REMIND_HOURS), dt.timedelta(minutes=WINDOWS["grace_minutes"])
    told: dict[tuple[str, str], dt.datetime] = {}  # (situation, its deadline) -> the look that told it
    owed: set[tuple] = set()
    for at in looks:
        page = _page_at(pages, at)
        for oid, situation, _ in owed_at(order, pages, at):
            if situation not in OVERDUE or page is None:
                continue
            deadline = page.deadlines[OVERDUE[situation][1]]
            first = told.setdefault((situation, deadline), at)
            overdue = _at(deadline) + grace
            number = (at - overdue) // every
            if number >= 1 and overdue + number * every > first:
                owed.add((oid, situation, number))
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


def told(item: dict) -> list[tuple[str, str, str]]:
    """What one notification tells, per alert: (order or account, situation, level). A situation
    is "health" for an alert about ordermon itself, "reminder:<situation>" for a reminder (its
    number left out: the oracle counts them), "unknown" for a title it does not know."""
    title, message = item.get("title") or "", item.get("message") or ""
    if DIGEST_IDS.search(message):  # a digest: one line per alert
        found = []
        for line in message.splitlines():
            if not line.startswith("- "):
                continue
            m = LINE.match(line)
            if m is None:
                found.append((line, "unknown", ""))
            elif m["title"] in HEALTH:
                found.append((m["order"], "health", ""))
            else:
                found.append(_situation(m["order"], m["title"], m["level"] or "", bool(m["reminder"])))
        return found
    if title in HEALTH:
        return [(title, "health", "")]
    m = TITLE.match(title)
    if m is None:
        return [(title, "unknown", "")]
    level = LEVEL.search(message)
    words = m["title"].removeprefix(REMINDED)
    return [_situation(m["order"], words, f"{level.group(1)}d" if level else "", words != m["title"])]


def _situation(order: str, title: str, level: str, reminder: bool) -> tuple[str, str, str]:
    situation = next((s for s, words in TITLES.items() if words == title), "unknown")
    if reminder:
        return (order, f"reminder:{situation}", "")
    return (order, situation, level.removesuffix("d") if situation == "protection_ending" else "")


def alert_ids(item: dict) -> list[str]:
    """The ids of the alerts a notification carries (a digest carries several)."""
    message = item.get("message") or ""
    if m := DIGEST_IDS.search(message):
        return re.findall(r"#(\d+)", m.group(1))
    return [m.group(1)] if (m := ALERT_ID.search(message)) else []


def judge(
    orders: list[dict], db: Db, received: list[tuple[str, dict]], owner: Callable[[dict], str] | None = None
) -> dict:
    """missed, false, duplicate and uncertain deliveries, and the states the monitor lost.
    ``received``: (the path it was posted to, the notification) of everything the receiver took;
    ``owner``: the account (as the database names it) of an order, where the monitor has several."""
    moments = looked(db)
    owed: set[tuple] = set()
    reminded: Counter[tuple] = Counter()
    for order in orders:
        pages = [Page(_at(p["from"]), p["status"], p["refund_status"], p["deadlines"]) for p in order["pages"]]
        looks = _moments_of(moments, order, owner)
        for at in looks:
            owed |= owed_at(order, pages, at)
        for oid, situation, _ in reminders_owed(order, pages, looks):
            reminded[(MAILBOX, oid, f"reminder:{situation}", "")] += 1
    # An alert is one per order, situation and level (an event's alerts: one per event), to one target.
    wanted = Counter((_to(s, lvl), o, s, lvl if s == "protection_ending" else "") for o, s, lvl in owed) + reminded
    got: Counter[tuple] = Counter()
    health = 0
    for path, item in received:
        for who, situation, level in told(item):
            if situation == "health":
                health += 1
            else:
                got[(path, who, situation, level)] += 1
    unsure: Counter[tuple[str, str]] = Counter()
    titles = {words: s for s, words in TITLES.items()}
    for _, _, order_id, title in deliveries_in(db, "uncertain"):
        unsure[(order_id, titles.get(title.removeprefix(REMINDED), "unknown"))] += 1
    ids = Counter((path, n) for path, item in received for n in alert_ids(item))
    missed = wanted - got
    missed = Counter({k: n for k, n in missed.items() if unsure[(k[1], k[2].removeprefix("reminder:"))] == 0})
    return {
        "alerts_owed": sum(wanted.values()),
        "missed_alerts": sum(missed.values()),
        "false_alerts": sum((got - wanted).values()),
        "duplicate_deliveries": sum(n - 1 for n in ids.values() if n > 1),
        # Notifications a crash left unsure (a digest is one, however many alerts it carries).
        "uncertain_deliveries": rows(
            db, "select count(*) from deliveries where state = 'uncertain' and carried_by is null"
        )[0][0],
        "health_alerts": health,
        "reminders_owed": sum(reminded.values()),
        "digests": sum(1 for _, item in received if len(alert_ids(item)) > 1),  # the night's, the reminders'
        "to_phone": sum(1 for path, _ in received if path == PHONE),
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
    given, gets each such order's states: seen (the page last shown at each moment), recorded, last
    recorded, and the site's."""
    history = rows(db, "select order_id, status_to, refund_to from history order by id")
    last = {o: (s, r) for o, s, r in rows(db, "select order_id, status, refund_status from orders")}
    recorded: dict[str, list] = {}
    for order_id, status, refund in history:
        recorded.setdefault(order_id, []).append((status, refund))
    lost = []
    for order in orders:
        pages = [Page(_at(p["from"]), p["status"], p["refund_status"], p["deadlines"]) for p in order["pages"]]
        looks = _moments_of(moments, order, owner)
        kept = recorded.get(order["id"], [])
        if not _could_record(pages, looks, kept) or last.get(order["id"]) != (order["status"], order["refund_status"]):
            lost.append(order["id"])
            if why is not None:
                seen: list[tuple[str, str]] = []
                for at in looks:
                    if (page := _page_at(pages, at)) and (not seen or seen[-1] != (page.status, page.refund)):
                        seen.append((page.status, page.refund))
                why[order["id"]] = {
                    "seen": seen, "recorded": kept, "last": last.get(order["id"]),
                    "site": (order["status"], order["refund_status"]),
                    "pages": [(str(p.since), p.status, p.refund) for p in pages],
                    "looked": [str(at) for at in looks],
                }  # fmt: skip
    return lost


def _shown_at(pages: list[Page], at: dt.datetime) -> list[int | None]:
    """The pages (their indexes; None: the order not there yet) a look at ``at`` may have found.
    The site's clock, as the monitor reads it (the Date header), has whole seconds: at the second
    of a change the look may have come before it or after, so the page shown before that second
    and every page that second showed are all possible; after it, only the last."""
    shown = [i for i, p in enumerate(pages) if p.since <= at]
    if not shown:
        return [None]
    if pages[shown[-1]].since < at:
        return [shown[-1]]
    changed = [i for i in shown if pages[i].since == at]
    return [changed[0] - 1 if changed[0] else None, *changed]


def _could_record(pages: list[Page], looks: list[dt.datetime], recorded: list[tuple[str, str]]) -> bool:
    """Whether ``recorded`` is the history of some looks at the ``looks`` moments: each found one
    of the pages ``_shown_at`` allows, never one older than the previous look found, and the
    history holds each state found once, when it differs from the one before."""
    ways = {(0, -1)}  # (states of the history matched so far, the index of the page last found)
    for at in looks:
        after = set()
        for matched, page in ways:
            for found in _shown_at(pages, at):
                if found is None:  # the order not there yet: nothing to record
                    after.add((matched, page))
                    continue
                if found < page:  # a page older than one found before: never shown again
                    continue
                state = (pages[found].status, pages[found].refund)
                if matched and recorded[matched - 1] == state:
                    after.add((matched, found))
                elif matched < len(recorded) and recorded[matched] == state:
                    after.add((matched + 1, found))
        ways = after
    return any(matched == len(recorded) for matched, _ in ways)
