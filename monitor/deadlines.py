"""How deadlines read to a buyer: their labels and "how long left / how late".

The names are the site's (``flows.domain.Deadline``); every command, alert and
the report words them the same way.
"""

from __future__ import annotations

import datetime as dt

from flows.domain import DEADLINE_LABELS, Deadline


def label(name: str) -> str:
    """The label the order page gives a deadline ("Seller must answer by")."""
    try:
        return DEADLINE_LABELS[Deadline(name)]
    except ValueError:
        return name


def format_duration(delta: dt.timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m"


def relative(when: dt.datetime, now: dt.datetime) -> str:
    """ "3d 4h left" before the deadline, "2h 5m overdue" after it."""
    if when >= now:
        return f"{format_duration(when - now)} left"
    return f"{format_duration(now - when)} overdue"
