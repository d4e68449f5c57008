"""The one typed order: what the monitor knows of an order, from the site and of its own.

``Order`` is the only shape an order has inside the monitor: the merge builds
it from the site's answers, the rules judge it, the store maps it to a row (its
columns are this model's fields: ``COLUMNS``), and the views and the report
show it. Each deadline is a ``TrackedDeadline``: the site's value and the
monitor's own, its episode, and its kind (a deadline, or a window's start).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.domain import WINDOW_STARTS, Deadline, Event, PaymentMethod, Status
from flows.models import OrderSummary

DIFFERS = dt.timedelta(hours=1)  # the site's deadline and the monitor's own disagree beyond this


class Kind(StrEnum):
    DEADLINE = "deadline"  # something must happen by then: it can be overdue
    WINDOW_START = "window_start"  # something may be done from then on: it opens, never overdue


class TrackedDeadline(BaseModel):
    """One deadline of an order. ``site``: as the order page shows it now (None: the page shows
    none); ``computed``: the monitor's own, from the account's windows; ``last_shown``: the last
    value the page showed, kept once it shows it no more; ``episode``: how often the site moved it."""

    model_config = ConfigDict(frozen=True)

    name: Deadline = Field(exclude=True)  # the key it is stored under
    site: dt.datetime | None = None
    computed: dt.datetime | None = None
    last_shown: dt.datetime | None = None
    episode: int = 0

    @property
    def kind(self) -> Kind:
        return Kind.WINDOW_START if self.name in WINDOW_STARTS else Kind.DEADLINE

    @property
    def at(self) -> dt.datetime | None:
        """The moment rules go by: the site's, else the monitor's own."""
        return self.site or self.computed

    @property
    def source(self) -> str:
        return "site" if self.site else "computed"

    @property
    def differs_from_settings(self) -> dt.datetime | None:
        """The monitor's own value, where the site's differs from it by more than an hour (the
        user's calendar settings are probably wrong)."""
        if self.site and self.computed and abs(self.site - self.computed) > DIFFERS:
            return self.computed
        return None


class Order(BaseModel):
    """What the monitor knows of one order of one account."""

    model_config = ConfigDict(frozen=True)

    account: str = ""
    order_id: str
    # As the orders list shows it.
    status: Status
    status_label: str = ""
    refund_status: str = "none"
    store: str = ""
    total: Decimal | None = None
    currency: str = ""
    order_date: dt.date | None = None
    # As its detail page shows it (None until the page is read).
    payment_method: PaymentMethod | None = None
    shipping_method: str | None = None
    placed_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    cancel_requested_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    completed_by: str | None = None
    closed_at: dt.datetime | None = None
    close_reason: str | None = None
    cancel_reason: str | None = None
    refund_started_at: dt.datetime | None = None
    refunded_at: dt.datetime | None = None
    refund_destination: str | None = None
    timeline: tuple[tuple[dt.datetime, str], ...] = ()
    # The monitor's own.
    deadlines: dict[Deadline, TrackedDeadline] = Field(default_factory=dict)
    first_seen: dt.datetime | None = None
    detail_read_at: dt.datetime | None = None
    next_due: dt.datetime | None = None  # when something may come due next (rules.next_moment)
    judged_with: str | None = None  # the windows that ``deadlines`` and ``next_due`` were computed with

    @model_validator(mode="before")
    @classmethod
    def _deadline_names(cls, data: Any) -> Any:
        """A stored deadline is keyed by its name; the site's names ordermon does not know are dropped."""
        if isinstance(data, dict) and isinstance(data.get("deadlines"), dict):
            known = {d.value for d in Deadline}
            data = data | {
                "deadlines": {
                    name: (value if isinstance(value, TrackedDeadline) else {**value, "name": name})
                    for name, value in data["deadlines"].items()
                    if name in known
                }
            }
        return data

    def deadline(self, name: Deadline | None) -> TrackedDeadline | None:
        """The deadline if the monitor knows a moment for it (the site's or its own)."""
        found = self.deadlines.get(name) if name is not None else None
        return found if found is not None and found.at is not None else None

    def events(self, kind: Event) -> list[dt.datetime]:
        return [at for at, k in self.timeline if k == kind]

    # ---------------------------------------------------------------- as a database row
    def row(self) -> dict[str, Any]:
        """The order as the store writes it: one column per field, containers as JSON text."""
        row = self.model_dump(mode="json")
        for name in JSON_COLUMNS:
            row[name] = json.dumps(row[name], separators=(",", ":"))
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Order:
        return cls.model_validate(
            {
                k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v)
                for k, v in row.items()
                if v is not None
            }
        )


#: The ``orders`` table's columns: the model's fields (tests/test_store.py checks the schema has them all).
COLUMNS: tuple[str, ...] = tuple(Order.model_fields)
JSON_COLUMNS = frozenset(
    name for name, info in Order.model_fields.items() if get_origin(info.annotation) in (dict, tuple, list)
)
#: What the orders list shows of an order, as the model names it: a difference means it changed.
LISTED: tuple[str, ...] = tuple(
    sorted(
        (name for name in OrderSummary.model_fields if name in Order.model_fields),
        key=lambda name: name not in ("status", "refund_status"),  # the order's state first
    )
)
_STATE = 2  # the first two listed fields: a change there means the order moved on (read its detail)


_LISTED_OF = operator.attrgetter(*LISTED)  # one call per order: a poll compares thousands


def listed(record: OrderSummary | Order) -> tuple[str, ...]:
    """The listed fields as the database writes them (``Order.row``), to compare a list with it."""
    return tuple(map(_text, _LISTED_OF(record)))


def _text(value: Any) -> str:
    if type(value) is str:  # most of them: the common case first
        return value
    if value is None:
        return ""
    if isinstance(value, StrEnum):
        return value.value
    return value.isoformat() if isinstance(value, dt.date) else str(value)


class Glance(NamedTuple):
    """What a poll needs of every stored order to decide which to read again: the listed fields,
    whether its detail was ever read, when something may come due, and the windows it was judged with."""

    listed: tuple[str, ...]
    detail_read: bool
    next_due: dt.datetime | None
    judged_with: str | None


class Change(NamedTuple):
    """One observed change of an order's status or refund status: a row of its history."""

    account: str
    order_id: str
    observed_at: dt.datetime
    status_from: str | None
    status_to: str
    refund_from: str | None
    refund_to: str
    close_reason: str | None


class Plan(NamedTuple):
    """What a poll does with each listed order: read its detail (``read``), merge and judge it
    again without one (``work``); the others are unchanged, with nothing come due."""

    read: list[str]
    work: list[str]


@dataclass
class Known:
    """What the store knew of one account when a poll began: a glance at every order (``GLANCED``,
    in that order), the alerts already created (and when), an open outage. An order's full row is read, and
    typed, only when the poll needs it (``full_rows``: the rows of these order ids, in ``COLUMNS``'
    order): thousands of unchanged orders cost a glance each."""

    account: str
    rows: dict[str, tuple[Any, ...]]
    full_rows: Callable[[list[str]], list[tuple[Any, ...]]]
    #: (order id, rule, level, episode) of every alert -> the site's time it was made at.
    alerted: dict[tuple[str, str, str, str], dt.datetime | None] = field(default_factory=dict)
    outage: dict[str, Any] | None = None

    def stored(self, order_ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """The full rows of the stored orders among these ids (``typed`` makes one an ``Order``:
        a poll of thousands types them one at a time)."""
        wanted = [i for i in order_ids if i in self.rows]
        return {row[_ORDER_ID]: row for row in self.full_rows(wanted)} if wanted else {}

    @staticmethod
    def typed(row: tuple[Any, ...] | None) -> Order | None:
        return None if row is None else Order.from_row(dict(zip(COLUMNS, row, strict=True)))

    def order(self, order_id: str) -> Order | None:
        return self.typed(self.stored([order_id]).get(order_id))

    def __post_init__(self) -> None:
        at = {name: GLANCED.index(name) for name in GLANCED}
        self._listed_of = operator.itemgetter(*(at[name] for name in LISTED))
        self._detail_read, self._next_due, self._judged_with = at["detail_read_at"], at["next_due"], at["judged_with"]

    def glance(self, order_id: str) -> Glance | None:
        row = self.rows.get(order_id)
        if row is None:
            return None
        shown = self._listed_of(row)
        due = row[self._next_due]
        return Glance(
            tuple(v or "" for v in shown) if None in shown else shown,
            row[self._detail_read] is not None,
            dt.datetime.fromisoformat(due) if due else None,
            row[self._judged_with],
        )

    def plan(self, summaries: list[OrderSummary], now: dt.datetime, judged_with: str) -> Plan:
        """New orders, changed ones (status or refund status), ones never read, and ones something
        may have come due for are read afresh; ones otherwise changed on the list, or judged with
        other windows, are merged and judged again from what is known."""
        read, work = [], []
        for summary in summaries:
            seen = self.glance(summary.id)
            now_listed = listed(summary)
            if (
                seen is None
                or seen.listed[:_STATE] != now_listed[:_STATE]
                or not seen.detail_read
                or (seen.next_due is not None and now >= seen.next_due)
            ):
                read.append(summary.id)
            elif seen.listed != now_listed or seen.judged_with != judged_with:
                work.append(summary.id)
        return Plan(read, work)


#: The columns of a glance at a stored order (``Known.rows``): its id, then what a plan compares.
GLANCED: tuple[str, ...] = ("order_id", *LISTED, "detail_read_at", "next_due", "judged_with")
_ORDER_ID = COLUMNS.index("order_id")
