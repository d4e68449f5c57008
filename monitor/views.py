"""The rows behind ``ordermon status`` and ``ordermon alerts`` (and the HTML report):
the store's records, shaped for a buyer to read."""

from __future__ import annotations

import datetime as dt
import json

from .deadlines import label, relative
from .store import Store, parse

DIFFERS = dt.timedelta(hours=1)  # the site's deadline and the monitor's own disagree beyond this


def order_deadlines(order: dict, now: dt.datetime | None) -> list[dict]:
    """The order's deadlines, soonest first: the one rules go by (the site's, else the monitor's
    own), its source, and where the two disagree by more than an hour (the user's calendar
    settings are probably wrong)."""
    out = []
    for name, known in json.loads(order["deadlines"] or "{}").items():
        if not known.get("shown", True):
            continue
        site, computed = parse(known.get("site")), parse(known.get("computed"))
        at = site or computed
        if at is None:
            continue
        out.append({
            "name": name, "label": label(name), "at": at, "source": "site" if site else "computed",
            "episode": known.get("episode", 0), "overdue": bool(now and at < now),
            "relative": relative(at, now) if now else None,
            "differs_from_settings": computed if site and computed and abs(site - computed) > DIFFERS else None,
        })
    return sorted(out, key=lambda d: d["at"])


def status_rows(store: Store) -> list[dict]:
    """Every order with its next deadline, soonest first."""
    nows: dict[str, dt.datetime | None] = {}
    rows = []
    for order in store.orders():
        account = order["account"]
        if account not in nows:
            nows[account] = store.site_now(account)
        now = nows[account]
        deadlines = order_deadlines(order, now)
        upcoming = [d for d in deadlines if now is None or d["at"] >= now] or deadlines
        first = upcoming[0] if upcoming else None
        rows.append({
            "account": account, "order_id": order["order_id"], "status": order["status"],
            "status_label": order["status_label"], "store": order["store"],
            "total": order["total"], "currency": order["currency"],
            "next_deadline_name": first["name"] if first else None,
            "next_deadline_label": first["label"] if first else None,
            "next_deadline": first["at"].isoformat() if first else None,
            "next_deadline_in": first["relative"] if first else None,
            "overdue": any(d["overdue"] for d in deadlines),
            "deadlines": {d["name"]: {"at": d["at"].isoformat(), "source": d["source"]} for d in deadlines},
            "deadline_differences": {
                d["name"]: {"site": d["at"].isoformat(), "computed": d["differs_from_settings"].isoformat(),
                            "hours": round((d["differs_from_settings"] - d["at"]).total_seconds() / 3600, 1)}
                for d in deadlines if d["differs_from_settings"]},
        })
    rows.sort(key=lambda r: (r["next_deadline"] is None, r["next_deadline"] or ""))
    return rows


def alert_rows(store: Store) -> list[dict]:
    rows = []
    for a in store.alerts():
        states = sorted(set(a["states"].split(","))) if a["states"] else []
        rows.append({
            "id": a["id"], "account": a["account"], "order_id": a["order_id"] or None,
            "rule": a["rule"], "title": a["title"], "level": a["level"] or None, "deadline": a["deadline"],
            "deadline_name": a["deadline_name"], "episode": a["episode"], "message": a["message"],
            "next_step": a["next_step"], "url": a["url"], "created": a["created"], "site_now": a["site_now"],
            "superseded": bool(a["superseded"]), "digest": a["digest_of"],
            "delivered": bool(a["targets"]) and a["targets"] == a["delivered_to"],
            "delivery": ",".join(states) if states else "console",
        })
    return rows
