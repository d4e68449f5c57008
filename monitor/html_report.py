"""`ordermon report`: one self-contained HTML page of every order's timeline and deadlines
(the database views it draws on are in ``views``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, select_autoescape

from flows.account import write_private
from flows.domain import STATUS_LABELS, Status

from .order import Kind
from .rules import Attention
from .store import Store
from .views import ConfigOf, DeadlineView, Judged, alert_rows, held, judged_orders

EVENTS = [
    ("placed_at", "placed"),
    ("paid_at", "paid"),
    ("cancel_requested_at", "cancellation requested"),
    ("shipped_at", "shipped"),
    ("refund_started_at", "refund started"),
    ("refunded_at", "refunded"),
    ("closed_at", "closed"),
]
WIDTH, HEIGHT, PAD = 640, 46, 14


def _timeline(events: list[tuple[str, dt.datetime]], deadlines: list[dict], now: dt.datetime | None) -> dict:
    moments = [when for _, when in events] + [d["at"] for d in deadlines] + ([now] if now else [])
    start, end = min(moments), max(moments)
    span = max((end - start).total_seconds(), 3600.0)

    def x(when: dt.datetime) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * (when - start).total_seconds() / span, 1)

    placed = []
    last_label_x = {True: -1e9, False: -1e9}  # labels above (True) and below the line
    for index, (label, when) in enumerate(sorted(events, key=lambda e: e[1])):
        above = index % 2 == 0
        pos = x(when)
        show = pos - last_label_x[above] >= 56  # labels that would overlap stay in the tooltip
        if show:
            last_label_x[above] = pos
        placed.append({"x": pos, "label": label, "at": when, "above": above, "show": show})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "events": placed,
        "deadlines": [d | {"x": x(d["at"])} for d in deadlines],
        "now": x(now) if now else None,
    }


def build(store: Store, config_of: ConfigOf | None = None) -> dict:
    """``config_of(account)``: the account's windows (by default the monitor's defaults)."""
    judged = judged_orders(store, config_of)
    orders = [order_view(j) for j in judged]
    nows = {j.order.account: j.now for j in judged}
    alerts = alert_rows(store, holding={(j.order.account, j.order.order_id): held(j) for j in judged})
    waiting: dict[str, Decimal] = defaultdict(Decimal)
    for j in judged:
        if j.order.refund_status == "pending" and j.order.total is not None and j.order.total.is_finite():
            waiting[j.order.currency or "?"] += j.order.total
    return {
        "generated": dt.datetime.now(dt.UTC),
        "now": max((n for n in nows.values() if n), default=None),
        "orders": orders,
        "alerts": sorted(alerts, key=lambda a: (not a["open"], a["superseded"], a["deadline"] or "")),
        "by_status": Counter(o["status_label"] for o in orders),
        "open_alerts": sum(1 for a in alerts if a["open"]),
        "overdue": sum(1 for j in judged if j.attention is Attention.OVERDUE),
        "attention": sum(1 for j in judged if j.attention is Attention.WARNING),
        "refunds_waiting": dict(sorted(waiting.items())),
        "unreadable": store.unreadable(),
        "accounts": sorted({o["account"] for o in orders}),
        "statuses": [STATUS_LABELS[s] for s in Status if any(o["status"] == s.value for o in orders)],
    }


def order_view(j: Judged) -> dict:
    """One judged order as the report (and the dashboard's order page) draws it: its events, its
    deadlines as judged, and its timeline."""
    o = j.order
    events = [(what, when) for key, what in EVENTS if (when := getattr(o, key)) is not None]
    deadlines = [_deadline_row(d) for d in j.deadlines]
    first = j.next_deadline
    return {
        "account": o.account,
        "order_id": o.order_id,
        "store": o.store,
        "total": o.total,
        "currency": o.currency,
        "status": o.status.value,
        "status_label": o.status_label or STATUS_LABELS[o.status],
        "refund_status": o.refund_status,
        "events": events,
        "deadline_rows": deadlines,
        "attention": j.attention.value,
        "overdue": j.attention is Attention.OVERDUE,
        "next_deadline": first.label if first else None,
        "timeline_svg": _timeline(events, deadlines, j.now) if events else None,
    }


def _deadline_row(d: DeadlineView) -> dict:
    return {
        "name": d.name,
        "label": d.label,
        "at": d.at,
        "source": d.deadline.source,
        "window_start": d.deadline.kind is Kind.WINDOW_START,
        "binds": d.binds,
        "overdue": d.overdue,
        "relative": d.state,
        "differs_from_settings": d.deadline.differs_from_settings,
    }


def environment(*loaders: BaseLoader) -> Environment:
    """The templates' environment (``loaders`` first, then the report's own templates): every value
    escaped, and the report's date filters."""
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("monitor", "templates")]),
        autoescape=select_autoescape(default=True),
    )
    env.filters["time"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else ""
    env.filters["day"] = lambda v: v.strftime("%b %d") if v else ""
    return env


def render(store: Store, config_of: ConfigOf | None = None) -> str:
    return environment().get_template("report.html").render(**build(store, config_of))


def write_report(store: Store, out: Path, config_of: ConfigOf | None = None) -> Path:
    """The page holds order data: like the database, readable by its owner only."""
    write_private(out, render(store, config_of))  # atomic: a full disk leaves the last report whole
    return out
