"""What a rule is: its declaration (``Rule``), what it finds (``Finding``), and how an order's
deadline is judged by it. The rules themselves are declared in ``monitor.rules``."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from flows.domain import DEADLINE_LABELS, Deadline, PaymentMethod, Status

from .deadlines import label, relative
from .order import Order, TrackedDeadline
from .windows import REFUND_DESTINATIONS, RuleConfig


class Judged(StrEnum):
    OVERDUE = "overdue"  # the deadline passed, plus the grace period, and the order is still in the state
    WARNING = "warning"  # ahead of the deadline, at each lead time
    EVENT = "event"  # something happened on the order's timeline (its own finder)
    HEALTH = "health"  # about ordermon itself, not an order


class Severity(StrEnum):
    """How soon a person should hear of a finding: money at risk now, a warning, or news."""

    URGENT = "urgent"
    WARNING = "warning"
    INFO = "info"


class Attention(StrEnum):
    """What an order needs, as its rules judge it now."""

    OVERDUE = "overdue"
    WARNING = "warning"
    NONE = "none"


#: A reminder's level ("reminder 2") and how its title begins.
REMINDER = "reminder "
REMINDER_TITLE = "Still open: "


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
        return f"{REMINDER_TITLE}{self.declared.title}" if self.reminder else self.declared.title

    @property
    def reminder(self) -> int:
        """Which reminder of an overdue finding this is (0: the finding itself)."""
        number = self.level.removeprefix(REMINDER)
        return int(number) if number != self.level and number.isdigit() else 0

    @property
    def attention(self) -> Attention:
        return self.declared.attention

    @property
    def severity(self) -> Severity:
        return self.declared.severity_of(self.level)

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
    severity: Severity | None = None  # None: urgent when overdue, else a warning
    urgent_within: float | None = None  # a level this many days or fewer from its deadline is urgent

    def severity_of(self, level: str = "") -> Severity:
        """How urgent this rule's finding at ``level`` ("3d": three days before its deadline) is. A
        reminder is a warning: its finding went out at once, the reminder may wait out quiet hours."""
        if level.startswith(REMINDER):
            return Severity.WARNING
        days = level.removesuffix("d")
        if self.urgent_within is not None and days.replace(".", "", 1).isdigit() and float(days) <= self.urgent_within:
            return Severity.URGENT
        if self.severity is not None:
            return self.severity
        return Severity.URGENT if self.judged is Judged.OVERDUE else Severity.WARNING

    def applies(self, order: Order) -> bool:
        """Whether the order is in a state this rule watches (whatever the time)."""
        return (self.statuses is None or order.status in self.statuses) and self.condition(order)

    def evaluate(self, order: Order, now: dt.datetime, config: RuleConfig) -> list[Finding]:
        if not self.applies(order):
            return []
        if self.finder is not None:
            return self.finder(self, order, now, config)
        d = order.deadline(self.deadline)
        if d is None or d.at is None:
            return []
        if self.judged is Judged.OVERDUE:
            return [self.finding(order, d, now)] if now >= d.at + config.grace else []
        if now >= d.at:  # a warning ahead of a deadline that has passed: nothing left to warn of
            return []
        if self.leads is None:  # the whole time before the deadline
            return [self.finding(order, d, now)]
        leads = self.leads(config)
        reached = [days for days in leads if now >= d.at - dt.timedelta(days=days)]
        if not reached:
            return []
        if not self.levels:
            return [self.finding(order, d, now)]
        return [self.finding(order, d, now, f"{min(reached):g}d", level_words(min(reached), leads))]

    def moments(self, at: dt.datetime, config: RuleConfig) -> list[dt.datetime]:
        """When this rule's judgement of a deadline at ``at`` may change (an overdue rule's, or a
        warning's: its deadline passing is a moment of every deadline)."""
        if self.judged is Judged.OVERDUE:
            return [at + config.grace]
        return [at - dt.timedelta(days=days) for days in (self.leads(config) if self.leads else ())]

    def finding(
        self, order: Order, d: TrackedDeadline, now: dt.datetime, level: str = "", more: dict[str, str] | None = None
    ) -> Finding:
        said = words(order) | (more or {})
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


def words(order: Order) -> dict[str, str]:
    """What a rule's templates may say of the order: where its refund goes, until when its buyer
    protection runs."""
    protection = order.deadline(Deadline.PROTECTION_ENDS)
    return {
        "destination": _destination(order),
        "until": f" (buyer protection ends {protection.at:%Y-%m-%d %H:%M} UTC)" if protection and protection.at else "",
    }


def level_words(days: float, leads: tuple[float, ...]) -> dict[str, str]:
    """What a warning with levels says of the level reached: its days, and how urgent it is
    (the nearest level is urgent, the most distant a watch, any other soon)."""
    urgency = "urgent" if days == min(leads) else "watch" if days == max(leads) else "soon"
    return {"days": f"{days:g}", "urgency": urgency}


#: How the README renders a template's words.
README_WORDS = {
    "destination": "where the refund goes (card, Alipay balance, coupon)",
    "until": "",
    "days": "N",
    "urgency": "watch, soon, urgent",
}


# ---------------------------------------------------------------------- the README's table
def _readme_words(template: str) -> str:
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: README_WORDS[name] for name in fields})


def rule_table(rules: Iterable[Rule]) -> str:
    """The README's rule table of these declarations."""
    lines = [
        "| rule | title | watches | fires when | the order then needs | severity | next step it gives |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in rules:
        if rule.deadline is None:  # the health rules
            watches = "ordermon's own polls"
        elif rule.judged is Judged.EVENT:
            watches = f"its timeline ({DEADLINE_LABELS[rule.deadline]} shown)"
        else:
            watches = DEADLINE_LABELS[rule.deadline]
        needs = "—" if rule.judged is Judged.HEALTH else rule.attention.value
        severity = rule.severity_of().value
        if rule.urgent_within is not None:
            severity += f", {Severity.URGENT.value} within {rule.urgent_within:g} days"
        lines.append(
            f"| `{rule.id}` | {rule.title} | {watches} | {rule.when} | {needs} | {severity} "
            f"| {_readme_words(rule.next_step)} |"
        )
    return "\n".join(lines)
