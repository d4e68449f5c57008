"""The monitor's own deadlines: computed from an order's facts with the account's windows and
calendar, for the deadlines the order page does not show (the site's come first)."""

from __future__ import annotations

import datetime as dt

from flows.domain import Deadline, PaymentMethod, Status

from .order import Order, TrackedDeadline
from .windows import RuleConfig


def computed_deadlines(o: Order, c: RuleConfig) -> dict[Deadline, dt.datetime]:
    """Every deadline of the order's status, computed from its facts and the monitor's settings."""
    cal = c.calendar
    out: dict[Deadline, dt.datetime | None] = {}
    match o.status:
        case Status.AWAITING_PAYMENT if o.placed_at:
            out[Deadline.PAY_BY] = cal.add_days(o.placed_at, c.unpaid_close_days)
        case Status.PAYMENT_VERIFYING if o.paid_at:
            out[Deadline.VERIFICATION_BY] = o.paid_at + dt.timedelta(hours=c.payment_verification_hours)
        case Status.AWAITING_SHIPMENT:
            out[Deadline.SHIP_BY] = ship_by(o, c)
        case Status.AWAITING_CANCELLATION:
            out[Deadline.SHIP_BY] = ship_by(o, c)
            if o.cancel_requested_at:
                out[Deadline.SELLER_RESPONSE_BY] = o.cancel_requested_at + dt.timedelta(hours=c.seller_response_hours)
        case Status.AWAITING_DELIVERY if o.shipped_at:
            protection = cal.add_days(o.shipped_at, c.protection_days)
            out[Deadline.DISPUTE_OPENS] = o.shipped_at + dt.timedelta(days=c.dispute_opens_day)
            out[Deadline.PROTECTION_ENDS] = protection
            out[Deadline.DISPUTE_CLOSES] = protection + dt.timedelta(days=c.dispute_after_protection_days)
            out[Deadline.DELIVERY_EXPECTED_BY] = delivery_expected_by(o, c)
        case Status.COMPLETED if o.completed_at:
            out[Deadline.DISPUTE_CLOSES] = o.completed_at + dt.timedelta(days=c.dispute_after_protection_days)
    if o.refund_status == "pending":
        out[Deadline.REFUND_EXPECTED_BY] = refund_expected_by(o, c)
    return {name: when for name, when in out.items() if when is not None}


def ship_by(o: Order, c: RuleConfig) -> dt.datetime | None:
    return c.calendar.add_business_days(o.paid_at, c.processing_business_days) if o.paid_at else None


def refund_expected_by(o: Order, c: RuleConfig) -> dt.datetime | None:
    if o.refund_started_at is None:
        return None
    days = c.refund_business_days[o.payment_method or PaymentMethod.CARD]  # every method has its window
    return c.calendar.add_business_days(o.refund_started_at, days)


def delivery_expected_by(o: Order, c: RuleConfig) -> dt.datetime | None:
    """The latest delivery the shipping method promises (Standard 15-45, Premium 7-15 working days)."""
    if o.shipped_at is None:
        return None
    method = o.shipping_method if o.shipping_method in c.transit_business_days else "standard"
    return c.calendar.add_business_days(o.shipped_at, c.transit_business_days[method][1])


def with_computed(o: Order, c: RuleConfig) -> Order:
    """The order with the monitor's own deadlines computed (the site's, episodes and what the page
    last showed kept); one that is neither shown, computed nor remembered is gone."""
    computed = computed_deadlines(o, c)
    deadlines = {}
    for name in sorted(set(o.deadlines) | set(computed)):
        previous = o.deadlines.get(name) or TrackedDeadline(name=name)
        tracked = previous.model_copy(update={"computed": computed.get(name)})
        if tracked.at or tracked.last_shown:  # one the page no longer shows is remembered, not judged
            deadlines[name] = tracked
    return o.model_copy(update={"deadlines": deadlines})
