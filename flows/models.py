"""Typed records the flows return."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .domain import Status
from .errors import Outcome

#: The site's answers are parsed with only their keys cached: caching every value (pydantic's default)
#: keeps thousands of small strings alive from a large read, scattered over the heap, which then
#: cannot be given back to the system between polls.
SITE_JSON = ConfigDict(cache_strings="keys")

#: What the site may say, at the seam: no order of an AliExpress-style site was placed before 2000
#: or is due after 2100 (a year 9999 would overflow the rules' calendar), an order id is digits of a
#: sane length (it goes into URLs), an amount is finite, not negative and below a billion.
YEARS = (2000, 2100)


def _in_years(value: dt.date) -> dt.date:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"a date in {value.year}, outside {YEARS[0]}-{YEARS[1]}")
    return value


SiteTime = Annotated[dt.datetime, AfterValidator(_in_years)]
SiteDay = Annotated[dt.date, AfterValidator(_in_years)]
OrderId = Annotated[str, Field(pattern=r"^[0-9]{1,32}$")]
Amount = Annotated[Decimal, Field(ge=0, lt=10**9, allow_inf_nan=False)]


class OrderSummary(BaseModel):
    """One order as the orders list shows it (its text made printable: flows/site.py)."""

    model_config = SITE_JSON

    id: OrderId
    status: Status
    status_label: str
    refund_status: str = "none"
    store: str
    total: Amount
    currency: str
    order_date: SiteDay


class TimelineEvent(BaseModel):
    model_config = SITE_JSON

    at: SiteTime
    kind: str
    text: str = ""


class DeliveryEstimate(BaseModel):
    model_config = SITE_JSON

    earliest: SiteTime
    latest: SiteTime


class OrderDetail(OrderSummary):
    """One order as its detail page shows it."""

    payment_method: str
    payment_method_label: str
    shipping_method: str | None = None
    delivery_estimate: DeliveryEstimate | None = None
    completed_by: str | None = None
    cancellation_pending: bool = False
    timeline: list[TimelineEvent] = []
    close_reason: str | None = None
    cancel_reason: str | None = None
    refund_destination: str | None = None
    tracking_number: str | None = None
    can_cancel: bool = False
    placed_at: SiteTime
    paid_at: SiteTime | None = None
    verified_at: SiteTime | None = None
    cancel_requested_at: SiteTime | None = None
    shipped_at: SiteTime | None = None
    completed_at: SiteTime | None = None
    closed_at: SiteTime | None = None
    refund_started_at: SiteTime | None = None
    refunded_at: SiteTime | None = None
    deadlines: dict[str, SiteTime] = {}


class CancelResult(BaseModel):
    order_id: str
    status_before: Status | None = None
    status_after: Status | None = None
    outcome: Outcome
    reason: str | None = None
    message: str = ""
    artifacts: list[str] = []


class Unreadable(NamedTuple):
    """An order the site answered out of bounds (flows/site.py): its id as the site gave it (made
    printable, at most 40 characters) and why; the other orders of its answer are read as usual."""

    order_id: str
    why: str


class Listed(NamedTuple):
    """An account's orders list: its orders, and the ones it showed that could not be read."""

    orders: list[OrderSummary]
    unreadable: list[Unreadable]


class Reading(NamedTuple):
    """What the site showed of one account in one read: its list, the details asked for, its clock,
    and the orders of its list that could not be read."""

    summaries: list[OrderSummary]
    details: Mapping[str, OrderDetail]  # typed when looked up (flows/reading.py)
    site_now: dt.datetime | None
    unreadable: list[Unreadable] = []  # noqa: RUF012 (a NamedTuple's default, never changed)


#: After an account's list is read (at the site's time): the ids whose detail the read must fetch.
Planner = Callable[[list[OrderSummary], dt.datetime], list[str]]
