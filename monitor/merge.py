"""Merging: what the monitor knew of an order and what the site shows now, as the new ``Order``.

The list's fields always come from the list; the detail page's facts and
deadlines come from the detail when it was read this poll, else they stay as
they were. Every deadline keeps the site's value (the page's) beside the
monitor's own (computed with the account's windows); one the site shows
elsewhere than it last did (by a minute or more) starts a new episode.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flows.domain import Deadline
from flows.models import OrderDetail, OrderSummary

from .facts import with_computed
from .order import LISTED, Change, Order, TrackedDeadline
from .windows import RuleConfig

MOVED = dt.timedelta(minutes=1)  # the site moved a deadline when it shows it this much elsewhere
NAMES = frozenset(d.value for d in Deadline)
#: The detail page's facts the model keeps (the list's fields come from the list).
FROM_DETAIL: tuple[str, ...] = tuple(
    name
    for name in OrderDetail.model_fields
    if name in Order.model_fields and name not in LISTED and name not in ("timeline", "deadlines")
)


def merge(
    account: str,
    before: Order | None,
    summary: OrderSummary,
    detail: OrderDetail | None,
    now: dt.datetime,
    config: RuleConfig,
) -> tuple[Order, list[Deadline]]:
    """The order as it is now, and the deadlines the site moved since it was last read."""
    data: dict[str, Any] = (
        before.model_dump(exclude={"deadlines"})
        if before is not None
        else {"account": account, "order_id": summary.id, "first_seen": now}
    )
    data.update((name, getattr(summary, name)) for name in LISTED)
    site: dict[Deadline, dt.datetime] | None = None
    if detail is not None:
        data.update((name, getattr(detail, name)) for name in FROM_DETAIL)
        data["timeline"] = tuple((event.at, event.kind) for event in detail.timeline)
        data["detail_read_at"] = now
        site = {Deadline(name): at for name, at in detail.deadlines.items() if name in NAMES}
    old = before.deadlines if before is not None else {}
    deadlines, moved = {}, []
    for name in sorted(set(old) | set(site or ())):
        previous = old.get(name)
        shown = (previous.site if previous else None) if site is None else site.get(name)
        last = previous.last_shown if previous else None
        episode = previous.episode if previous else 0
        if shown and last and abs(shown - last) >= MOVED:
            episode += 1
            moved.append(name)
        deadlines[name] = TrackedDeadline(name=name, site=shown, last_shown=shown or last, episode=episode)
    return with_computed(Order.model_validate(data | {"deadlines": deadlines}), config), moved


def change(before: Order | None, after: Order, now: dt.datetime) -> Change | None:
    """The history row of an order whose status or refund status is not what it was (or is new)."""
    if before is not None and (before.status, before.refund_status) == (after.status, after.refund_status):
        return None
    return Change(
        after.account,
        after.order_id,
        now,
        before.status.value if before else None,
        after.status.value,
        before.refund_status if before else None,
        after.refund_status,
        after.close_reason,
    )
