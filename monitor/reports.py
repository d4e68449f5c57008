"""Views over the database for the CLI and the HTML report."""

from __future__ import annotations

import datetime as dt
import json

from .rules import format_duration
from .store import Store, parse


def site_now(store: Store, account: str) -> dt.datetime | None:
    row = store.db.execute(
        "select site_now from polls where account = ? and site_now is not null order by id desc limit 1",
        [account]).fetchone()
    return parse(row[0]) if row else None


def status_rows(store: Store) -> list[dict]:
    nows: dict[str, dt.datetime | None] = {}
    rows = []
    for order in store.orders():
        account = order["account"]
        if account not in nows:
            nows[account] = site_now(store, account)
        now = nows[account]
        deadlines = {k: parse(v) for k, v in json.loads(order["deadlines"] or "{}").items()}
        name, when = min(deadlines.items(), key=lambda kv: kv[1]) if deadlines else (None, None)
        relative = None
        if when and now:
            relative = (f"{format_duration(when - now)} left" if when >= now
                        else f"{format_duration(now - when)} overdue")
        rows.append({
            "account": account, "order_id": order["order_id"], "status": order["status"],
            "status_label": order["status_label"], "store": order["store"],
            "total": order["total"], "currency": order["currency"],
            "next_deadline_name": name, "next_deadline": when.isoformat() if when else None,
            "next_deadline_in": relative, "overdue": bool(when and now and when < now),
            "deadlines": {k: v.isoformat() for k, v in deadlines.items()},
        })
    rows.sort(key=lambda r: (r["next_deadline"] is None, r["next_deadline"] or ""))
    return rows


def alert_rows(store: Store) -> list[dict]:
    rows = []
    for a in store.alerts():
        states = sorted(set((a["states"] or "").split(","))) if a["states"] else []
        rows.append({
            "id": a["id"], "account": a["account"], "order_id": a["order_id"] or None,
            "rule": a["rule"], "level": a["level"] or None, "deadline": a["deadline"],
            "message": a["message"], "next_step": a["next_step"], "created": a["created"],
            "site_now": a["site_now"],
            "delivered": a["targets"] == a["delivered_to"],
            "delivery": ",".join(states) if states else "console",
        })
    return rows
