"""What the monitor knows of an order, and its deadlines: the site's where the page shows
one, the monitor's own (computed with its calendar settings) only where it shows none."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from flows.calendar import BusinessCalendar
from flows.domain import Deadline, PaymentMethod, Status

from .windows import Windows

NAMES = frozenset(d.value for d in Deadline)


@dataclass(frozen=True)
class RuleConfig:
    """The windows and the calendar the monitor computes with (one per account)."""

    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    seller_response_hours: float = Windows.SELLER_RESPONSE_HOURS
    processing_business_days: int = Windows.PROCESSING_BUSINESS_DAYS
    refund_business_days: dict[PaymentMethod, int] = field(
        default_factory=lambda: dict.fromkeys(PaymentMethod, Windows.REFUND_BUSINESS_DAYS)
    )
    unpaid_close_days: float = Windows.UNPAID_CLOSE_DAYS
    unpaid_warning_days: float = Windows.UNPAID_WARNING_DAYS
    payment_verification_hours: float = Windows.PAYMENT_VERIFICATION_HOURS
    protection_days: int = Windows.PROTECTION_DAYS
    protection_warning_days: tuple[int, ...] = Windows.PROTECTION_WARNING_DAYS
    dispute_opens_day: int = Windows.DISPUTE_OPENS_DAY
    dispute_after_protection_days: int = Windows.DISPUTE_AFTER_PROTECTION_DAYS
    transit_business_days: dict[str, tuple[int, int]] = field(
        default_factory=lambda: dict(Windows.TRANSIT_BUSINESS_DAYS)
    )
    grace: dt.timedelta = dt.timedelta(minutes=Windows.GRACE_MINUTES)
    recent: dt.timedelta = dt.timedelta(days=Windows.RECENT_DAYS)


@dataclass(frozen=True)
class Known:
    """A deadline as the monitor knows it: ``source`` "site" (read on the page) or "computed";
    ``episode`` counts the times the site moved it."""

    at: dt.datetime
    source: str
    episode: int = 0


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
    completed_at: dt.datetime | None = None
    completed_by: str | None = None
    shipping_method: str | None = None
    refund_status: str = "none"
    refund_started_at: dt.datetime | None = None
    refunded_at: dt.datetime | None = None
    refund_destination: str | None = None
    total: Decimal | None = None
    currency: str | None = None
    timeline: tuple[tuple[dt.datetime, str], ...] = ()
    site_deadlines: dict[str, dt.datetime] = field(default_factory=dict)
    episodes: dict[str, int] = field(default_factory=dict)
    last_shown: dict[str, dt.datetime] = field(default_factory=dict)  # what the page last showed, even gone

    @classmethod
    def from_row(cls, row: dict) -> OrderFacts:
        """The facts of an ``orders`` row of the database."""

        def when(name: str) -> dt.datetime | None:
            return dt.datetime.fromisoformat(row[name]) if row.get(name) else None

        stored = json.loads(row.get("deadlines") or "{}")
        method = row.get("payment_method")
        return cls(
            order_id=row["order_id"],
            status=Status(row["status"]),
            payment_method=PaymentMethod(method) if method else None,
            placed_at=when("placed_at"),
            paid_at=when("paid_at"),
            cancel_requested_at=when("cancel_requested_at"),
            shipped_at=when("shipped_at"),
            completed_at=when("completed_at"),
            completed_by=row.get("completed_by"),
            shipping_method=row.get("shipping_method"),
            refund_status=row.get("refund_status") or "none",
            refund_started_at=when("refund_started_at"),
            refunded_at=when("refunded_at"),
            refund_destination=row.get("refund_destination"),
            total=Decimal(row["total"]) if row.get("total") else None,
            currency=row.get("currency"),
            timeline=tuple(
                (dt.datetime.fromisoformat(at), kind) for at, kind in json.loads(row.get("timeline") or "[]")
            ),
            site_deadlines={
                k: dt.datetime.fromisoformat(v["site"])
                for k, v in stored.items()
                if v.get("site") and v.get("shown", True)
            },
            last_shown={k: dt.datetime.fromisoformat(v["site"]) for k, v in stored.items() if v.get("site")},
            episodes={k: v.get("episode", 0) for k, v in stored.items()},
        )


# ---------------------------------------------------------------------- the monitor's own deadlines
def computed_deadlines(o: OrderFacts, c: RuleConfig) -> dict[Deadline, dt.datetime]:
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


def ship_by(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    return c.calendar.add_business_days(o.paid_at, c.processing_business_days) if o.paid_at else None


def refund_expected_by(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    if o.refund_started_at is None:
        return None
    days = c.refund_business_days.get(o.payment_method or PaymentMethod.CARD, Windows.REFUND_BUSINESS_DAYS)
    return c.calendar.add_business_days(o.refund_started_at, days)


def delivery_expected_by(o: OrderFacts, c: RuleConfig) -> dt.datetime | None:
    """The latest delivery the shipping method promises (Standard 15-45, Premium 7-15 working days)."""
    if o.shipped_at is None:
        return None
    transit = c.transit_business_days.get(o.shipping_method) or c.transit_business_days["standard"]
    return c.calendar.add_business_days(o.shipped_at, transit[1])


def deadlines(o: OrderFacts, c: RuleConfig) -> dict[Deadline, Known]:
    """The deadlines rules go by: the site's, and the monitor's own where the page shows none."""
    known = {
        Deadline(name): Known(at, "site", o.episodes.get(name, 0))
        for name, at in o.site_deadlines.items()
        if name in NAMES
    }
    for name, at in computed_deadlines(o, c).items():
        known.setdefault(name, Known(at, "computed", o.episodes.get(name, 0)))
    return known
