"""Deadline rules: pure functions of an order's known facts and "now" (the site's clock)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flows.calendar import BusinessCalendar
from flows.domain import Deadline, PaymentMethod, Status

from .deadlines import relative
from .windows import REFUND_DESTINATIONS, Windows


@dataclass(frozen=True)
class RuleConfig:
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    seller_response_hours: float = Windows.SELLER_RESPONSE_HOURS
    processing_business_days: int = Windows.PROCESSING_BUSINESS_DAYS
    refund_business_days: dict[PaymentMethod, int] = field(
        default_factory=lambda: {m: Windows.REFUND_BUSINESS_DAYS for m in PaymentMethod}
    )
    unpaid_close_days: float = Windows.UNPAID_CLOSE_DAYS
    unpaid_warning_days: float = Windows.UNPAID_WARNING_DAYS
    payment_verification_hours: float = Windows.PAYMENT_VERIFICATION_HOURS
    protection_days: int = Windows.PROTECTION_DAYS
    protection_warning_days: tuple[int, ...] = Windows.PROTECTION_WARNING_DAYS

    @classmethod
    def from_settings(cls, settings) -> RuleConfig:
        return cls(
            calendar=settings.calendar(),
            seller_response_hours=settings.seller_response_hours,
            processing_business_days=settings.processing_business_days,
            refund_business_days=dict(settings.refund_business_days),
            unpaid_close_days=settings.unpaid_close_days,
            unpaid_warning_days=settings.unpaid_warning_days,
            payment_verification_hours=settings.payment_verification_hours,
            protection_days=settings.protection_days,
            protection_warning_days=tuple(sorted(settings.protection_warning_days, reverse=True)),
        )


@dataclass(frozen=True)
class OrderFacts:
    """What the monitor knows of one order (from the list and its detail page)."""

    order_id: str
    status: Status
    payment_method: PaymentMethod | None = None
    placed_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    cancel_requested_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    refund_status: str = "none"
    refund_started_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: dict) -> OrderFacts:
        """The facts of an ``orders`` row of the database."""
        def when(name: str) -> dt.datetime | None:
            return dt.datetime.fromisoformat(row[name]) if row.get(name) else None

        method = row.get("payment_method")
        return cls(
            order_id=row["order_id"], status=Status(row["status"]),
            payment_method=PaymentMethod(method) if method else None,
            placed_at=when("placed_at"), paid_at=when("paid_at"), cancel_requested_at=when("cancel_requested_at"),
            shipped_at=when("shipped_at"), refund_status=row.get("refund_status") or "none",
            refund_started_at=when("refund_started_at"),
        )


@dataclass(frozen=True)
class Finding:
    rule: str
    order_id: str
    deadline: dt.datetime
    now: dt.datetime
    summary: str
    next_step: str
    level: str = ""

    @property
    def late(self) -> dt.timedelta:
        return self.now - self.deadline

    @property
    def message(self) -> str:
        subject = f"Order {self.order_id}: " if self.order_id else ""
        return (
            f"{subject}{self.summary}. Deadline {self.deadline:%Y-%m-%d %H:%M} UTC "
            f"({relative(self.deadline, self.now)}). Next step: {self.next_step}"
        )


# ---------------------------------------------------------------------- deadlines
def seller_response_deadline(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    if o.cancel_requested_at is None:
        return None
    return o.cancel_requested_at + dt.timedelta(hours=c.seller_response_hours)


def ship_deadline(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    return c.calendar.add_business_days(o.paid_at, c.processing_business_days) if o.paid_at else None


def refund_deadline(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    if o.refund_started_at is None:
        return None
    method = o.payment_method or PaymentMethod.CARD
    days = c.refund_business_days.get(method, Windows.REFUND_BUSINESS_DAYS)
    return c.calendar.add_business_days(o.refund_started_at, days)


def protection_end(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    return c.calendar.add_days(o.shipped_at, c.protection_days) if o.shipped_at else None


def unpaid_close(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    return c.calendar.add_days(o.placed_at, c.unpaid_close_days) if o.placed_at else None


def verification_deadline(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    return o.paid_at + dt.timedelta(hours=c.payment_verification_hours) if o.paid_at else None


def deadlines(o: OrderFacts, c: RuleConfig) -> dict[Deadline, dt.datetime]:
    """Every deadline that applies to the order in its current status."""
    found = {
        Status.AWAITING_PAYMENT: {Deadline.PAY_BY: unpaid_close(o, c)},
        Status.PAYMENT_VERIFYING: {Deadline.VERIFICATION_BY: verification_deadline(o, c)},
        Status.AWAITING_SHIPMENT: {Deadline.SHIP_BY: ship_deadline(o, c)},
        Status.AWAITING_CANCELLATION: {Deadline.SELLER_RESPONSE_BY: seller_response_deadline(o, c),
                                       Deadline.SHIP_BY: ship_deadline(o, c)},
        Status.AWAITING_DELIVERY: {Deadline.PROTECTION_ENDS: protection_end(o, c)},
    }.get(o.status, {})
    if o.refund_status == "pending":
        found[Deadline.REFUND_EXPECTED_BY] = refund_deadline(o, c)
    return {name: when for name, when in found.items() if when is not None}


# ---------------------------------------------------------------------- rules
def seller_response_overdue(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    deadline = seller_response_deadline(o, c)
    if o.status is not Status.AWAITING_CANCELLATION or deadline is None or now < deadline:
        return []
    return [Finding(
        "seller_response_overdue", o.order_id, deadline, now,
        "the seller has not answered the cancellation request, and the platform has not cancelled it",
        "contact customer service to have the order cancelled and refunded; "
        "if it ships anyway, refuse the delivery",
    )]


def ship_deadline_passed(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    deadline = ship_deadline(o, c)
    if o.status is not Status.AWAITING_SHIPMENT or deadline is None or now < deadline:
        return []
    return [Finding(
        "ship_deadline_passed", o.order_id, deadline, now,
        "the seller has not shipped by the end of the processing time and the order is still open",
        'request cancellation with the reason "The supplier refuses to ship the product(s)", '
        "or contact customer service",
    )]


def refund_overdue(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    deadline = refund_deadline(o, c)
    if o.refund_status != "pending" or deadline is None or now < deadline:
        return []
    destination = REFUND_DESTINATIONS.get(o.payment_method or PaymentMethod.CARD, "the original method")
    return [Finding(
        "refund_overdue", o.order_id, deadline, now,
        f"the refund has not arrived by the end of its window (to {destination})",
        f"check {destination}, then contact customer service with the order id",
    )]


def protection_expiring(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    """One finding per warning level; only the most urgent level reached counts."""
    end = protection_end(o, c)
    if o.status is not Status.AWAITING_DELIVERY or end is None or now >= end:
        return []
    reached = [days for days in c.protection_warning_days if now >= end - dt.timedelta(days=days)]
    if not reached:
        return []
    level = min(reached)
    urgency = {max(c.protection_warning_days): "watch", min(c.protection_warning_days): "urgent"}.get(level, "soon")
    return [Finding(
        "protection_expiring", o.order_id, end, now,
        f"buyer protection ends within {level} days and the order has not arrived ({urgency})",
        "open a dispute before the protection ends, or ask the seller to extend it",
        level=f"{level}d",
    )]


def payment_unverified(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    deadline = verification_deadline(o, c)
    if o.status is not Status.PAYMENT_VERIFYING or deadline is None or now < deadline:
        return []
    return [Finding(
        "payment_unverified", o.order_id, deadline, now,
        "the payment is still being verified after its window",
        "contact customer service about the payment; do not pay twice",
    )]


def unpaid_closing(o: OrderFacts, now: dt.datetime, c: RuleConfig) -> list[Finding]:
    deadline = unpaid_close(o, c)
    if o.status is not Status.AWAITING_PAYMENT or deadline is None or now >= deadline:
        return []
    if now < deadline - dt.timedelta(days=c.unpaid_warning_days):
        return []
    return [Finding(
        "unpaid_closing", o.order_id, deadline, now,
        "the unpaid order is about to close by itself",
        "pay before the deadline if you still want it; otherwise nothing to do",
    )]


ORDER_RULES = (
    seller_response_overdue, ship_deadline_passed, refund_overdue, protection_expiring,
    payment_unverified, unpaid_closing,
)


def evaluate(order: OrderFacts, now: dt.datetime, config: RuleConfig) -> list[Finding]:
    return [finding for rule in ORDER_RULES for finding in rule(order, now, config)]


def monitor_failing(account: str, since: dt.datetime, now: dt.datetime, failures: int, error: str) -> Finding:
    return Finding(
        "monitor_failing", "", since, now,
        f"the monitor of {account} has failed {failures} polls in a row ({error})",
        "check the credentials, a captcha on the site, or whether the site is up; ordermon keeps retrying",
    )


def monitor_recovered(account: str, since: dt.datetime, now: dt.datetime) -> Finding:
    return Finding(
        "monitor_recovered", "", since, now,
        f"the monitor of {account} works again",
        "nothing: alerts that came due meanwhile follow",
    )
