"""One poll of one account: read the orders, record what changed, create due alerts.

Detail pages are read only where needed: new orders, changed ones, refunds
still pending, and orders whose stored facts say an alert has come due (read
fresh before alerting).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flows.domain import PaymentMethod, Status
from flows.errors import FlowError, first_line
from flows.models import OrderDetail, OrderSummary
from flows.orders import (
    DETAIL_CHUNK, collect_details, collect_orders, read_details, read_orders, start_read_details,
    start_read_orders,
)
from flows.session import Account, AccountSession, retrying

from . import rules
from .settings import MonitorSettings
from .store import Store, iso, parse

log = logging.getLogger("ordermon.poller")
Progress = Callable[[str, int, int], None]

DETAIL_FIELDS = (
    "payment_method", "placed_at", "paid_at", "cancel_requested_at", "shipped_at", "closed_at",
    "close_reason", "cancel_reason", "refund_status", "refund_started_at", "refunded_at",
)


@dataclass
class PollResult:
    account: str
    site_now: dt.datetime | None = None
    orders_seen: int = 0
    changes: int = 0
    details_read: int = 0
    alerts: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0

    def to_dict(self) -> dict:
        return {"account": self.account, "site_now": iso(self.site_now), "orders_seen": self.orders_seen,
                "changes": self.changes, "details_read": self.details_read,
                "alerts_created": len(self.alerts), "alerts": self.alerts, "error": self.error}


def facts_of(row: dict) -> rules.OrderFacts:
    method = row.get("payment_method")
    return rules.OrderFacts(
        order_id=row["order_id"], status=Status(row["status"]),
        payment_method=PaymentMethod(method) if method else None,
        placed_at=parse(row.get("placed_at")), paid_at=parse(row.get("paid_at")),
        cancel_requested_at=parse(row.get("cancel_requested_at")),
        shipped_at=parse(row.get("shipped_at")), refund_status=row.get("refund_status") or "none",
        refund_started_at=parse(row.get("refund_started_at")),
    )


def _row(account: str, summary: OrderSummary, known: dict | None, detail: OrderDetail | None,
         site_now: dt.datetime, config: rules.RuleConfig) -> dict:
    row = dict(known or {})
    row.update(
        account=account, order_id=summary.id, status=summary.status.value,
        status_label=summary.status_label, store=summary.store, total=str(summary.total),
        currency=summary.currency, order_date=summary.order_date.isoformat(),
    )
    row.setdefault("first_seen", iso(site_now))
    if detail is not None:
        for name in DETAIL_FIELDS:
            value = getattr(detail, name)
            row[name] = iso(value) if isinstance(value, dt.datetime) else value
        row["detail_read_at"] = iso(site_now)
    row["deadlines"] = json.dumps({k: iso(v) for k, v in rules.deadlines(facts_of(row), config).items()})
    return row


def _same(row: dict, summary: OrderSummary) -> bool:
    """Whether the list shows the order as the database has it."""
    return (row["status"] == summary.status.value and row["refund_status"] == summary.refund_status
            and row["status_label"] == summary.status_label and row["store"] == summary.store
            and row["total"] == str(summary.total))


class Poller:
    def __init__(self, settings: MonitorSettings, store: Store, sessions: dict[str, AccountSession],
                 targets: list[tuple[str, str]], progress: Progress | None = None):
        self.settings = settings
        self.store = store
        self.sessions = sessions
        self.targets = targets
        self.config = rules.RuleConfig.from_settings(settings)
        self.progress = progress
        # Rules that warn before a deadline: protection_expiring and unpaid_closing.
        self._leads = {
            "protection_end": dt.timedelta(days=max(self.config.protection_warning_days, default=0)),
            "unpaid_close": dt.timedelta(days=self.config.unpaid_warning_days),
        }

    def poll(self, account: Account) -> PollResult:
        session = self.sessions[account.label]
        result = PollResult(account.label)
        started = dt.datetime.now(dt.UTC)
        try:
            summaries = retrying(self.settings, read_orders, session)
            site_now = session.site_now or started
            result.site_now = site_now
            result.orders_seen = len(summaries)
            known = self.store.known_orders(account.label)
            alerted = self._alert_keys(account.label)
            details = self._read_details(session, summaries, known, alerted, site_now)
            result.details_read = len(details)
        except FlowError as exc:
            result.error = str(exc)
            result.exit_code = exc.exit_code
            self._record_failure(account, started, result)
            return result
        except Exception as exc:  # a surprise from the site must not stop the monitor
            log.exception("poll of %s failed", account.label)
            result.exit_code = 1
            result.error = f"unexpected {type(exc).__name__}: {first_line(exc)}"
            self._record_failure(account, started, result)
            return result
        self._record(account, started, summaries, known, details, site_now, result)
        return result

    # ---------------------------------------------------------------- detail reads
    def _alert_keys(self, account: str) -> set[tuple]:
        rows = self.store.db.execute(
            "select order_id, rule, deadline, level from alerts where account = ?", [account])
        return {tuple(r) for r in rows}

    def _may_fire(self, row: dict, now: dt.datetime) -> bool:
        """Whether a rule could fire yet: the stored deadlines, less the longest warning lead."""
        deadlines = json.loads(row["deadlines"] or "{}")
        return any(at <= iso(now + self._leads.get(name, dt.timedelta(0))) for name, at in deadlines.items())

    def _new_findings(self, facts: rules.OrderFacts, now: dt.datetime, alerted: set) -> list[rules.Finding]:
        return [f for f in rules.evaluate(facts, now, self.config)
                if (f.order_id, f.rule, iso(f.deadline), f.level) not in alerted]

    def _read_details(self, session: AccountSession, summaries: list[OrderSummary], known: dict,
                      alerted: set, now: dt.datetime) -> dict[str, OrderDetail]:
        wanted = self._wanted(summaries, known, alerted, now)
        details = retrying(self.settings, read_details, session, wanted)
        if self.progress and wanted:
            self.progress(session.account.label, len(details), len(wanted))
        return details

    def _wanted(self, summaries: list[OrderSummary], known: dict, alerted: set, now: dt.datetime) -> list[str]:
        """Orders whose detail must be read: new, changed, never read, or with an alert come due."""
        wanted = []
        for summary in summaries:
            row = known.get(summary.id)
            if (
                row is None
                or row["status"] != summary.status.value
                or row["refund_status"] != summary.refund_status
                or row["detail_read_at"] is None
                or (self._may_fire(row, now) and self._new_findings(facts_of(row), now, alerted))
            ):
                wanted.append(summary.id)
        return wanted

    # ---------------------------------------------------------------- every account at once
    def poll_all(self, accounts: list[Account]) -> list[PollResult]:
        """Poll every account with all their pages fetching at once; an account whose
        pipelined read fails is polled again on its own, with retries."""
        started = dt.datetime.now(dt.UTC)
        stages: dict[str, dict] = {}
        for account in accounts:
            try:
                stages[account.label] = {"list": start_read_orders(self.sessions[account.label])}
            except Exception:
                stages[account.label] = {"failed": True}
        for account in accounts:
            stage = stages[account.label]
            if stage.get("failed"):
                continue
            session = self.sessions[account.label]
            try:
                summaries = collect_orders(stage["list"])
                site_now = session.site_now or started
                known = self.store.known_orders(account.label)
                wanted = self._wanted(summaries, known, self._alert_keys(account.label), site_now)
                # Many details (a first poll) are read in chunks, after the others.
                pipelined = wanted and len(wanted) <= DETAIL_CHUNK
                stage.update(summaries=summaries, known=known, site_now=site_now, wanted=wanted,
                             details=start_read_details(session, wanted) if pipelined else None)
            except Exception:
                stage["failed"] = True
        results = []
        for account in accounts:
            stage = stages[account.label]
            result = None
            if not stage.get("failed"):
                try:
                    if stage["details"] is not None:
                        details = collect_details(stage["details"])
                    else:
                        details = read_details(self.sessions[account.label], stage["wanted"])
                    result = PollResult(account.label, site_now=stage["site_now"],
                                        orders_seen=len(stage["summaries"]), details_read=len(details))
                    self._record(account, started, stage["summaries"], stage["known"], details,
                                 stage["site_now"], result)
                except Exception:
                    result = None
            results.append(result or self.poll(account))
        return results

    # ---------------------------------------------------------------- recording
    def _record(self, account: Account, started: dt.datetime, summaries: list[OrderSummary],
                known: dict, details: dict[str, OrderDetail], site_now: dt.datetime,
                result: PollResult) -> None:
        label = account.label
        alerted = self._alert_keys(label)
        rows, history, findings = [], [], []
        for summary in summaries:
            before = known.get(summary.id)
            detail = details.get(summary.id)
            if before is not None and detail is None and _same(before, summary):
                row = before  # unchanged: nothing to write, deadlines as stored
            else:
                row = _row(label, summary, before, detail, site_now, self.config)
                rows.append(row)
            if before is None or (before["status"], before["refund_status"]) != (row["status"], row["refund_status"]):
                history.append({
                    "account": label, "order_id": summary.id, "observed_at": iso(site_now),
                    "status_from": before["status"] if before else None, "status_to": row["status"],
                    "refund_from": before["refund_status"] if before else None,
                    "refund_to": row["refund_status"], "close_reason": row.get("close_reason"),
                })
            if self._may_fire(row, site_now):
                findings.extend(self._new_findings(facts_of(row), site_now, alerted))
        with self.store.db.atomic():
            if rows:
                self.store.db["orders"].upsert_all(rows, pk=("account", "order_id"))
            if history:
                self.store.db["history"].insert_all(history)
            outage = self.store.outage(label)
            if outage:
                if outage["alerted"]:
                    findings.append(rules.monitor_recovered(label, parse(outage["since"]), site_now))
                self.store.db["outages"].delete(label)
            created = self.store.add_alerts(label, findings, site_now, self.targets)
            self.store.db["polls"].insert({
                "account": label, "started": iso(started), "finished": iso(dt.datetime.now(dt.UTC)),
                "site_now": iso(site_now), "orders_seen": len(summaries), "changes": len(history),
                "details_read": len(details), "alerts_created": len(created), "error": None,
            })
        result.changes = len(history)
        by_id = {alert_id: alert_id for alert_id in created}
        result.alerts = [
            row["message"] for row in self.store.db.query(
                f"select message from alerts where id in ({','.join('?' * len(by_id))}) order by id",
                list(by_id))
        ] if by_id else []

    def _record_failure(self, account: Account, started: dt.datetime, result: PollResult) -> None:
        label = account.label
        now = dt.datetime.now(dt.UTC)
        with self.store.db.atomic():
            outage = self.store.outage(label) or {"account": label, "since": iso(started), "failures": 0,
                                                  "alerted": 0}
            outage["failures"] += 1
            outage["last_error"] = result.error
            created = []
            if outage["failures"] >= self.settings.failure_threshold and not outage["alerted"]:
                finding = rules.monitor_failing(label, parse(outage["since"]), now, outage["failures"],
                                                result.error or "")
                created = self.store.add_alerts(label, [finding], now, self.targets)
                outage["alerted"] = 1
                result.alerts = [finding.message]
            self.store.db["outages"].upsert(outage, pk="account")
            self.store.db["polls"].insert({
                "account": label, "started": iso(started), "finished": iso(now), "site_now": None,
                "orders_seen": 0, "changes": 0, "details_read": 0, "alerts_created": len(created),
                "error": result.error,
            })
