"""The rows behind ``ordermon status`` and ``ordermon alerts`` (and the HTML report):
the store's records, shaped for a buyer to read."""

from __future__ import annotations

import datetime as dt
import json

from .deadlines import format_duration, label, relative
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
        out.append(
            {
                "name": name,
                "label": label(name),
                "at": at,
                "source": "site" if site else "computed",
                "episode": known.get("episode", 0),
                "overdue": bool(now and at < now),
                "relative": relative(at, now) if now else None,
                "differs_from_settings": computed if site and computed and abs(site - computed) > DIFFERS else None,
            }
        )
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
        rows.append(
            {
                "account": account,
                "order_id": order["order_id"],
                "status": order["status"],
                "status_label": order["status_label"],
                "store": order["store"],
                "total": order["total"],
                "currency": order["currency"],
                "next_deadline_name": first["name"] if first else None,
                "next_deadline_label": first["label"] if first else None,
                "next_deadline": first["at"].isoformat() if first else None,
                "next_deadline_in": first["relative"] if first else None,
                "overdue": any(d["overdue"] for d in deadlines),
                "deadlines": {d["name"]: {"at": d["at"].isoformat(), "source": d["source"]} for d in deadlines},
                "deadline_differences": {
                    d["name"]: {
                        "site": d["at"].isoformat(),
                        "computed": d["differs_from_settings"].isoformat(),
                        "hours": round((d["differs_from_settings"] - d["at"]).total_seconds() / 3600, 1),
                    }
                    for d in deadlines
                    if d["differs_from_settings"]
                },
            }
        )
    rows.sort(key=lambda r: (r["next_deadline"] is None, r["next_deadline"] or ""))
    return rows


def alert_rows(store: Store) -> list[dict]:
    rows = []
    for a in store.alerts():
        states = sorted(set(a["states"].split(","))) if a["states"] else []
        rows.append(
            {
                "id": a["id"],
                "account": a["account"],
                "order_id": a["order_id"] or None,
                "rule": a["rule"],
                "title": a["title"],
                "level": a["level"] or None,
                "deadline": a["deadline"],
                "deadline_name": a["deadline_name"],
                "episode": a["episode"],
                "message": a["message"],
                "next_step": a["next_step"],
                "url": a["url"],
                "created": a["created"],
                "site_now": a["site_now"],
                "superseded": bool(a["superseded"]),
                "digest": a["digest_of"],
                "delivered": bool(a["targets"]) and a["targets"] == a["delivered_to"],
                "delivery": ",".join(states) if states else "console",
            }
        )
    return rows


def health(store: Store, interval: float, accounts: list[str] | None = None, now: dt.datetime | None = None) -> dict:
    """Whether the monitor is working: every account (the configured ones, else every one in the
    database) polled successfully within two intervals, and no outage open. ``problems`` holds
    one line per account that is not."""
    now = now or dt.datetime.now(dt.UTC)
    stale_after = dt.timedelta(seconds=2 * interval)
    known = {row["account"]: row for row in store.poll_health()}
    empty = {"last_poll": None, "last_success": None, "outage_since": None}
    rows = [known.get(label, {"account": label} | empty) for label in accounts] if accounts else known.values()
    accounts, problems = [], []
    for row in rows:
        success = parse(row["last_success"])
        problem = None
        if row["outage_since"]:
            problem = (
                f"{row['account']}: {row['failures']} failed poll(s) since {row['outage_since']}: {row['last_error']}"
            )
        elif success is None:
            problem = f"{row['account']}: no successful poll recorded"
        elif now - success > stale_after:
            problem = (
                f"{row['account']}: last successful poll {format_duration(now - success)} ago, "
                f"more than two intervals ({format_duration(stale_after)})"
            )
        accounts.append(
            {
                "account": row["account"],
                "last_success": row["last_success"],
                "last_poll": row["last_poll"],
                "outage_since": row["outage_since"],
                "healthy": problem is None,
                "problem": problem,
            }
        )
        if problem:
            problems.append(problem)
    if not accounts:
        problems.append("no poll recorded yet")
    return {
        "healthy": not problems,
        "checked_at": now.isoformat(),
        "interval": interval,
        "accounts": accounts,
        "problems": problems,
    }
