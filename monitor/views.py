"""The rows behind ``ordermon status`` and ``ordermon alerts`` (and the HTML report): the store's
records, shaped for a buyer to read, judged by the rules and never otherwise.

An order is *overdue* exactly when an overdue rule holds for it now (grace
included: the judgement that sends the alert), and *needs attention* when a
warning holds. A deadline that no longer binds the order in its state is never
its next deadline; a window's start ("Dispute can be opened from") opens, it is
never overdue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import rules
from .deadlines import format_duration, label, relative
from .order import Kind, Order, TrackedDeadline
from .rule import REMINDER
from .rules import Attention, Finding
from .store import Store, parse
from .windows import RuleConfig

ConfigOf = Callable[[str], RuleConfig]


@dataclass(frozen=True)
class DeadlineView:
    """One deadline of an order as a buyer reads it at ``now``."""

    deadline: TrackedDeadline
    at: dt.datetime
    binds: bool  # a rule watches it in the order's state
    overdue: bool  # an overdue rule holds for it now
    state: str  # "3d 4h left", "2h overdue", "passed 1d 2h ago", "opens in 2d 0h", "open since 5d 1h"

    @property
    def name(self) -> str:
        return self.deadline.name.value

    @property
    def label(self) -> str:
        return label(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "source": self.deadline.source,
            "kind": self.deadline.kind.value,
            "binds": self.binds,
            "overdue": self.overdue,
            "state": self.state,
        }


@dataclass(frozen=True)
class Judged:
    """An order as its rules judge it at ``now`` (the site's clock at the account's last poll)."""

    order: Order
    now: dt.datetime | None
    findings: list[Finding]
    deadlines: list[DeadlineView]  # soonest first

    @property
    def attention(self) -> Attention:
        return rules.attention(self.findings)

    @property
    def attention_rules(self) -> list[str]:
        level = self.attention
        return sorted({f.rule for f in self.findings if f.attention is level}) if level is not Attention.NONE else []

    @property
    def next_deadline(self) -> DeadlineView | None:
        """The first deadline that binds: overdue ones first, then the soonest still ahead."""
        binding = [d for d in self.deadlines if d.binds and d.deadline.kind is Kind.DEADLINE]
        now = self.now
        return min(binding, key=lambda d: (not d.overdue, now is not None and d.at < now, d.at), default=None)


def judge(order: Order, now: dt.datetime | None, config: RuleConfig) -> Judged:
    findings = rules.evaluate(order, now, config) if now is not None else []
    overdue = {f.deadline_name for f in findings if f.attention is Attention.OVERDUE}
    binding = rules.binding(order)
    views = []
    for d in order.deadlines.values():
        if d.at is None:
            continue
        binds = d.name in binding
        views.append(DeadlineView(d, d.at, binds, d.name.value in overdue, _state(d, d.at, now, binds, overdue)))
    return Judged(order, now, findings, sorted(views, key=lambda v: v.at))


def _state(d: TrackedDeadline, at: dt.datetime, now: dt.datetime | None, binds: bool, overdue: set) -> str:
    if now is None:
        return ""
    if d.kind is Kind.WINDOW_START:
        return f"opens in {format_duration(at - now)}" if at > now else f"open since {format_duration(now - at)}"
    if d.name.value in overdue or at >= now:
        return relative(at, now)
    return f"passed {format_duration(now - at)} ago"


def judged_orders(store: Store, config_of: ConfigOf | None = None) -> list[Judged]:
    """Every order, judged at its account's last site time with its account's windows (``config_of``;
    by default the monitor's defaults): overdue ones first, then warnings, each by next deadline."""
    config_of = config_of or (lambda account: RuleConfig())
    nows: dict[str, dt.datetime | None] = {}
    configs: dict[str, RuleConfig] = {}
    out = []
    for order in store.orders():
        account = order.account
        if account not in nows:
            nows[account], configs[account] = store.site_now(account), config_of(account)
        out.append(judge(order, nows[account], configs[account]))
    return sorted(out, key=by_need)


def by_need(j: Judged) -> tuple:
    """Where a judged order comes among others: overdue first, then warnings, then the rest, each by
    its next binding deadline."""
    first = j.next_deadline
    rank = [Attention.OVERDUE, Attention.WARNING, Attention.NONE].index(j.attention)
    last = dt.datetime.max.replace(tzinfo=dt.UTC)
    return (rank, first is None, first.at if first else last, j.order.order_id, j.order.account)


def status_row(j: Judged) -> dict[str, Any]:
    o, first = j.order, j.next_deadline
    return {
        "account": o.account,
        "order_id": o.order_id,
        "status": o.status.value,
        "status_label": o.status_label,
        "store": o.store,
        "total": str(o.total) if o.total is not None else None,
        "currency": o.currency,
        "attention": j.attention.value,
        "attention_rules": j.attention_rules,
        "overdue": j.attention is Attention.OVERDUE,
        "next_deadline_name": first.name if first else None,
        "next_deadline_label": first.label if first else None,
        "next_deadline": first.at.isoformat() if first else None,
        "next_deadline_in": first.state if first else None,
        "deadlines": {d.name: d.to_dict() for d in j.deadlines},
        "deadline_differences": {
            d.name: {
                "site": d.at.isoformat(),
                "computed": differs.isoformat(),
                "hours": round((differs - d.at).total_seconds() / 3600, 1),
            }
            for d in j.deadlines
            if (differs := d.deadline.differs_from_settings) is not None
        },
    }


def status_rows(
    store: Store, config_of: ConfigOf | None = None, *, judged: list[Judged] | None = None
) -> list[dict[str, Any]]:
    """Every order with what it needs and its next deadline: overdue ones first, then warnings;
    last, the orders the last polls could not read (not judged: the site answered them out of
    bounds), each with why. ``judged``: the judgement, if already made."""
    judged = judged_orders(store, config_of) if judged is None else judged
    return [status_row(j) for j in judged] + [unreadable_row(u) for u in store.unreadable()]


def unreadable_row(u: dict[str, Any]) -> dict[str, Any]:
    """An order the site answered out of bounds, in a status row's shape: nothing judged, and why."""
    nothing = dict.fromkeys(("status", "status_label", "store", "total", "currency", "next_deadline_name",
                             "next_deadline_label", "next_deadline", "next_deadline_in"))  # fmt: skip
    return nothing | {
        "account": u["account"],
        "order_id": u["order_id"],
        "attention": "unreadable",
        "attention_rules": [],
        "overdue": False,
        "deadlines": {},
        "deadline_differences": {},
        "why": u["why"],
    }


def held(j: Judged) -> set[tuple[str, str, str]]:
    """The findings that hold for a judged order, as its alerts name them (rule, level, episode)."""
    return {(f.rule, f.level, f.episode) for f in j.findings}


def alert_rows(
    store: Store,
    config_of: ConfigOf | None = None,
    *,
    holding: Mapping[tuple[str, str], set[tuple[str, str, str]]] | None = None,
) -> list[dict]:
    """Every alert with its deliveries, and whether it is still *open*: its finding still holds at
    its account's last site time (the rules' judgement; ``holding``: what holds per (account, order
    id), if already judged), or, for an account's alert, its outage is still open. A superseded
    alert is never open."""
    if holding is None:
        holding = {(j.order.account, j.order.order_id): held(j) for j in judged_orders(store, config_of)}
    went: dict[int, list[dict]] = {}
    for d in store.deliveries():
        went.setdefault(d["alert_id"], []).append(
            {
                "target": d["label"],
                "state": d["state"],
                "attempts": d["attempts"],
                "held_until": d["next_attempt"] if d["state"] == "held" else None,
                "carried_by": d["carried_by"],
                "said": delivery_said(d),
            }
        )
    rows = []
    for a in store.alerts():
        rule = rules.RULES.get(a["rule"])
        states = sorted(set(a["states"].split(","))) if a["states"] else []
        rows.append(
            {
                "id": a["id"],
                "account": a["account"],
                "order_id": a["order_id"] or None,
                "rule": a["rule"],
                "judged": rule.judged.value if rule else None,
                "severity": rule.severity_of(a["level"] or "").value if rule else None,
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
                "deliveries": went.get(a["id"], []),
                "delivered": bool(a["targets"]) and a["targets"] == a["delivered_to"],
                "delivery": ",".join(states) if states else "console",
                "open": not a["superseded"] and _still_open(store, a, holding),
            }
        )
    return rows


def delivery_said(d: dict) -> str:
    """Where a delivery went and how, in words (``ordermon alerts``, the report, the dashboard)."""
    said = f"{d['label']}: {d['state']}"
    if d["state"] == "held":
        said = f"{d['label']}: held until {d['next_attempt'][:16].replace('T', ' ')} UTC (quiet hours)"
    if d["carried_by"] is not None:
        said += f", in the digest of #{d['carried_by']}"
    return said + (f" ({d['attempts']} tries)" if d["attempts"] > 1 else "")


def _still_open(store: Store, alert: dict, holding: Mapping[tuple[str, str], set]) -> bool:
    found = holding.get((alert["account"], alert["order_id"]))
    if found is None:  # an account's alert (the monitor failing), or an order no longer listed
        return alert["rule"] == "monitor_failing" and store.outage(alert["account"]) is not None
    # A reminder is open while what it reminds of is.
    level = "" if (alert["level"] or "").startswith(REMINDER) else alert["level"] or ""
    return (alert["rule"], level, alert["episode"]) in found


def health(store: Store, interval: float, accounts: list[str] | None = None, now: dt.datetime | None = None) -> dict:
    """Whether the monitor is working: every account (the configured ones, else every one in the
    database) polled successfully within two intervals, and no outage open. ``problems`` holds
    one line per account that is not."""
    now = now or dt.datetime.now(dt.UTC)
    stale_after = dt.timedelta(seconds=2 * interval)
    known = {row["account"]: row for row in store.poll_health()}
    empty = {"last_poll": None, "last_success": None, "outage_since": None}
    rows = [known.get(label, {"account": label} | empty) for label in accounts] if accounts else known.values()
    found, problems = [], []
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
        found.append(
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
    if not found:
        problems.append("no poll recorded yet")
    return {
        "healthy": not problems,
        "checked_at": now.isoformat(),
        "interval": interval,
        "accounts": found,
        "problems": problems,
    }
