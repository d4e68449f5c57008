"""`ordermon calendar`: every deadline that binds an order, as an event of an iCalendar file for a
calendar app to import or subscribe to.

The events draw on the judgement the views made (``views.judged_orders``) and never judge anew: a
deadline is an event while it binds its order (a window's start is never one), and it is marked
overdue where an overdue rule holds for it. An event's UID names the account, the order and the
deadline, never its moment, so a deadline the site moves updates its event instead of adding one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from icalendar import Alarm, Calendar, Event

from flows.account import write_private
from flows.domain import STATUS_LABELS

from .order import Kind
from .rule import Judged as Judgement
from .rule import Rule, words
from .rules import Attention, watching
from .store import Store
from .views import ConfigOf, DeadlineView, Judged, judged_orders

ALARM_BEFORE = dt.timedelta(days=1)
PRODID = "-//ordermon//deadlines//EN"
NAME = "ordermon deadlines"
OrderUrl = Callable[[str, str], str | None]  # (account, order id): the order's page on the site


def calendar(
    judged: list[Judged],
    *,
    now: dt.datetime | None = None,
    alarm_before: dt.timedelta = ALARM_BEFORE,
    order_url: OrderUrl | None = None,
) -> bytes:
    """The iCalendar file (RFC 5545, UTF-8) of every binding deadline of the ``judged`` orders, each
    with a display alarm ``alarm_before`` it. ``now``: when the file is made (its events' DTSTAMP;
    by default the clock's), never a moment anything is judged at."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("name", NAME)
    cal.add("x-wr-calname", NAME)  # the name Apple's and Google's calendars show; NAME is RFC 7986's
    stamp = now or dt.datetime.now(dt.UTC)
    for j in judged:
        for d in j.deadlines:
            if d.binds and d.deadline.kind is Kind.DEADLINE:
                cal.add_component(_event(j, d, stamp, alarm_before, order_url))
    return cal.to_ical()


def uid(account: str, order_id: str, deadline: str) -> str:
    """The event's identity: a digest, so that neither the account's label nor the site's text ends
    up in a calendar's identifiers."""
    key = "\0".join((account, order_id, deadline)).encode()
    return f"{hashlib.sha256(key).hexdigest()[:32]}@ordermon"


def _event(j: Judged, d: DeadlineView, stamp: dt.datetime, alarm_before: dt.timedelta, url: OrderUrl | None) -> Event:
    o = j.order
    summary = f"{'Overdue: ' if d.overdue else ''}{d.label} ({o.store or 'order ' + o.order_id})"
    event = Event()
    event.add("uid", uid(o.account, o.order_id, d.name))
    event.add("dtstamp", stamp)
    event.add("dtstart", d.at)
    # The episode counts the site's moves of the deadline, so a calendar that goes by SEQUENCE takes
    # the moved event as the newer one (one moved by changed settings keeps it: DTSTAMP still is newer).
    event.add("sequence", d.deadline.episode)
    event.add("summary", summary)
    event.add("description", _description(j, d))
    event.add("categories", ["ordermon", Attention.OVERDUE.value] if d.overdue else ["ordermon"])
    event.add("transp", "TRANSPARENT")  # a moment to act by, not time the buyer is busy
    if url and (page := url(o.account, o.order_id)):
        event.add("url", page)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", -alarm_before)
    event.add_component(alarm)
    return event


def _description(j: Judged, d: DeadlineView) -> str:
    o = j.order
    lines = [
        f"Order {o.order_id} from {o.store or 'an unnamed store'}: {o.status_label or STATUS_LABELS[o.status]} "
        f"(account {o.account}).",
        f"{d.label} {d.at:%Y-%m-%d %H:%M} UTC" + (f", {Attention.OVERDUE.value}." if d.overdue else "."),
    ]
    rule = _watching(j, d)
    if rule is not None:
        step = rule.next_step.format(**words(o))
        ahead = rule.judged is Judgement.OVERDUE and not d.overdue  # its step is for once it is missed
        lines.append(f"{'If it is missed' if ahead else 'Next step'}: {step}")
    return "\n".join(lines)


def _watching(j: Judged, d: DeadlineView) -> Rule | None:
    """The rule whose watch makes the deadline bind the order in its state: it says the next step."""
    return next((r for r in watching(j.order) if r.deadline is d.deadline.name), None)


def write_calendar(
    store: Store, out: Path, config_of: ConfigOf | None = None, *, order_url: OrderUrl | None = None
) -> int:
    """Write the calendar of every order in ``store``, readable by its owner only (it holds order
    data, like the database); the number of events it holds."""
    data = calendar(judged_orders(store, config_of), order_url=order_url)
    # Read back before it is written: a file icalendar cannot read never replaces the last one, and
    # the count told is what a calendar app will find.
    events = Calendar.from_ical(data).walk("VEVENT")
    write_private(out, data.decode())  # atomic, and a symbolic link at ``out`` is replaced, not followed
    return len(events)
