"""Facts of the marketplace that the storefront, the flows and the monitor share.

Everything here comes from ``shared/DOMAIN.md``; where sources disagree the
number is a default that settings may override.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


class Status(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_VERIFYING = "payment_verifying"
    AWAITING_SHIPMENT = "awaiting_shipment"
    AWAITING_CANCELLATION = "awaiting_cancellation"
    AWAITING_DELIVERY = "awaiting_delivery"
    COMPLETED = "completed"
    CLOSED = "closed"
    DISPUTE = "dispute"


#: The label a buyer sees on the page, per status.
STATUS_LABELS: dict[Status, str] = {
    Status.AWAITING_PAYMENT: "Awaiting payment",
    Status.PAYMENT_VERIFYING: "Payment being verified",
    Status.AWAITING_SHIPMENT: "Awaiting shipment",
    Status.AWAITING_CANCELLATION: "Awaiting cancellation",
    Status.AWAITING_DELIVERY: "Awaiting delivery",
    Status.COMPLETED: "Completed",
    Status.CLOSED: "Closed",
    Status.DISPUTE: "Dispute / refund in progress",
}
STATUS_BY_LABEL: dict[str, Status] = {label: status for status, label in STATUS_LABELS.items()}


class Tab(StrEnum):
    ALL = "all"
    TO_PAY = "to_pay"
    TO_SHIP = "to_ship"
    SHIPPED = "shipped"
    PROCESSED = "processed"


TAB_LABELS: dict[Tab, str] = {
    Tab.ALL: "View all",
    Tab.TO_PAY: "To pay",
    Tab.TO_SHIP: "To ship",
    Tab.SHIPPED: "Shipped",
    Tab.PROCESSED: "Processed",
}

TAB_STATUSES: dict[Tab, frozenset[Status]] = {
    Tab.ALL: frozenset(Status),
    Tab.TO_PAY: frozenset({Status.AWAITING_PAYMENT}),
    Tab.TO_SHIP: frozenset(
        {Status.PAYMENT_VERIFYING, Status.AWAITING_SHIPMENT, Status.AWAITING_CANCELLATION}
    ),
    Tab.SHIPPED: frozenset({Status.AWAITING_DELIVERY}),
    Tab.PROCESSED: frozenset({Status.COMPLETED, Status.CLOSED, Status.DISPUTE}),
}


class CloseReason(StrEnum):
    BUYER_CANCEL_NOTPAY_ORDER = "buyer_cancel_notpay_order"
    BUYER_PAY_TIMEOUT = "buyer_pay_timeout"
    CANCEL_ORDER_CLOSE_TRADE = "cancel_order_close_trade"
    SELLER_SEND_GOODS_TIMEOUT = "seller_send_goods_timeout"
    RISK_REJECT_CLOSED = "risk_reject_closed"
    SELLER_RESPONSE_ISSUE_TIMEOUT = "seller_response_issue_timeout"


#: Cancellation reasons in the real site's wording, and whether each counts
#: as the buyer's fault (True) or against the seller (False).
CANCEL_REASONS: dict[str, bool] = {
    "I ordered the wrong product(s)": True,
    "I placed a duplicate order": True,
    "I don't need this order": True,
    "Shipping takes too long": False,
    "I am not able to contact the supplier": False,
    "The supplier said the product(s) I want is out of stock": False,
    "The supplier refuses to ship the product(s)": False,
}


class PaymentMethod(StrEnum):
    CARD = "card"
    ALIPAY = "alipay"
    BANK_TRANSFER = "bank_transfer"
    WESTERN_UNION = "western_union"
    COD = "cod"


PAYMENT_METHOD_LABELS: dict[PaymentMethod, str] = {
    PaymentMethod.CARD: "Bank card",
    PaymentMethod.ALIPAY: "Alipay",
    PaymentMethod.BANK_TRANSFER: "Bank transfer",
    PaymentMethod.WESTERN_UNION: "Western Union",
    PaymentMethod.COD: "Cash on delivery",
}

#: Where a refund goes, by the order's payment method (seed 001).
REFUND_DESTINATIONS: dict[PaymentMethod, str] = {
    PaymentMethod.CARD: "the original payment method",
    PaymentMethod.ALIPAY: "the Alipay balance",
    PaymentMethod.BANK_TRANSFER: "the Alipay balance",
    PaymentMethod.WESTERN_UNION: "the Alipay balance",
    PaymentMethod.COD: "a coupon",
}


class Windows:
    """Default window lengths (DOMAIN.md, "Clocks and windows")."""

    SELLER_RESPONSE_HOURS = 72.0
    PROCESSING_BUSINESS_DAYS = 7
    REFUND_BUSINESS_DAYS_MIN = 3
    REFUND_BUSINESS_DAYS = 20
    UNPAID_CLOSE_DAYS = 20.0
    PAYMENT_VERIFICATION_HOURS = 24.0
    PROTECTION_DAYS = 60
    DISPUTE_OPENS_DAY = 11
    DISPUTE_AFTER_PROTECTION_DAYS = 15
    PROTECTION_WARNING_DAYS = (14, 7, 3)
    TRANSIT_BUSINESS_DAYS = {"standard": (15, 45), "premium": (7, 15)}


def check_timezone(value: str) -> str:
    """A settings validator: an IANA zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}") from None
    return value


def check_holiday_country(value: str | None) -> str | None:
    """A settings validator: a country the holidays library knows (or none)."""
    if value:
        try:
            BusinessCalendar(value)
        except NotImplementedError:
            raise ValueError(f"unknown holiday country {value!r}") from None
    return value


class BusinessCalendar:
    """Monday to Friday, less the public holidays of a country and extra dates.

    Deadlines are computed in ``timezone``: a time-of-day is kept, the date moves.
    """

    def __init__(
        self,
        country: str | None = None,
        extra_holidays: list[dt.date] | tuple[dt.date, ...] = (),
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.country = country
        self.timezone = timezone
        base = holidays.country_holidays(country) if country else holidays.HolidayBase()
        base.update({day: "Holiday" for day in extra_holidays})
        self._holidays = base
        self._nth_cache: dict[tuple[dt.date, int], dt.date] = {}

    def is_business_day(self, day: dt.date) -> bool:
        return self._holidays.is_working_day(day)

    def nth_business_day(self, day: dt.date, n: int) -> dt.date:
        """The holidays library's answer, remembered: many orders share their dates."""
        key = (day, n)
        found = self._nth_cache.get(key)
        if found is None:
            found = self._nth_cache[key] = self._holidays.get_nth_working_day(day, n)
        return found

    def add_business_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The moment ``days`` business days after ``start``, same local time of day."""
        local = start.astimezone(self.timezone)
        target = self.nth_business_day(local.date(), days)
        moved = dt.datetime.combine(target, local.timetz())
        return moved.astimezone(dt.UTC)

    def roll_forward(self, moment: dt.datetime) -> dt.datetime:
        """A deadline landing on a weekend or holiday moves to the next business day."""
        local = moment.astimezone(self.timezone)
        target = self.nth_business_day(local.date(), 0)
        return dt.datetime.combine(target, local.timetz()).astimezone(dt.UTC)

    def add_days(self, start: dt.datetime, days: float) -> dt.datetime:
        """Calendar days, then rolled to a business day."""
        return self.roll_forward(start + dt.timedelta(days=days))


#: What the buyer can do next, when an order can no longer be cancelled.
NEXT_STEPS: dict[Status, str] = {
    Status.PAYMENT_VERIFYING: "wait until the payment is verified (Awaiting shipment), then request cancellation",
    Status.AWAITING_CANCELLATION: "wait for the seller's answer; the platform cancels if the seller does not answer in time",
    Status.AWAITING_DELIVERY: "it has shipped: refuse the delivery or return it after it arrives; "
    "if it does not arrive, open a dispute before the buyer protection ends",
    Status.COMPLETED: "open a return or a dispute from the order page if something is wrong",
    Status.CLOSED: "nothing to cancel: the order is already closed",
    Status.DISPUTE: "follow the open dispute on the order page",
}
