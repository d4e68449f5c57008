"""`ordermon report`: one self-contained HTML page of every order's timeline and deadlines
(the database views it draws on are in ``views``)."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from flows.domain import STATUS_LABELS, Status

from .facts import OrderFacts, RuleConfig
from .rules import evaluate
from .store import Store, parse
from .views import alert_rows, order_deadlines, status_rows

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


def build(store: Store, config_of: Callable[[str], RuleConfig] | None = None) -> dict:
    """``config_of(account)``: the account's windows (by default the monitor's defaults)."""
    config_of = config_of or (lambda account: RuleConfig())
    nows = {}
    orders = []
    rows = {(r["account"], r["order_id"]): r for r in status_rows(store)}
    for order in store.orders():
        account = order["account"]
        now = nows.setdefault(account, store.site_now(account))
        events = [(label, parse(order[key])) for key, label in EVENTS if order.get(key)]
        deadlines = [d | {"relative": d["relative"] or ""} for d in order_deadlines(order, now)]
        row = rows[(account, order["order_id"])]
        orders.append(
            {
                **order,
                "status_label": order["status_label"] or STATUS_LABELS[Status(order["status"])],
                "events": events,
                "deadline_rows": deadlines,
                "overdue": row["overdue"],
                "next_deadline": row["next_deadline"],
                "timeline_svg": _timeline(events, deadlines, now) if events else None,
            }
        )
    orders.sort(key=lambda o: (o["next_deadline"] is None, o["next_deadline"] or "", o["order_id"]))

    alerts = alert_rows(store)
    for alert in alerts:
        order = next(
            (o for o in orders if o["order_id"] == alert["order_id"] and o["account"] == alert["account"]), None
        )
        now = nows.get(alert["account"])
        if alert["superseded"]:
            alert["open"] = False
        elif order is None or now is None:
            alert["open"] = alert["rule"] == "monitor_failing" and store.outage(alert["account"]) is not None
        else:
            still = evaluate(OrderFacts.from_row(order), now, config_of(alert["account"]))
            alert["open"] = any(
                (f.rule, f.level, f.episode) == (alert["rule"], alert["level"] or "", alert["episode"]) for f in still
            )
    waiting: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        if order["refund_status"] == "pending":
            waiting[order["currency"] or "?"] += Decimal(order["total"] or "0")
    return {
        "generated": dt.datetime.now(dt.UTC),
        "now": max((n for n in nows.values() if n), default=None),
        "orders": orders,
        "alerts": sorted(alerts, key=lambda a: (not a["open"], a["superseded"], a["deadline"] or "")),
        "by_status": Counter(o["status_label"] for o in orders),
        "open_alerts": sum(1 for a in alerts if a["open"]),
        "overdue": sum(1 for o in orders if o["overdue"]),
        "refunds_waiting": dict(sorted(waiting.items())),
        "accounts": sorted({o["account"] for o in orders}),
        "statuses": [STATUS_LABELS[s] for s in Status if any(o["status"] == s.value for o in orders)],
    }


def render(store: Store, config_of: Callable[[str], RuleConfig] | None = None) -> str:
    env = Environment(loader=PackageLoader("monitor", "templates"), autoescape=select_autoescape(default=True))
    env.filters["time"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else ""
    env.filters["day"] = lambda v: v.strftime("%b %d") if v else ""
    return env.get_template("report.html").render(**build(store, config_of))


def write_report(store: Store, out: Path, config_of: Callable[[str], RuleConfig] | None = None) -> Path:
    """The page holds order data: like the database, readable by its owner only."""
    html = render(store, config_of)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(html)
    return out
