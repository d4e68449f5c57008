"""Alert rules: pure functions of an order's facts and "now" (the site's clock).

Each rule goes by the site's deadline where the page shows one (monitor/facts.py).
A finding is unique per order, rule, level and episode: a deadline's episode
changes only when the site moves it, so a changed setting never sends an alert
again. Overdue rules wait a grace period after the deadline (platforms act in
batches, late); warnings before a deadline are not delayed. docs/domain.md,
"What the buyer wants to be told", lists the situations; the README lists the rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flows.domain import Deadline, Event, PaymentMethod, Status

from .deadlines import format_duration, label, relative
from .facts import Known, OrderFacts, RuleConfig, deadlines, refund_expected_by
from .windows import REFUND_DESTINATIONS

#: The title of each rule's notification: what happened, in the buyer's words.
TITLES = {
    "seller_response_overdue": "Seller hasn't answered your cancellation",
    "ship_deadline_passed": "Seller hasn't shipped in time",
    "refund_overdue": "Refund hasn't arrived",
    "protection_expiring": "Buyer protection ends soon",
    "payment_unverified": "Payment still not verified",
    "unpaid_closing": "Unpaid order closes soon",
    "cancellation_refused": "Seller refused your cancellation",
    "shipped_while_cancelling": "Order shipped while you were cancelling",
    "parcel_overdue": "Parcel is late",
    "dispute_window_closing": "Last days to open a dispute",
    "refund_arrived": "Refund arrived",
    "monitor_failing": "ordermon can't read your orders",
    "monitor_recovered": "ordermon reads your orders again",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    order_id: str
    deadline: dt.datetime
    now: dt.datetime
    summary: str
    next_step: str
    level: str = ""
    episode: str = ""
    deadline_name: str | None = None
    timing: str | None = None  # how it compares with the deadline, where "left" or "overdue" would not fit

    @property
    def title(self) -> str:
        return TITLES[self.rule]

    @property
    def message(self) -> str:
        subject = f"Order {self.order_id}: " if self.order_id else ""
        what = label(self.deadline_name) if self.deadline_name else "Deadline"
        return (
            f"{subject}{self.summary}. {what} {self.deadline:%Y-%m-%d %H:%M} UTC "
            f"({self.timing or relative(self.deadline, self.now)}). Next step: {self.next_step}"
        )


def _finding(
    rule: str, o: OrderFacts, name: Deadline, d: Known, now: dt.datetime, summary: str, next_step: str, level: str = ""
) -> Finding:
    return Finding(rule, o.order_id, d.at, now, summary, next_step, level, f"{name.value}:{d.episode}", name.value)


def _overdue(
    o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known], status: Status | None, name: Deadline
) -> Known | None:
    """The deadline, if the order is (still) in ``status`` and the deadline passed more than the grace ago."""
    d = known.get(name)
    if d is None or (status is not None and o.status is not status) or now < d.at + c.grace:
        return None
    return d


def _destination(o: OrderFacts) -> str:
    return o.refund_destination or REFUND_DESTINATIONS.get(
        o.payment_method or PaymentMethod.CARD, "the original method"
    )


def _events(o: OrderFacts, kind: Event) -> list[dt.datetime]:
    return [at for at, k in o.timeline if k == kind]


# ---------------------------------------------------------------------- overdue
def seller_response_overdue(
    o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]
) -> list[Finding]:
    d = _overdue(o, now, c, known, Status.AWAITING_CANCELLATION, Deadline.SELLER_RESPONSE_BY)
    if d is None:
        return []
    return [
        _finding(
            "seller_response_overdue",
            o,
            Deadline.SELLER_RESPONSE_BY,
            d,
            now,
            "the seller has not answered the cancellation request, and the platform has not cancelled it",
            "contact customer service to have the order cancelled and refunded; "
            "if it ships anyway, refuse the delivery",
        )
    ]


def ship_deadline_passed(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    d = _overdue(o, now, c, known, Status.AWAITING_SHIPMENT, Deadline.SHIP_BY)
    if d is None:
        return []
    return [
        _finding(
            "ship_deadline_passed",
            o,
            Deadline.SHIP_BY,
            d,
            now,
            "the seller has not shipped by the end of the processing time and the order is still open",
            'request cancellation with the reason "The supplier refuses to ship the product(s)", '
            "or contact customer service",
        )
    ]


def refund_overdue(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    d = _overdue(o, now, c, known, None, Deadline.REFUND_EXPECTED_BY)
    if d is None or o.refund_status != "pending":
        return []
    destination = _destination(o)
    return [
        _finding(
            "refund_overdue",
            o,
            Deadline.REFUND_EXPECTED_BY,
            d,
            now,
            f"the refund has not arrived by the end of its window (to {destination})",
            f"check {destination}, then contact customer service with the order id",
        )
    ]


def payment_unverified(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    d = _overdue(o, now, c, known, Status.PAYMENT_VERIFYING, Deadline.VERIFICATION_BY)
    if d is None:
        return []
    return [
        _finding(
            "payment_unverified",
            o,
            Deadline.VERIFICATION_BY,
            d,
            now,
            "the payment is still being verified after its window",
            "contact customer service about the payment; do not pay twice",
        )
    ]


def parcel_overdue(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    d = _overdue(o, now, c, known, Status.AWAITING_DELIVERY, Deadline.DELIVERY_EXPECTED_BY)
    if d is None:
        return []
    protection = known.get(Deadline.PROTECTION_ENDS)
    until = f" (buyer protection ends {protection.at:%Y-%m-%d %H:%M} UTC)" if protection else ""
    return [
        _finding(
            "parcel_overdue",
            o,
            Deadline.DELIVERY_EXPECTED_BY,
            d,
            now,
            "the parcel has not arrived by the latest delivery estimate of its shipping method",
            f"open a dispute while the buyer protection runs{until}",
        )
    ]


# ---------------------------------------------------------------------- warnings before a deadline
def protection_expiring(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    """One finding per warning level; only the most urgent level reached counts."""
    d = known.get(Deadline.PROTECTION_ENDS)
    if o.status is not Status.AWAITING_DELIVERY or d is None or now >= d.at:
        return []
    reached = [days for days in c.protection_warning_days if now >= d.at - dt.timedelta(days=days)]
    if not reached:
        return []
    level = min(reached)
    urgency = {max(c.protection_warning_days): "watch", min(c.protection_warning_days): "urgent"}.get(level, "soon")
    return [
        _finding(
            "protection_expiring",
            o,
            Deadline.PROTECTION_ENDS,
            d,
            now,
            f"buyer protection ends within {level} days and the order has not arrived ({urgency})",
            "open a dispute before the protection ends, or ask the seller to extend it",
            level=f"{level}d",
        )
    ]


def unpaid_closing(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    d = known.get(Deadline.PAY_BY)
    if o.status is not Status.AWAITING_PAYMENT or d is None or now >= d.at:
        return []
    if now < d.at - dt.timedelta(days=c.unpaid_warning_days):
        return []
    return [
        _finding(
            "unpaid_closing",
            o,
            Deadline.PAY_BY,
            d,
            now,
            "the unpaid order is about to close by itself",
            "pay before the deadline if you still want it; otherwise nothing to do",
        )
    ]


def dispute_window_closing(
    o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]
) -> list[Finding]:
    """Completed because the protection ran out, without the buyer confirming receipt."""
    d = known.get(Deadline.DISPUTE_CLOSES)
    if o.status is not Status.COMPLETED or o.completed_by != "protection_ended" or d is None or now >= d.at:
        return []
    return [
        _finding(
            "dispute_window_closing",
            o,
            Deadline.DISPUTE_CLOSES,
            d,
            now,
            "the order was completed because the buyer protection ran out, without your confirmation of receipt",
            "if it never arrived, open a dispute from the order page before the window closes",
        )
    ]


# ---------------------------------------------------------------------- what happened
def cancellation_refused(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    if o.status not in (Status.AWAITING_SHIPMENT, Status.AWAITING_DELIVERY):
        return []
    ship = known.get(Deadline.SHIP_BY)
    found = []
    for refused in _events(o, Event.CANCEL_REFUSED):
        if now - refused > c.recent:
            continue
        when, name = (ship.at, Deadline.SHIP_BY.value) if ship else (refused, None)
        found.append(
            Finding(
                "cancellation_refused",
                o.order_id,
                when,
                now,
                f"the seller refused your cancellation request on {refused:%Y-%m-%d %H:%M} UTC",
                "it will ship; refuse the delivery, or return it after it arrives",
                episode=refused.isoformat(),
                deadline_name=name,
            )
        )
    return found


def shipped_while_cancelling(
    o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]
) -> list[Finding]:
    if o.status is not Status.AWAITING_DELIVERY:
        return []
    requests, refusals = _events(o, Event.CANCEL_REQUESTED), _events(o, Event.CANCEL_REFUSED)
    delivery = known.get(Deadline.DELIVERY_EXPECTED_BY)
    found = []
    for shipped in _events(o, Event.SHIPPED):
        asked = [t for t in requests if t <= shipped]
        if not asked or now - shipped > c.recent or any(asked[-1] <= t <= shipped for t in refusals):
            continue
        when, name = (delivery.at, Deadline.DELIVERY_EXPECTED_BY.value) if delivery else (shipped, None)
        found.append(
            Finding(
                "shipped_while_cancelling",
                o.order_id,
                when,
                now,
                f"the order shipped on {shipped:%Y-%m-%d %H:%M} UTC while your cancellation request was pending",
                "refuse the delivery, then ask for the refund",
                episode=shipped.isoformat(),
                deadline_name=name,
            )
        )
    return found


def refund_arrived(o: OrderFacts, now: dt.datetime, c: RuleConfig, known: dict[Deadline, Known]) -> list[Finding]:
    if o.refund_status != "completed" or o.refunded_at is None or now - o.refunded_at > c.recent:
        return []
    amount = f"{o.total} {o.currency}" if o.total is not None else "the money"
    expected = o.last_shown.get(Deadline.REFUND_EXPECTED_BY) or refund_expected_by(o, c) or o.refunded_at
    early = expected >= o.refunded_at
    timing = f"arrived {format_duration(expected - o.refunded_at)} {'before' if early else 'after'} it"
    return [
        Finding(
            "refund_arrived",
            o.order_id,
            expected,
            now,
            f"the refund of {amount} arrived on {o.refunded_at:%Y-%m-%d} to {_destination(o)}",
            f"check {_destination(o)}; nothing else to do",
            episode=o.refunded_at.isoformat(),
            deadline_name=Deadline.REFUND_EXPECTED_BY.value,
            timing=timing,
        )
    ]


ORDER_RULES = (
    seller_response_overdue,
    ship_deadline_passed,
    refund_overdue,
    payment_unverified,
    parcel_overdue,
    protection_expiring,
    unpaid_closing,
    dispute_window_closing,
    cancellation_refused,
    shipped_while_cancelling,
    refund_arrived,
)


OVERDUE = frozenset(
    {
        Deadline.SELLER_RESPONSE_BY,
        Deadline.SHIP_BY,
        Deadline.REFUND_EXPECTED_BY,
        Deadline.VERIFICATION_BY,
        Deadline.DELIVERY_EXPECTED_BY,
    }
)


def evaluate(order: OrderFacts, now: dt.datetime, config: RuleConfig) -> list[Finding]:
    known = deadlines(order, config)
    return [finding for rule in ORDER_RULES for finding in rule(order, now, config, known)]


def next_moment(order: OrderFacts, now: dt.datetime, config: RuleConfig) -> dt.datetime | None:
    """The earliest moment after ``now`` at which the order's facts may say something new: a deadline
    passes (the site may have moved it: read it again), an overdue rule's grace ends, a warning level
    is reached. None: nothing will come due until the order changes."""
    moments = []
    for name, d in deadlines(order, config).items():
        moments.append(d.at)
        if name in OVERDUE:
            moments.append(d.at + config.grace)
        if name is Deadline.PROTECTION_ENDS:
            moments += [d.at - dt.timedelta(days=days) for days in config.protection_warning_days]
        if name is Deadline.PAY_BY:
            moments.append(d.at - dt.timedelta(days=config.unpaid_warning_days))
    return min((m for m in moments if m > now), default=None)


def monitor_failing(account: str, since: dt.datetime, now: dt.datetime, failures: int, error: str) -> Finding:
    return Finding(
        "monitor_failing",
        "",
        since,
        now,
        f"the monitor of {account} has failed {failures} polls in a row ({error})",
        "check the credentials, a captcha on the site, or whether the site is up; ordermon keeps retrying",
        episode=since.isoformat(),
    )


def monitor_recovered(account: str, since: dt.datetime, now: dt.datetime) -> Finding:
    return Finding(
        "monitor_recovered",
        "",
        since,
        now,
        f"the monitor of {account} works again",
        "nothing: alerts that came due meanwhile follow",
        episode=since.isoformat(),
    )
