"""A poll, straight through: what was known -> read -> merge -> evaluate -> record.

For every account at once: the store says what it knew (one read: ``Known``);
the site reader reads the orders list and then the details the poll needs
(``Known.plan``: new and changed orders, ones never read, ones something may
have come due for); the merge makes each such order the new ``Order``; the
rules judge it (findings, and when it may next have something come due); the
store records it all in one transaction. Deliveries follow, outside the poll
(the monitor's delivery thread). Unchanged orders with nothing come due are not
even typed: a glance at their stored row is enough.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from flows.account import Account
from flows.errors import BadAnswer, FlowError, SignInNeeded, first_line
from flows.models import OrderSummary, Planner, Reading

from . import rules
from .merge import change, merge
from .order import Change, Known, Plan
from .rule import Finding
from .settings import MonitorSettings
from .store import LeaseLost, Route, Store, iso, parse
from .windows import RuleConfig

log = logging.getLogger("ordermon.poller")


class Reader(Protocol):
    """How a poll reads the site: for every account at once, its list, then the details its planner
    asks for; a failed account's answer is its exception. ``order_url`` is an order's page."""

    def read(self, plans: dict[str, Planner]) -> dict[str, Reading | Exception]: ...

    def order_url(self, label: str, order_id: str) -> str: ...


@dataclass
class PollResult:
    account: str
    deferred: bool = False  # not polled: the site asks to sign in, which another process does
    site_now: dt.datetime | None = None
    orders_seen: int = 0
    changes: int = 0
    details_read: int = 0
    unreadable: int = 0  # orders the site answered out of bounds: recorded as such, not judged
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
            "unreadable": self.unreadable,
            "alerts_created": len(self.alerts),
            "alerts": self.alerts,
            "error": self.error,
        }


class Poller:
    def __init__(
        self,
        settings: MonitorSettings,
        store: Store,
        reader: Reader,
        accounts: list[Account],
        route: Route,
        configs: dict[str, RuleConfig] | None = None,
    ):
        """``route``: where and when each alert goes (``Notifier.route``); ``configs``: each account's
        windows (a fleet's, from its database); by default the settings'."""
        self.settings = settings
        self.store = store
        self.reader = reader
        self.route = route
        self.configs = configs or {a.label: settings.rule_config(a.label) for a in accounts}
        self.keys = {label: rules.judged_with(config) for label, config in self.configs.items()}

    def poll_all(self, accounts: list[Account]) -> list[PollResult]:
        """Poll every account at once."""
        started = dt.datetime.now(dt.UTC)
        polls = {a.label: _Poll(self.store.known(a.label), self.keys[a.label], started) for a in accounts}
        readings = self.reader.read({label: poll.planner for label, poll in polls.items()})
        results = []
        for label, poll in polls.items():
            reading = readings[label]
            if isinstance(reading, SignInNeeded):  # nothing failed: nothing is recorded
                results.append(PollResult(label, deferred=True))
                continue
            if isinstance(reading, LeaseLost):  # a fleet's job no longer sure to be its worker's
                raise reading  # records nothing: the site did not fail
            if isinstance(reading, Exception):
                results.append(self._failed(poll.known, started, _noted(label, reading)))
                continue
            try:
                judged = self._judge(poll, reading)
            except Exception as exc:  # a detail the site answered badly, or a surprise: nothing was recorded
                results.append(self._failed(poll.known, started, _noted(label, exc)))
                continue  # the next account is polled as usual
            results.append(self._record(label, judged))
        return results

    # ---------------------------------------------------------------- merge, evaluate, record
    def _judge(self, poll: _Poll, reading: Reading) -> _Judged:
        """The account's reading merged and judged: what its poll records (nothing written yet)."""
        known, started = poll.known, poll.started
        label = known.account
        config, key = self.configs[label], self.keys[label]
        now = poll.now or reading.site_now or started
        plan = poll.plan or known.plan(reading.summaries, now, key)
        todo = {*plan.read, *plan.work}
        stored = known.stored(todo)
        judged = _Judged(started, now, reading, unreadable=[(u.order_id, u.why) for u in reading.unreadable])
        for summary in reading.summaries:
            if summary.id not in todo:
                continue  # unchanged, with nothing come due
            try:
                detail = reading.details.get(summary.id)
            except BadAnswer as exc:  # this order's detail out of bounds: the others as usual
                judged.unreadable.append((summary.id, str(exc)))
                continue
            before = known.typed(stored.get(summary.id))
            merged, names = merge(label, before, summary, detail, now, config)
            order, found = rules.judge(merged, now, config, key)
            judged.orders.append(order.row())  # a poll of thousands holds compact rows, not models
            judged.moved += [(summary.id, name.value, order.deadlines[name].episode) for name in names]
            if (row := change(before, order, now)) is not None:
                judged.changes.append(row)
            found += rules.reminders(found, config, known.alerted)
            judged.findings += [f for f in found if (f.order_id, f.rule, f.level, f.episode) not in known.alerted]
        if known.outage and known.outage["alerted"]:
            judged.findings.append(rules.monitor_recovered(label, parse(known.outage["since"]) or now, now))
        judged.urls = {f.order_id: self.reader.order_url(label, f.order_id) for f in judged.findings if f.order_id}
        return judged

    def _record(self, label: str, judged: _Judged) -> PollResult:
        """What the poll judged, in one transaction (a store's failure is the store's: not caught)."""
        reading = judged.reading
        created = self.store.record_poll(
            label,
            started=judged.started,
            site_now=judged.now,
            orders_seen=len(reading.summaries),
            details_read=len(reading.details),
            orders=judged.orders,
            changes=judged.changes,
            findings=judged.findings,
            route=self.route,
            moved=judged.moved,
            urls=judged.urls,
            digest_over=self.settings.digest_over,
            unreadable=judged.unreadable,
        )
        return PollResult(
            label,
            site_now=judged.now,
            orders_seen=len(reading.summaries),
            changes=len(judged.changes),
            details_read=len(reading.details),
            unreadable=len(judged.unreadable),
            alerts=[a.message for a in created],
        )

    def fail(self, account: Account, failure: Exception) -> PollResult:
        """A poll of the account that failed before it could read (a fleet's sign-in, elsewhere)."""
        return self._failed(self.store.known(account.label), dt.datetime.now(dt.UTC), failure)

    def _failed(self, known: Known, started: dt.datetime, failure: Exception) -> PollResult:
        label = known.account
        if isinstance(failure, FlowError):
            error = str(failure)
        else:
            error = f"unexpected {type(failure).__name__}: {first_line(failure)}"
        outage = known.outage or {"failures": 0, "alerted": 0, "since": iso(started)}
        findings = []
        if outage["failures"] + 1 >= self.settings.failure_threshold and not outage["alerted"]:
            since = parse(outage["since"]) or started
            findings.append(rules.monitor_failing(label, since, dt.datetime.now(dt.UTC), outage["failures"] + 1, error))
        created = self.store.record_failure(label, started=started, error=error, findings=findings, route=self.route)
        return PollResult(label, error=error, failure=failure, alerts=[a.message for a in created])


@dataclass
class _Judged:
    """One account's poll, judged: the rows and findings its transaction writes."""

    started: dt.datetime
    now: dt.datetime
    reading: Reading
    orders: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    moved: list[tuple[str, str, int]] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (order id, why)


class _Poll:
    """One account's poll in flight: what was known, and what the poll planned once the list was read
    (at ``now``, the site's clock then: every judgement of the poll is made at that moment)."""

    def __init__(self, known: Known, key: str, started: dt.datetime):
        self.known, self.key, self.started = known, key, started
        self.plan: Plan | None = None
        self.now: dt.datetime | None = None

    def planner(self, summaries: list[OrderSummary], now: dt.datetime) -> list[str]:
        self.now = now
        self.plan = self.known.plan(summaries, now, self.key)
        return self.plan.read


def _noted(label: str, failure: Exception) -> Exception:
    """An expected failure (the site's) is recorded as such; a surprise is logged with its traceback."""
    if not isinstance(failure, FlowError):
        log.error("poll of %s failed", label, exc_info=failure)
    return failure
