"""The rows behind ``ordermon status`` and ``ordermon alerts`` (and the HTML report):
the store's records, shaped for a buyer to read."""

from __future__ import annotations

import datetime as dt
import json

from .deadlines import label, relative
from .store import Store, parse


def status_rows(store: Store) -> list[dict]:
    """Every order with its next deadline, soonest first."""
    nows: dict[str, dt.datetime | None] = {}
    rows = []
    for order in store.orders():
        account = order["account"]
        if account not in nows:
            nows[account] = store.site_now(account)
        now = nows[account]
        deadlines = {k: parse(v) for k, v in json.loads(order["deadlines"] or "{}").items()}
        name, when = min(deadlines.items(), key=lambda kv: kv[1]) if deadlines else (None, None)
        rows.append({
            "account": account, "order_id": order["order_id"], "status": order["status"],
            "status_label": order["status_label"], "store": order["store"],
            "total": order["total"], "currency": order["currency"],
            "next_deadline_name": name, "next_deadline_label": label(name) if name else None,
            "next_deadline": when.isoformat() if when else None,
            "next_deadline_in": relative(when, now) if when and now else None,
            "overdue": bool(when and now and when < now),
            "deadlines": {k: v.isoformat() for k, v in deadlines.items()},
        })
    rows.sort(key=lambda r: (r["next_deadline"] is None, r["next_deadline"] or ""))
    return rows


def alert_rows(store: Store) -> list[dict]:
    rows = []
    for a in store.alerts():
        states = sorted(set(a["states"].split(","))) if a["states"] else []
        rows.append({
            "id": a["id"], "account": a["account"], "order_id": a["order_id"] or None,
            "rule": a["rule"], "level": a["level"] or None, "deadline": a["deadline"],
            "message": a["message"], "next_step": a["next_step"], "created": a["created"],
            "site_now": a["site_now"],
            "delivered": a["targets"] == a["delivered_to"],
            "delivery": ",".join(states) if states else "console",
        })
    return rows
