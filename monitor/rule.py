"""What a rule is: its declaration (``Rule``), what it finds (``Finding``), and how an order's
deadline is judged by it. The rules themselves are declared in ``monitor.rules``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from flows.domain import Deadline, PaymentMethod, Status

from .deadlines import label, relative
from .order import Order, TrackedDeadline
from .windows import REFUND_DESTINATIONS, RuleConfig


class Judged(StrEnum):
    OVERDUE = "overdue"  # the deadline passed, plus the grace period, and the order is still in the state
    WARNING = "warning"  # ahead of the deadline, at each lead time
    EVENT = "event"  # something happened on the order's timeline (its own finder)
    HEALTH = "health"  # about ordermon itself, not an order


class Attention(StrEnum):
    """What an order needs, as its rules judge it now."""

    OVERDUE = "overdue"
    WARNING = "warning"
    NONE = "none"


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
        return self.declared.title

    @property
    def attention(self) -> Attention:
        return self.declared.attention

    @property
    def declared(self) -> Rule:
        from .rules import RULES  # the declarations import this module

        return RULES[self.rule]

    @property
    def message(self) -> str:
        subject = f"Order {self.order_id}: " if self.order_id else ""
        what = label(self.deadline_name) if self.deadline_name else "Deadline"
        return (
            f"{subject}{self.summary}. {what} {self.deadline:%Y-%m-%d %H:%M} UTC "
            f"({self.timing or relative(self.deadline, self.now)}). Next step: {self.next_step}"
        )


Finder = Callable[["Rule", Order, dt.datetime, RuleConfig], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule. ``summary`` and ``next_step`` are templates over ``_words`` (the refund's
    ``destination``, the protection's ``until``, a warning's ``days`` and ``urgency``)."""

    id: str
    title: str
    judged: Judged
    when: str  # when it fires, in the README's words
    summary: str
    next_step: str
    deadline: Deadline | None = None
    statuses: frozenset[Status] | None = None  # None: in any status
    condition: Callable[[Order], bool] = lambda order: True  # beyond the status
    attention: Attention = Attention.WARNING
    leads: Callable[[RuleConfig], tuple[float, ...]] | None = None  # warning: days ahead; None: the whole time
    levels: bool = False  # each lead is a level of its own, warned once each ("14d", "7d", "3d")
    finder: Finder | None = None  # event: the findings of the order's timeline

    def applies(self, order: Order) -> bool:
        """Whether the order is in a state this rule watches (whatever the time)."""
        return (self.statuses is None or order.status in self.statuses) and self.condition(order)

    def evaluate(self, order: Order, now: dt.datetime, config: RuleConfig) -> list[Finding]:
        if not self.applies(order):
            return []
        if self.finder is not None:
            return self.finder(self, order, now, config)
        d = order.deadline(self.deadline) if self.deadline else None
        if d is None or d.at is None:
            return []
        if self.judged is Judged.OVERDUE:
            return [self.finding(order, d, now, config)] if now >= d.at + config.grace else []
        if now >= d.at:  # a warning ahead of a deadline that has passed: nothing left to warn of
            return []
        leads = self.leads(config) if self.leads else ()
        reached = [days for days in leads if now >= d.at - dt.timedelta(days=days)]
        if self.leads is not None and not reached:
            return []
        level = f"{min(reached)}d" if self.levels else ""
        return [self.finding(order, d, now, config, level, leads)]

    def moments(self, d: TrackedDeadline, config: RuleConfig) -> list[dt.datetime]:
        """When this rule's judgement of the deadline may change."""
        if d.at is None or self.finder is not None:
            return []
        if self.judged is Judged.OVERDUE:
            return [d.at + config.grace]
        leads = self.leads(config) if self.leads else ()
        return [d.at, *(d.at - dt.timedelta(days=days) for days in leads)]

    def finding(
        self,
        order: Order,
        d: TrackedDeadline,
        now: dt.datetime,
        config: RuleConfig,
        level: str = "",
        leads: tuple[float, ...] = (),
    ) -> Finding:
        said = words(order, config, level, leads)
        return Finding(
            self.id,
            order.order_id,
            d.at or now,
            now,
            self.summary.format(**said),
            self.next_step.format(**said),
            level,
            f"{d.name.value}:{d.episode}",
            d.name.value,
        )


def _destination(o: Order) -> str:
    return o.refund_destination or REFUND_DESTINATIONS.get(
        o.payment_method or PaymentMethod.CARD, "the original method"
    )


def words(order: Order, config: RuleConfig, level: str, leads: tuple[float, ...]) -> dict[str, str]:
    """What a rule's templates may say of the order."""
    protection = order.deadline(Deadline.PROTECTION_ENDS)
    days = level.removesuffix("d")
    urgency = ""
    if leads and days:
        urgency = {str(max(leads)): "watch", str(min(leads)): "urgent"}.get(days, "soon")
    return {
        "destination": _destination(order),
        "until": f" (buyer protection ends {protection.at:%Y-%m-%d %H:%M} UTC)" if protection and protection.at else "",
        "days": days,
        "urgency": urgency,
    }


#: How the README renders a template's words.
README_WORDS = {
    "destination": "where the refund goes (card, Alipay balance, coupon)",
    "until": "",
    "days": "N",
    "urgency": "watch, soon, urgent",
}
