"""Alert rules, each declared once: pure judgements of an ``Order`` at "now" (the site's clock).

A ``Rule`` is one declaration: its id and title, the deadline it watches and in
which statuses, how it is judged (overdue after a grace period, a warning ahead
of the deadline, or an event on the order's timeline), the condition, the
alert's sentence and the buyer's next step. Everything else is derived from
these declarations: the titles, which deadlines bind an order in its state
(``binding``), when an order may next have something come due
(``next_moment``), what an order needs (``attention``), and the README's table
(``python -m monitor.rules``; tests/test_rules.py checks it).

A finding is unique per order, rule, level and episode: a deadline's episode
changes only when the site moves it, so a changed setting never sends an alert
again. docs/domain.md, "What the buyer wants to be told", lists the situations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import replace

from flows.domain import CompletedBy, Deadline, Event, Status

from .deadlines import format_duration
from .facts import refund_expected_by
from .order import Order
from .rule import REMINDER, Attention, Finding, Judged, Rule, Severity, rule_table, words
from .windows import RuleConfig

__all__ = [
    "ORDER_RULES", "RULES", "TITLES", "Attention", "Finding", "Judged", "Rule", "Severity", "evaluate", "next_moment",
]  # fmt: skip


# ---------------------------------------------------------------------- what happened
def _cancellation_refused(rule: Rule, o: Order, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    ship = o.deadline(Deadline.SHIP_BY)
    found = []
    for refused in o.events(Event.CANCEL_REFUSED):
        if now - refused > c.recent:
            continue
        when, name = (ship.at, Deadline.SHIP_BY.value) if ship and ship.at else (refused, None)
        found.append(
            Finding(
                rule.id,
                o.order_id,
                when,
                now,
                rule.summary.format(when=f"{refused:%Y-%m-%d %H:%M}"),
                rule.next_step,
                episode=refused.isoformat(),
                deadline_name=name,
            )
        )
    return found


def _shipped_while_cancelling(rule: Rule, o: Order, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    requests, refusals = o.events(Event.CANCEL_REQUESTED), o.events(Event.CANCEL_REFUSED)
    delivery = o.deadline(Deadline.DELIVERY_EXPECTED_BY)
    found = []
    for shipped in o.events(Event.SHIPPED):
        asked = [t for t in requests if t <= shipped]
        if not asked or now - shipped > c.recent or any(asked[-1] <= t <= shipped for t in refusals):
            continue
        when, name = (delivery.at, Deadline.DELIVERY_EXPECTED_BY.value) if delivery and delivery.at else (shipped, None)
        found.append(
            Finding(
                rule.id,
                o.order_id,
                when,
                now,
                rule.summary.format(when=f"{shipped:%Y-%m-%d %H:%M}"),
                rule.next_step,
                episode=shipped.isoformat(),
                deadline_name=name,
            )
        )
    return found


def _refund_arrived(rule: Rule, o: Order, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    if o.refunded_at is None or now - o.refunded_at > c.recent:
        return []
    shown = o.deadlines.get(Deadline.REFUND_EXPECTED_BY)
    expected = (shown.last_shown if shown else None) or refund_expected_by(o, c) or o.refunded_at
    early = expected >= o.refunded_at
    said = words(o)
    amount = f"{o.total} {o.currency}" if o.total is not None else "the money"
    return [
        Finding(
            rule.id,
            o.order_id,
            expected,
            now,
            rule.summary.format(amount=amount, when=f"{o.refunded_at:%Y-%m-%d}", **said),
            rule.next_step.format(**said),
            episode=o.refunded_at.isoformat(),
            deadline_name=Deadline.REFUND_EXPECTED_BY.value,
            timing=f"arrived {format_duration(expected - o.refunded_at)} {'before' if early else 'after'} it",
        )
    ]


# ---------------------------------------------------------------------- the rules
ORDER_RULES: tuple[Rule, ...] = (
    Rule(
        "seller_response_overdue",
        "Seller hasn't answered your cancellation",
        Judged.OVERDUE,
        'Awaiting cancellation past "Seller must answer by" (+ grace), the platform has not cancelled either',
        "the seller has not answered the cancellation request, and the platform has not cancelled it",
        "contact customer service to have the order cancelled and refunded; if it ships anyway, refuse the delivery",
        Deadline.SELLER_RESPONSE_BY,
        frozenset({Status.AWAITING_CANCELLATION}),
        attention=Attention.OVERDUE,
    ),
    Rule(
        "ship_deadline_passed",
        "Seller hasn't shipped in time",
        Judged.OVERDUE,
        'still Awaiting shipment past "Ship by" (+ grace)',
        "the seller has not shipped by the end of the processing time and the order is still open",
        'request cancellation with the reason "The supplier refuses to ship the product(s)", '
        "or contact customer service",
        Deadline.SHIP_BY,
        frozenset({Status.AWAITING_SHIPMENT}),
        attention=Attention.OVERDUE,
    ),
    Rule(
        "refund_overdue",
        "Refund hasn't arrived",
        Judged.OVERDUE,
        'a refund still pending past "Refund expected by" (+ grace)',
        "the refund has not arrived by the end of its window (to {destination})",
        "check {destination}, then contact customer service with the order id",
        Deadline.REFUND_EXPECTED_BY,
        condition=lambda o: o.refund_status == "pending",
        attention=Attention.OVERDUE,
    ),
    Rule(
        "payment_unverified",
        "Payment still not verified",
        Judged.OVERDUE,
        'Payment being verified past "Payment verified by" (+ grace)',
        "the payment is still being verified after its window",
        "contact customer service about the payment; do not pay twice",
        Deadline.VERIFICATION_BY,
        frozenset({Status.PAYMENT_VERIFYING}),
        attention=Attention.OVERDUE,
    ),
    Rule(
        "parcel_overdue",
        "Parcel is late",
        Judged.OVERDUE,
        'Awaiting delivery past "Delivery expected by", the latest estimate of the shipping method '
        "(Standard 15–45, Premium 7–15 working days after shipment) (+ grace)",
        "the parcel has not arrived by the latest delivery estimate of its shipping method",
        "open a dispute while the buyer protection runs{until}",
        Deadline.DELIVERY_EXPECTED_BY,
        frozenset({Status.AWAITING_DELIVERY}),
        attention=Attention.OVERDUE,
    ),
    Rule(
        "protection_expiring",
        "Buyer protection ends soon",
        Judged.WARNING,
        'Awaiting delivery with "Protection ends" 14 days away (watch), 7 (soon), 3 (urgent): each level once '
        "per episode",
        "buyer protection ends within {days} days and the order has not arrived ({urgency})",
        "open a dispute before the protection ends, or ask the seller to extend it",
        Deadline.PROTECTION_ENDS,
        frozenset({Status.AWAITING_DELIVERY}),
        leads=lambda c: c.protection_warning_days,
        levels=True,
        urgent_within=3,
    ),
    Rule(
        "unpaid_closing",
        "Unpaid order closes soon",
        Judged.WARNING,
        'Awaiting payment, 2 days before "Pay by"',
        "the unpaid order is about to close by itself",
        "pay before the deadline if you still want it; otherwise nothing to do",
        Deadline.PAY_BY,
        frozenset({Status.AWAITING_PAYMENT}),
        leads=lambda c: (c.unpaid_warning_days,),
    ),
    Rule(
        "dispute_window_closing",
        "Last days to open a dispute",
        Judged.WARNING,
        "Completed because the protection ran out, without the buyer confirming receipt, while "
        '"Dispute can be opened until" has not passed',
        "the order was completed because the buyer protection ran out, without your confirmation of receipt",
        "if it never arrived, open a dispute from the order page before the window closes",
        Deadline.DISPUTE_CLOSES,
        frozenset({Status.COMPLETED}),
        condition=lambda o: o.completed_by == CompletedBy.PROTECTION_ENDED,
    ),
    Rule(
        "cancellation_refused",
        "Seller refused your cancellation",
        Judged.EVENT,
        "the order's timeline shows the seller refused a cancellation request (Awaiting cancellation → "
        "Awaiting shipment); once per refusal",
        "the seller refused your cancellation request on {when} UTC",
        "it will ship; refuse the delivery, or return it after it arrives",
        Deadline.SHIP_BY,
        frozenset({Status.AWAITING_SHIPMENT, Status.AWAITING_DELIVERY}),
        finder=_cancellation_refused,
    ),
    Rule(
        "shipped_while_cancelling",
        "Order shipped while you were cancelling",
        Judged.EVENT,
        "the order shipped while a cancellation request was pending",
        "the order shipped on {when} UTC while your cancellation request was pending",
        "refuse the delivery, then ask for the refund",
        Deadline.DELIVERY_EXPECTED_BY,
        frozenset({Status.AWAITING_DELIVERY}),
        finder=_shipped_while_cancelling,
        severity=Severity.URGENT,
    ),
    Rule(
        "refund_arrived",
        "Refund arrived",
        Judged.EVENT,
        "the refund completed: the amount and where it went (informational)",
        "the refund of {amount} arrived on {when} to {destination}",
        "check {destination}; nothing else to do",
        Deadline.REFUND_EXPECTED_BY,
        condition=lambda o: o.refund_status == "completed",
        attention=Attention.NONE,
        finder=_refund_arrived,
        severity=Severity.INFO,
    ),
)

MONITOR_FAILING = Rule(
    "monitor_failing",
    "ordermon can't read your orders",
    Judged.HEALTH,
    "`ORDERMON_FAILURE_THRESHOLD` failed polls in a row (sign-in failed, captcha, site down)",
    "the monitor of {account} has failed {failures} polls in a row ({error})",
    "check the credentials, a captcha on the site, or whether the site is up; ordermon keeps retrying",
    attention=Attention.OVERDUE,
)
MONITOR_RECOVERED = Rule(
    "monitor_recovered",
    "ordermon reads your orders again",
    Judged.HEALTH,
    "a poll works again after `monitor_failing`; once",
    "the monitor of {account} works again",
    "nothing: alerts that came due meanwhile follow",
    attention=Attention.NONE,
    severity=Severity.INFO,
)

RULES: dict[str, Rule] = {rule.id: rule for rule in (*ORDER_RULES, MONITOR_FAILING, MONITOR_RECOVERED)}
#: The title of each rule's notification: what happened, in the buyer's words.
TITLES: dict[str, str] = {rule.id: rule.title for rule in RULES.values()}


# ---------------------------------------------------------------------- judging an order
def evaluate(order: Order, now: dt.datetime, config: RuleConfig) -> list[Finding]:
    return [finding for rule in ORDER_RULES for finding in rule.evaluate(order, now, config)]


def watching(order: Order) -> list[Rule]:
    """The rules that watch a deadline of the order in its state, ahead of it or past it."""
    return [
        rule
        for rule in ORDER_RULES
        if rule.deadline and rule.judged in (Judged.OVERDUE, Judged.WARNING) and rule.applies(order)
    ]


def binding(order: Order) -> frozenset[Deadline]:
    """The deadlines that bind the order in its state: those a rule watches ahead of them or past them.
    (Ship by no longer binds a shipped order, nor Refund expected by a refunded one.)"""
    return frozenset(rule.deadline for rule in watching(order) if rule.deadline)


def attention(findings: list[Finding]) -> Attention:
    """Overdue when an overdue rule holds, warning when a warning one does, else none."""
    found = {f.attention for f in findings}
    return next((level for level in (Attention.OVERDUE, Attention.WARNING) if level in found), Attention.NONE)


def next_moment(order: Order, now: dt.datetime, config: RuleConfig) -> dt.datetime | None:
    """The earliest moment after ``now`` at which the order may have something new to say: any of its
    deadlines passes (the site may have moved it: read it again), an overdue rule's grace ends, a
    warning level is reached. None: nothing will come due until the order changes."""
    moments = [d.at for d in order.deadlines.values() if d.at is not None]
    every = config.remind_every
    for rule in ORDER_RULES:
        d = order.deadline(rule.deadline)
        if d is not None and d.at is not None and rule.applies(order):
            moments += rule.moments(d.at, config)
            if every and rule.judged is Judged.OVERDUE and now >= (overdue := d.at + config.grace):
                moments.append(overdue + ((now - overdue) // every + 1) * every)  # its next reminder
    return min((m for m in moments if m > now), default=None)


def reminders(
    findings: list[Finding], config: RuleConfig, alerted: Mapping[tuple[str, str, str, str], dt.datetime | None]
) -> list[Finding]:
    """A reminder of each overdue finding still holding whose alert an earlier poll made (``alerted``:
    (order, rule, level, episode) -> the site's time it was made at), numbered by the ``remind_hours``
    passed since it became overdue (its deadline plus the grace): "reminder 1" a day on, "reminder 2"
    two days on; only a number whose moment came after the alert (a first look at a long-overdue order
    alerts once, then reminds a day later). None where ``remind_hours`` is 0."""
    every = config.remind_every
    if every is None:
        return []
    found = []
    for f in findings:
        if f.declared.judged is not Judged.OVERDUE or f.reminder:
            continue
        key = (f.order_id, f.rule, "", f.episode)
        if key not in alerted:
            continue
        overdue = f.deadline + config.grace
        number = (f.now - overdue) // every
        made = alerted[key]
        if number >= 1 and (made is None or overdue + number * every > made):
            found.append(replace(f, level=f"{REMINDER}{number}"))
    return found


_TICK = dt.timedelta(microseconds=1)


def _told_while_recent(o: Order) -> list[dt.datetime]:
    """The events a rule tells of only while they are recent (``RuleConfig.recent``): a refusal of a
    cancellation, a shipment (while cancelling), a refund's arrival."""
    return [*o.events(Event.CANCEL_REFUSED), *o.events(Event.SHIPPED), *([o.refunded_at] if o.refunded_at else [])]


def judgement_changes(order: Order, now: dt.datetime, config: RuleConfig) -> dt.datetime | None:
    """The first moment after ``now`` at which what holds for the order may change while it stays as
    it is: ``next_moment``, or an event told of while recent growing old (a view that keeps a
    judgement judges again then; the poller need not read the site for it). None: never."""
    # Told at exactly ``recent`` after it happened, not a microsecond later; a deadline is ahead at
    # its very moment, passed a microsecond later (which deadline comes next then changes).
    moments = [t + config.recent + _TICK for t in _told_while_recent(order)] + [next_moment(order, now, config)]
    moments += [d.at + _TICK for d in order.deadlines.values() if d.at is not None]
    return min((m for m in moments if m is not None and m > now), default=None)


def monitor_failing(account: str, since: dt.datetime, now: dt.datetime, failures: int, error: str) -> Finding:
    rule = MONITOR_FAILING
    return Finding(
        rule.id,
        "",
        since,
        now,
        rule.summary.format(account=account, failures=failures, error=error),
        rule.next_step,
        episode=since.isoformat(),
    )


def monitor_recovered(account: str, since: dt.datetime, now: dt.datetime) -> Finding:
    rule = MONITOR_RECOVERED
    return Finding(
        rule.id, "", since, now, rule.summary.format(account=account), rule.next_step, episode=since.isoformat()
    )


def judged_with(config: RuleConfig) -> str:
    """A fingerprint of the windows and calendar an order was judged with: an order judged with
    others is judged again (its own deadlines computed anew), without reading the site."""
    cal = config.calendar
    text = "|".join([config.windows().model_dump_json(), str(cal.country), str(cal.timezone), str(cal.extra_holidays)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def judge(order: Order, now: dt.datetime, config: RuleConfig, key: str) -> tuple[Order, list[Finding]]:
    """The order's findings now, and the order with when it may next have something come due
    (``key``: ``judged_with(config)``)."""
    return (
        order.model_copy(update={"next_due": next_moment(order, now, config), "judged_with": key}),
        evaluate(order, now, config),
    )


def table() -> str:
    """The README's rule table, from the declarations (``python -m monitor.rules``)."""
    return rule_table(RULES.values())


if __name__ == "__main__":
    print(table())
