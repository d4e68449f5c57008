"""Typed records the flows return."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from .domain import Status
from .errors import Outcome

#: The site's answers are parsed with only their keys cached: caching every value (pydantic's default)
#: keeps thousands of small strings alive from a large read, scattered over the heap, which then
#: cannot be given back to the system between polls.
SITE_JSON = ConfigDict(cache_strings="keys")


class OrderSummary(BaseModel):
    """One order as the orders list shows it (its text made printable: flows/site.py)."""

    model_config = SITE_JSON

    id: str
    status: Status
    status_label: str
    refund_status: str = "none"
    store: str
    total: Decimal
    currency: str
    order_date: dt.date


class TimelineEvent(BaseModel):
    model_config = SITE_JSON

    at: dt.datetime
    kind: str
    text: str = ""


class DeliveryEstimate(BaseModel):
    model_config = SITE_JSON

    earliest: dt.datetime
    latest: dt.datetime


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
    placed_at: dt.datetime
    paid_at: dt.datetime | None = None
    verified_at: dt.datetime | None = None
    cancel_requested_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    refund_started_at: dt.datetime | None = None
    refunded_at: dt.datetime | None = None
    deadlines: dict[str, dt.datetime] = {}


class CancelResult(BaseModel):
    order_id: str
    status_before: Status | None = None
    status_after: Status | None = None
    outcome: Outcome
    reason: str | None = None
    message: str = ""
    artifacts: list[str] = []


class Reading(NamedTuple):
    """What the site showed of one account in one read: its list, the details asked for, its clock."""

    summaries: list[OrderSummary]
    details: Mapping[str, OrderDetail]  # typed when looked up (flows/reading.py)
    site_now: dt.datetime | None


#: After an account's list is read (at the site's time): the ids whose detail the read must fetch.
Planner = Callable[[list[OrderSummary], dt.datetime], list[str]]
