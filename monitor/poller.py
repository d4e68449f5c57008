"""A poll: read every account's orders, record what changed, create the alerts come due.

The reads go through a reader: over HTTP with the session the browser signed in
(flows/http.py, the default), or in the signed-in browser pages (flows/orders.py).
Either reads every account at once, stage by stage: the lists, then the details
that are needed. An account whose read fails while the site is unavailable is
polled again with the flows' backoff; any other failure is recorded as a failed
poll. Details are read only where needed: new orders, changed ones (status or
refund status, as the list shows them), orders never read, an order one of whose
deadlines has passed since its detail was read, and orders whose stored facts
say an alert has come due (read fresh before alerting).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from flows.account import Account
from flows.errors import FlowError, ListChanged, SiteUnavailable, first_line
from flows.models import OrderDetail, OrderSummary
from flows.pages import OrderDetailPage
from flows.retry import backoffs

from . import facts, rules
from .settings import MonitorSettings
from .store import DIGEST, Store, iso, parse

log = logging.getLogger("ordermon.poller")
RETRYABLE = (SiteUnavailable, ListChanged)

DETAIL_FIELDS = (
    "payment_method",
    "placed_at",
    "paid_at",
    "cancel_requested_at",
    "shipped_at",
    "closed_at",
    "close_reason",
    "cancel_reason",
    "refund_status",
    "refund_started_at",
    "refunded_at",
    "shipping_method",
    "completed_at",
    "completed_by",
    "refund_destination",
)
MOVED = dt.timedelta(minutes=1)  # the site moved a deadline when it shows it this much elsewhere


class Reader(Protocol):
    """How a poll reads the site: every account's list, then the details it needs; a failed
    account's answer is its exception."""

    def lists(self, labels: list[str]) -> dict[str, list[OrderSummary] | Exception]: ...

    def details(self, wanted: dict[str, list[str]]) -> dict[str, dict[str, OrderDetail] | Exception]: ...

    def site_now(self, label: str) -> dt.datetime | None: ...


@dataclass
class PollResult:
    account: str
    site_now: dt.datetime | None = None
    orders_seen: int = 0
    changes: int = 0
    details_read: int = 0
    alerts: list[str] = field(default_factory=list)
    error: str | None = None
    failure: Exception | None = None  # what made the poll fail (its exit code: monitor/exits.py)

    def to_dict(self) -> dict:
        return {
            "account": self.account,
            "site_now": iso(self.site_now),
            "orders_seen": self.orders_seen,
            "changes": self.changes,
            "details_read": self.details_read,
            "alerts_created": len(self.alerts),
            "alerts": self.alerts,
            "error": self.error,
        }


@dataclass
class _AccountPoll:
    """One account's poll in flight."""

    account: Account
    started: dt.datetime
    summaries: list[OrderSummary] = field(default_factory=list)
    digests: dict[str, tuple] = field(default_factory=dict)  # what ordermon knows of every order
    known: dict[str, dict] = field(default_factory=dict)  # the full rows of the orders that need work
    alerted: set[tuple] = field(default_factory=set)
    site_now: dt.datetime | None = None
    wanted: list[str] = field(default_factory=list)
    details: dict[str, OrderDetail] = field(default_factory=dict)
    failure: Exception | None = None

    @property
    def label(self) -> str:
        return self.account.label


def _row(
    account: str,
    summary: OrderSummary,
    known: dict | None,
    detail: OrderDetail | None,
    site_now: dt.datetime,
    config: facts.RuleConfig,
) -> tuple[dict, list[str]]:
    """The order's row as it is now, and the names of the deadlines the site moved."""
    row = dict(known or {})
    row.update(
        account=account,
        order_id=summary.id,
        status=summary.status.value,
        status_label=summary.status_label,
        store=summary.store,
        total=str(summary.total),
        currency=summary.currency,
        order_date=summary.order_date.isoformat(),
    )
    row.setdefault("first_seen", iso(site_now))
    stored = json.loads(row.get("deadlines") or "{}")
    site = {k: v.get("site") for k, v in stored.items() if v.get("site")}
    if detail is not None:
        for name in DETAIL_FIELDS:
            value = getattr(detail, name)
            row[name] = iso(value) if isinstance(value, dt.datetime) else value
        row["timeline"] = json.dumps([[iso(e.at), e.kind] for e in detail.timeline])
        row["detail_read_at"] = iso(site_now)
        site = {name: iso(at) for name, at in detail.deadlines.items()}
    computed = facts.computed_deadlines(facts.OrderFacts.from_row(row), config)
    merged, moved = {}, []
    for name in sorted(set(site) | {d.value for d in computed} | set(stored)):
        before = stored.get(name, {})
        episode = before.get("episode", 0)
        if before.get("site") and site.get(name) and abs(parse(site[name]) - parse(before["site"])) >= MOVED:
            episode += 1
            moved.append(name)
        if name in site or name in computed:
            merged[name] = {"site": site.get(name), "computed": iso(computed.get(name)), "episode": episode}
        elif before.get("site"):  # the page no longer shows it: remembered, no longer a deadline
            merged[name] = {"site": before["site"], "computed": None, "episode": episode, "shown": False}
    row["deadlines"] = json.dumps(merged)
    return row, moved


def _effective(row: dict) -> dict[str, dt.datetime]:
    """The stored deadlines the rules go by: the site's, else the monitor's own."""
    stored = json.loads(row.get("deadlines") or "{}")
    return {
        name: parse(v.get("site") or v.get("computed"))
        for name, v in stored.items()
        if v.get("shown", True) and (v.get("site") or v.get("computed"))
    }


def _same(digest: tuple, summary: OrderSummary) -> bool:
    """Whether the list shows the order as the database has it (``store.DIGEST``)."""
    status, refund, label, store, total = digest[:5]
    return (
        status == summary.status
        and refund == summary.refund_status
        and label == summary.status_label
        and store == summary.store
        and total == str(summary.total)
    )


def _digest(row: dict) -> tuple:
    return tuple(row.get(name) for name in DIGEST)


class Poller:
    def __init__(
        self,
        settings: MonitorSettings,
        store: Store,
        reader: Reader,
        accounts: list[Account],
        targets: list[tuple[str, str]],
    ):
        self.settings = settings
        self.store = store
        self.reader = reader
        self.targets = targets
        self.configs = {a.label: settings.rule_config(a.label) for a in accounts}
        # Per account, what is known of each order (store.DIGEST); the monitor is the database's only
        # writer (its lock), so this is read once per process and kept in step with what it writes.
        self._digests: dict[str, dict[str, tuple]] = {}
        # Per order: its stored deadlines when last looked at, and the next moment anything may come
        # due (rules.next_moment): an unchanged order is looked at again only then.
        self._next: dict[tuple[str, str], tuple[str, dt.datetime | None]] = {}

    # ---------------------------------------------------------------- the poll
    def poll_all(self, accounts: list[Account]) -> list[PollResult]:
        """Poll every account at once; poll again those the site failed, with the flows' backoff."""
        results: dict[str, PollResult] = {}
        delays = backoffs(self.settings)
        todo = list(accounts)
        while todo:
            polls = self._read([_AccountPoll(a, dt.datetime.now(dt.UTC)) for a in todo])
            retry = any(isinstance(poll.failure, RETRYABLE) for poll in polls)
            delay = next(delays, None) if retry else None
            todo = []
            for poll in polls:
                if poll.failure is None:
                    results[poll.label] = self._record(poll)
                elif delay is not None and isinstance(poll.failure, RETRYABLE):
                    log.warning("poll of %s: %s; polling it again in %.2f s", poll.label, poll.failure, delay)
                    todo.append(poll.account)
                else:
                    results[poll.label] = self._record_failure(poll)
            if todo:
                time.sleep(delay)  # backoff while the site is unavailable
        return [results[a.label] for a in accounts]

    def _read(self, polls: list[_AccountPoll]) -> list[_AccountPoll]:
        lists = self.reader.lists([poll.label for poll in polls])
        for poll in polls:
            found = lists[poll.label]
            if isinstance(found, Exception):
                poll.failure = _noted(poll.label, found)
                continue
            poll.summaries = found
            poll.site_now = self.reader.site_now(poll.label) or poll.started
            if poll.label not in self._digests:
                self._digests[poll.label] = self.store.order_digests(poll.label)
            poll.digests = self._digests[poll.label]
            poll.alerted = self.store.alert_keys(poll.label)
            poll.wanted = self._wanted(poll)
        details = self.reader.details({poll.label: poll.wanted for poll in polls if poll.failure is None})
        for poll in polls:
            found = details.get(poll.label, {})
            if isinstance(found, Exception):
                poll.failure = _noted(poll.label, found)
            elif poll.failure is None:
                poll.details = found
        return polls

    # ---------------------------------------------------------------- which details to read
    def _due(self, label: str, order_id: str, deadlines: str | None, now: dt.datetime) -> bool:
        """Whether anything may have come due for an order since it was last looked at."""
        seen = self._next.get((label, order_id))
        if seen is None or seen[0] != deadlines:
            return True  # never looked at in this process, or changed since
        return seen[1] is not None and now >= seen[1]

    def _looked_at(self, label: str, row: dict, now: dt.datetime, config: facts.RuleConfig) -> None:
        moment = rules.next_moment(facts.OrderFacts.from_row(row), now, config)
        self._next[(label, row["order_id"])] = (row["deadlines"], moment)

    def _findings(self, row: dict, now: dt.datetime, alerted: set, config: facts.RuleConfig) -> list[rules.Finding]:
        return [
            f
            for f in rules.evaluate(facts.OrderFacts.from_row(row), now, config)
            if (f.order_id, f.rule, f.level, f.episode) not in alerted
        ]

    def _wanted(self, poll: _AccountPoll) -> list[str]:
        """Orders whose detail must be read: new, changed, never read, a deadline passed since the
        last read (the site may have moved it), or an alert come due (read fresh before alerting).
        The full rows of the orders that need work go to ``poll.known``."""
        config, now = self.configs[poll.label], poll.site_now
        wanted, work, due = [], [], []
        for summary in poll.summaries:
            digest = poll.digests.get(summary.id)
            if digest is None:
                wanted.append(summary.id)
            elif digest[0] != summary.status or digest[1] != summary.refund_status or digest[5] is None:
                wanted.append(summary.id)
                work.append(summary.id)
            elif not _same(digest, summary):
                work.append(summary.id)
            elif self._due(poll.label, summary.id, digest[6], now):
                due.append(summary.id)
        poll.known = self.store.orders_by_id(poll.label, work + due) if work or due else {}
        for order_id in due:
            row = poll.known[order_id]
            if any(row["detail_read_at"] < iso(at) <= iso(now) for at in _effective(row).values()) or self._findings(
                row, now, poll.alerted, config
            ):
                wanted.append(order_id)
        return wanted

    # ---------------------------------------------------------------- recording
    def _record(self, poll: _AccountPoll) -> PollResult:
        label, now, config = poll.label, poll.site_now, self.configs[poll.label]
        rows, changes, findings, moved = [], [], [], []
        for summary in poll.summaries:
            digest = poll.digests.get(summary.id)
            detail = poll.details.get(summary.id)
            if digest is not None and detail is None and _same(digest, summary):
                if not self._due(label, summary.id, digest[6], now):
                    continue  # unchanged, nothing come due: not even read from the database
                row = before = poll.known[summary.id]  # nothing to write, deadlines as stored
            else:
                before = poll.known.get(summary.id)
                row, names = _row(label, summary, before, detail, now, config)
                rows.append(row)
                moved += [(summary.id, name, json.loads(row["deadlines"])[name]["episode"]) for name in names]
            if before is None or (before["status"], before["refund_status"]) != (row["status"], row["refund_status"]):
                changes.append(
                    {
                        "account": label,
                        "order_id": summary.id,
                        "observed_at": iso(now),
                        "status_from": before["status"] if before else None,
                        "status_to": row["status"],
                        "refund_from": before["refund_status"] if before else None,
                        "refund_to": row["refund_status"],
                        "close_reason": row.get("close_reason"),
                    }
                )
            findings.extend(self._findings(row, now, poll.alerted, config))
            self._looked_at(label, row, now, config)
        outage = self.store.outage(label)
        if outage and outage["alerted"]:
            findings.append(rules.monitor_recovered(label, parse(outage["since"]), now))
        urls = {
            f.order_id: poll.account.storefront_url + OrderDetailPage.path(f.order_id) for f in findings if f.order_id
        }
        created = self.store.record_poll(
            label,
            started=poll.started,
            site_now=now,
            orders_seen=len(poll.summaries),
            details_read=len(poll.details),
            orders=rows,
            changes=changes,
            findings=findings,
            targets=self.targets,
            moved=moved,
            urls=urls,
            digest_over=self.settings.digest_over,
        )
        poll.digests.update((row["order_id"], _digest(row)) for row in rows)  # in step with the database
        return PollResult(
            label,
            site_now=now,
            orders_seen=len(poll.summaries),
            changes=len(changes),
            details_read=len(poll.details),
            alerts=[a.message for a in created],
        )

    def _record_failure(self, poll: _AccountPoll) -> PollResult:
        failure = poll.failure
        error = (
            str(failure)
            if isinstance(failure, FlowError)
            else f"unexpected {type(failure).__name__}: {first_line(failure)}"
        )
        outage = self.store.outage(poll.label) or {"failures": 0, "alerted": 0, "since": iso(poll.started)}
        findings = []
        if outage["failures"] + 1 >= self.settings.failure_threshold and not outage["alerted"]:
            findings.append(
                rules.monitor_failing(
                    poll.label, parse(outage["since"]), dt.datetime.now(dt.UTC), outage["failures"] + 1, error
                )
            )
        created = self.store.record_failure(
            poll.label, started=poll.started, error=error, findings=findings, targets=self.targets
        )
        return PollResult(poll.label, error=error, failure=failure, alerts=[a.message for a in created])


def _noted(label: str, failure: Exception) -> Exception:
    """An expected failure (the site's) is recorded as such; a surprise is logged with its traceback."""
    if not isinstance(failure, FlowError):
        log.error("poll of %s failed", label, exc_info=failure)
    return failure
