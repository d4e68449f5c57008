"""Business-day arithmetic: the one piece of code the storefront and the client share.

Business days are Monday to Friday less the public holidays of a country and
extra dates (docs/domain.md, Windows); a calendar-day deadline that lands on a
weekend or holiday moves to the next business day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


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
        self.extra_holidays = tuple(sorted(extra_holidays))
        base = holidays.country_holidays(country) if country else holidays.HolidayBase()
        base.update(dict.fromkeys(extra_holidays, "Holiday"))
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
