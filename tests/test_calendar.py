"""Business days and deadlines: weekends, holidays (a country's and extra dates), the calendar's own
time zone near midnight, the monitor's computed deadlines, how they read, and settings that refuse a
calendar they cannot build. Expected moments are worked out by hand, in the comments beside them."""

import datetime as dt
import json
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from conftest import clean_env, facts, one_line_error, ordermon
from pydantic import ValidationError

from fixtures.storefront.settings import StorefrontSettings
from flows.calendar import BusinessCalendar, check_holiday_country, check_timezone
from flows.domain import Deadline, PaymentMethod, Status
from monitor.deadlines import format_duration, label, relative
from monitor.facts import computed_deadlines, with_computed
from monitor.order import Order, TrackedDeadline
from monitor.settings import MonitorSettings
from monitor.windows import RuleConfig

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no summer time
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # UTC-8 in winter, UTC-7 in summer
H, D, M, S = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(minutes=1), dt.timedelta(seconds=1)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def in_utc(moment: dt.datetime) -> bool:
    """A deadline is stored and shown in UTC, whatever the calendar's or the host's zone."""
    return moment.utcoffset() == dt.timedelta(0) and moment.tzname() == "UTC"


@pytest.fixture
def host_in_los_angeles(monkeypatch):
    """The process's local time zone is not UTC (a laptop in California): nothing may depend on it."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- weekends and holidays
def test_weekdays_are_business_days_weekends_are_not():
    cal = BusinessCalendar()
    week = [dt.date(2026, 11, 16) + n * D for n in range(7)]  # Mon 16 .. Sun 22 Nov 2026
    assert [cal.is_business_day(day) for day in week] == [True] * 5 + [False] * 2


def test_a_countrys_public_holidays_and_extra_dates_are_not_business_days():
    us = BusinessCalendar("US", [dt.date(2026, 11, 27)])  # Thanksgiving Thu 26 Nov; the Friday after, by hand
    assert us.country == "US"
    assert not us.is_business_day(dt.date(2026, 11, 26)) and not us.is_business_day(dt.date(2026, 11, 27))
    assert us.is_business_day(dt.date(2026, 11, 25))
    assert BusinessCalendar("US").is_business_day(dt.date(2026, 11, 27))  # not a US public holiday
    assert BusinessCalendar().is_business_day(dt.date(2026, 11, 26))  # no country: no public holidays
    extra_only = BusinessCalendar(extra_holidays=(dt.date(2026, 12, 24),))
    assert extra_only.country is None and not extra_only.is_business_day(dt.date(2026, 12, 24))


def test_a_weekend_workday_of_the_country_is_a_business_day():
    cn = BusinessCalendar("CN")  # Sat 10 Oct 2026 is worked in China in exchange for the National Day week
    assert cn.is_business_day(dt.date(2026, 10, 10))
    assert [cn.is_business_day(dt.date(2026, 10, d)) for d in range(1, 9)] == [False] * 7 + [True]


def test_business_days_skip_weekends_and_holidays():
    cal = BusinessCalendar("DE", [dt.date(2026, 12, 24)])
    friday = dt.date(2026, 12, 18)
    # Mon 21, Tue 22, Wed 23, [Thu 24 extra, Fri 25 and Sat 26 Christmas, Sun 27], Mon 28
    assert [cal.nth_business_day(friday, n) for n in (1, 2, 3, 4)] == [
        dt.date(2026, 12, 21),
        dt.date(2026, 12, 22),
        dt.date(2026, 12, 23),
        dt.date(2026, 12, 28),
    ]
    assert cal.nth_business_day(dt.date(2026, 12, 26), 0) == dt.date(2026, 12, 28)  # a holiday: the next one
    assert cal.nth_business_day(friday, 0) == friday  # a business day: itself
    assert cal.nth_business_day(dt.date(2026, 12, 28), -1) == dt.date(2026, 12, 23)  # backwards (the demo)


def test_the_nth_business_day_is_asked_of_the_holidays_library_once_per_date(monkeypatch):
    asked = []
    library = holidays.HolidayBase.get_nth_working_day

    def counting(self, day, n):
        asked.append((day, n))
        return library(self, day, n)

    monkeypatch.setattr(holidays.HolidayBase, "get_nth_working_day", counting)
    cal = BusinessCalendar("US")
    first = cal.nth_business_day(dt.date(2026, 11, 20), 7)
    assert first == dt.date(2026, 12, 2)  # 7 business days after Fri 20 Nov, Thanksgiving skipped
    assert [cal.nth_business_day(dt.date(2026, 11, 20), 7) for _ in range(3)] == [first] * 3
    assert asked == [(dt.date(2026, 11, 20), 7)]
    assert cal.nth_business_day(dt.date(2026, 11, 20), 8) == dt.date(2026, 12, 3)  # another key: asked again
    assert cal.nth_business_day(dt.date(2026, 11, 23), 7) == dt.date(2026, 12, 3)
    assert len(asked) == 3
    assert BusinessCalendar("US").nth_business_day(dt.date(2026, 11, 20), 7) == first  # each calendar its own
    assert len(asked) == 4


# ---------------------------------------------------------------- the calendar's time zone
def test_business_days_are_counted_on_the_calendars_local_date():
    # Fri 20 Nov 17:00 UTC is already Saturday 01:00 in Shanghai: one business day later is Monday
    # 01:00 there (Sunday 17:00 UTC); in UTC it is Monday 17:00.
    friday_evening = at(2026, 11, 20, 17)
    shanghai = BusinessCalendar(timezone=SHANGHAI).add_business_days(friday_evening, 1)
    assert shanghai == at(2026, 11, 22, 17) and in_utc(shanghai)
    assert BusinessCalendar().add_business_days(friday_evening, 1) == at(2026, 11, 23, 17)
    # Sat 21 Nov 05:00 UTC is still Friday 21:00 in Los Angeles: next business day Monday 21:00 there,
    # Tuesday 05:00 UTC; in UTC Saturday counts from Monday 05:00.
    saturday_early = at(2026, 11, 21, 5)
    assert BusinessCalendar(timezone=LOS_ANGELES).add_business_days(saturday_early, 1) == at(2026, 11, 24, 5)
    assert BusinessCalendar().add_business_days(saturday_early, 1) == at(2026, 11, 23, 5)


def test_a_local_holiday_counts_on_the_local_date():
    # Wed 25 Nov 2026 21:00 PST is Thursday 05:00 UTC: one US business day later is Friday 27 21:00 PST
    # (Thanksgiving, Thu 26, skipped), Saturday 05:00 UTC; counted in UTC it starts on Thanksgiving.
    wednesday_night = at(2026, 11, 26, 5)
    la = BusinessCalendar("US", timezone=LOS_ANGELES)
    assert la.add_business_days(wednesday_night, 1) == at(2026, 11, 28, 5)
    assert BusinessCalendar("US").add_business_days(wednesday_night, 1) == at(2026, 11, 27, 5)


def test_the_local_time_of_day_is_kept_across_a_change_of_summer_time():
    # Fri 30 Oct 2026 16:00 PDT (23:00 UTC); summer time ends Sun 1 Nov: Monday 16:00 PST is 00:00 UTC.
    assert BusinessCalendar(timezone=LOS_ANGELES).add_business_days(at(2026, 10, 30, 23), 1) == at(2026, 11, 3, 0)


def test_a_deadline_on_a_local_weekend_rolls_to_the_next_local_business_day():
    # Fri 20 Nov 20:00 UTC is Saturday 04:00 in Shanghai: Monday 04:00 there, Sunday 20:00 UTC.
    shanghai = BusinessCalendar(timezone=SHANGHAI)
    rolled = shanghai.roll_forward(at(2026, 11, 20, 20))
    assert rolled == at(2026, 11, 22, 20) and in_utc(rolled)
    assert BusinessCalendar().roll_forward(at(2026, 11, 20, 20)) == at(2026, 11, 20, 20)
    # Mon 23 Nov 06:00 UTC is Sunday 22:00 in Los Angeles: Monday 22:00 there, Tuesday 06:00 UTC.
    assert BusinessCalendar(timezone=LOS_ANGELES).roll_forward(at(2026, 11, 23, 6)) == at(2026, 11, 24, 6)
    # On a business day nothing moves.
    assert shanghai.roll_forward(at(2026, 11, 20, 3)) == at(2026, 11, 20, 3)


def test_calendar_days_then_the_next_local_business_day():
    # Thu 19 Nov 16:30 UTC (Fri 00:30 Shanghai) + 1 day = Saturday 00:30 Shanghai: Monday 00:30 there.
    assert BusinessCalendar(timezone=SHANGHAI).add_days(at(2026, 11, 19, 16, 30), 1) == at(2026, 11, 22, 16, 30)
    assert BusinessCalendar().add_days(at(2026, 11, 19, 16, 30), 1) == at(2026, 11, 20, 16, 30)
    assert BusinessCalendar().add_days(at(2026, 11, 20, 15), 0.5) == at(2026, 11, 23, 3)  # Sat 03:00 -> Mon 03:00


def test_deadlines_are_in_utc_whatever_the_hosts_time_zone(host_in_los_angeles):
    assert time.localtime(at(2026, 11, 20, 12).timestamp()).tm_hour == 4  # the fixture took effect
    cal = BusinessCalendar()
    for moment in (
        cal.add_business_days(at(2026, 11, 20, 10), 7),
        cal.roll_forward(at(2026, 11, 21, 10)),
        cal.add_days(at(2026, 11, 20, 10), 1),
    ):
        assert in_utc(moment) and moment.isoformat().endswith("+00:00"), moment
    assert cal.add_business_days(at(2026, 11, 20, 10), 7) == at(2026, 12, 1, 10)
    assert cal.roll_forward(at(2026, 11, 21, 10)) == at(2026, 11, 23, 10)
    shanghai = BusinessCalendar(timezone=SHANGHAI)  # an explicit zone is never replaced by the host's
    assert shanghai.roll_forward(at(2026, 11, 20, 20)) == at(2026, 11, 22, 20)
    assert in_utc(shanghai.roll_forward(at(2026, 11, 20, 20)))


# ---------------------------------------------------------------- the monitor's computed deadlines
FRIDAY = at(2026, 11, 20, 10)
DEFAULTS = RuleConfig()


def computed(config=DEFAULTS, **facts) -> dict:
    return computed_deadlines(Order(order_id="1", **facts), config)


def test_every_status_has_its_own_deadlines():
    assert computed(status=Status.AWAITING_PAYMENT, placed_at=FRIDAY) == {"pay_by": at(2026, 12, 10, 10)}
    assert computed(status=Status.AWAITING_PAYMENT) == {}
    assert computed(status=Status.PAYMENT_VERIFYING, paid_at=FRIDAY) == {"verification_by": FRIDAY + 24 * H}
    assert computed(status=Status.PAYMENT_VERIFYING) == {}
    assert computed(status=Status.AWAITING_SHIPMENT, paid_at=FRIDAY) == {"ship_by": at(2026, 12, 1, 10)}
    assert computed(status=Status.AWAITING_SHIPMENT) == {}
    assert computed(status=Status.AWAITING_CANCELLATION, paid_at=FRIDAY, cancel_requested_at=FRIDAY + H) == {
        "ship_by": at(2026, 12, 1, 10),
        "seller_response_by": FRIDAY + 73 * H,
    }
    assert computed(status=Status.AWAITING_CANCELLATION, paid_at=FRIDAY) == {"ship_by": at(2026, 12, 1, 10)}
    assert computed(status=Status.COMPLETED, completed_at=FRIDAY) == {"dispute_closes": FRIDAY + 15 * D}
    assert computed(status=Status.COMPLETED) == {}
    assert computed(status=Status.CLOSED, paid_at=FRIDAY, shipped_at=FRIDAY) == {}
    assert computed(status=Status.DISPUTE, paid_at=FRIDAY, shipped_at=FRIDAY) == {}


def test_a_parcel_on_its_way_has_four_deadlines():
    # Shipped Fri 20 Nov 10:00 UTC: a dispute can be opened from day 11 (Tue 1 Dec, a calendar date,
    # not rolled); protection ends 60 days later (Tue 19 Jan 2027); the dispute window closes 15 days
    # after that (Wed 3 Feb); Standard delivery is 45 business days (Fri 22 Jan 2027).
    assert computed(status=Status.AWAITING_DELIVERY, shipped_at=FRIDAY) == {
        "dispute_opens": at(2026, 12, 1, 10),
        "protection_ends": at(2027, 1, 19, 10),
        "dispute_closes": at(2027, 2, 3, 10),
        "delivery_expected_by": at(2027, 1, 22, 10),
    }
    assert computed(status=Status.AWAITING_DELIVERY) == {}
    config = RuleConfig(dispute_opens_day=3, dispute_after_protection_days=1, protection_days=2)
    assert computed(config, status=Status.AWAITING_DELIVERY, shipped_at=at(2026, 11, 18, 10)) == {
        # Wed 18 + 3 days = Sat 21 (not rolled); + 2 days = Fri 20; + 1 day = Sat 21 (not rolled);
        # 45 business days = 9 weeks: Wed 20 Jan 2027
        "dispute_opens": at(2026, 11, 21, 10),
        "protection_ends": at(2026, 11, 20, 10),
        "dispute_closes": at(2026, 11, 21, 10),
        "delivery_expected_by": at(2027, 1, 20, 10),
    }


@pytest.mark.parametrize("method, days", [(None, 45), ("standard", 45), ("premium", 15), ("economy", 45)])
def test_an_unknown_shipping_method_is_expected_as_standard(method, days):
    order = {"status": Status.AWAITING_DELIVERY, "shipped_at": FRIDAY, "shipping_method": method}
    expected = BusinessCalendar().add_business_days(FRIDAY, days)
    assert computed(**order)["delivery_expected_by"] == expected
    own = RuleConfig(transit_business_days={"standard": (1, 2), "premium": (1, 1)})
    assert computed(own, **order)["delivery_expected_by"] == BusinessCalendar().add_business_days(
        FRIDAY, {45: 2, 15: 1}[days]
    )


def test_a_refund_is_expected_by_its_methods_window_else_the_default():
    refund = {"status": Status.CLOSED, "refund_status": "pending", "refund_started_at": FRIDAY}
    assert computed(**refund) == {"refund_expected_by": at(2026, 12, 18, 10)}  # 20 business days
    only_alipay = RuleConfig(refund_business_days={PaymentMethod.ALIPAY: 5})  # the card's is missing
    assert computed(only_alipay, payment_method=PaymentMethod.ALIPAY, **refund) == {
        "refund_expected_by": at(2026, 11, 27, 10)
    }
    assert computed(only_alipay, payment_method=PaymentMethod.CARD, **refund) == {
        "refund_expected_by": at(2026, 12, 18, 10)
    }
    assert computed(only_alipay, **refund) == {"refund_expected_by": at(2026, 12, 18, 10)}
    card_3 = RuleConfig(refund_business_days={PaymentMethod.CARD: 3})  # no method known: the card's window
    assert computed(card_3, **refund) == {"refund_expected_by": at(2026, 11, 25, 10)}
    assert computed(status=Status.CLOSED, refund_status="pending") == {}  # no start: nothing to compute
    assert computed(status=Status.CLOSED, refund_status="completed", refund_started_at=FRIDAY) == {}


def test_computed_deadlines_follow_the_calendars_zone_and_holidays():
    # Thu 19 Nov 16:30 UTC is Friday 00:30 in Shanghai.
    moment = at(2026, 11, 19, 16, 30)
    shanghai = RuleConfig(calendar=BusinessCalendar(timezone=SHANGHAI), unpaid_close_days=1, protection_days=1)
    # + 1 day: Saturday 00:30 Shanghai -> Monday 00:30 there, Sunday 16:30 UTC (UTC: Friday 16:30)
    assert computed(shanghai, status=Status.AWAITING_PAYMENT, placed_at=moment) == {"pay_by": at(2026, 11, 22, 16, 30)}
    # 7 business days after Friday (local): Tue 1 Dec 00:30 Shanghai, Mon 30 Nov 16:30 UTC
    assert computed(shanghai, status=Status.AWAITING_SHIPMENT, paid_at=moment) == {"ship_by": at(2026, 11, 30, 16, 30)}
    on_its_way = computed(shanghai, status=Status.AWAITING_DELIVERY, shipped_at=moment)
    assert on_its_way["protection_ends"] == at(2026, 11, 22, 16, 30)
    assert on_its_way["dispute_closes"] == at(2026, 12, 7, 16, 30)
    assert all(in_utc(when) for when in on_its_way.values())
    us = RuleConfig(calendar=BusinessCalendar("US", [dt.date(2026, 11, 30)]))
    # Fri 20 Nov + 7: Mon 23 .. Wed 25, [Thu 26 Thanksgiving], Fri 27, [Mon 30 extra], Tue 1 .. Thu 3 Dec
    assert computed(us, status=Status.AWAITING_SHIPMENT, paid_at=FRIDAY) == {"ship_by": at(2026, 12, 3, 10)}


def test_the_sites_deadlines_first_with_their_episodes():
    site_ship_by = FRIDAY + 3 * D
    order = facts(
        "1",
        Status.AWAITING_CANCELLATION,
        paid_at=FRIDAY,
        cancel_requested_at=FRIDAY,
        site_deadlines={"ship_by": site_ship_by, "not_a_deadline": FRIDAY},
        episodes={"seller_response_by": 2},
    )
    known = with_computed(order, RuleConfig()).deadlines
    assert known == {
        Deadline.SHIP_BY: TrackedDeadline(
            name="ship_by", site=site_ship_by, computed=at(2026, 12, 1, 10), last_shown=site_ship_by
        ),
        Deadline.SELLER_RESPONSE_BY: TrackedDeadline(name="seller_response_by", computed=FRIDAY + 72 * H, episode=2),
    }
    assert (known[Deadline.SHIP_BY].source, known[Deadline.SELLER_RESPONSE_BY].source) == ("site", "computed")
    moved = facts("1", Status.AWAITING_SHIPMENT, site_deadlines={"ship_by": site_ship_by}, episodes={"ship_by": 3})
    assert with_computed(moved, RuleConfig()).deadline(Deadline.SHIP_BY).episode == 3
    assert with_computed(facts("1", Status.AWAITING_SHIPMENT), RuleConfig()).deadlines == {}


# ---------------------------------------------------------------- the order from a database row
def test_the_order_of_a_database_row():
    deadlines_column = {
        "ship_by": {"site": "2026-12-01T10:00:00+00:00", "computed": "2026-12-01T10:00:00+00:00", "episode": 1},
        "seller_response_by": {"site": None, "computed": "2026-11-23T10:00:00+00:00", "episode": 0},
        "pay_by": {"last_shown": "2026-12-10T10:00:00+00:00", "episode": 2},
        "not_a_deadline": {"site": "2026-12-10T10:00:00+00:00"},
    }
    row = {
        "account": "buyer@127.0.0.1",
        "order_id": "8123456789012345",
        "status": "awaiting_cancellation",
        "payment_method": "alipay",
        "placed_at": "2026-11-19T09:00:00+00:00",
        "paid_at": "2026-11-20T10:00:00+00:00",
        "refund_status": "pending",
        "total": "19.90",
        "currency": "USD",
        "order_date": "2026-11-19",
        "timeline": json.dumps(
            [["2026-11-20T10:00:00+00:00", "paid"], ["2026-11-20T11:00:00+00:00", "cancel_requested"]]
        ),
        "deadlines": json.dumps(deadlines_column),
        "next_due": None,
    }
    order = Order.from_row(row)
    assert (order.status, order.payment_method, order.total) == (
        Status.AWAITING_CANCELLATION,
        PaymentMethod.ALIPAY,
        Decimal("19.90"),
    )
    assert (order.placed_at, order.order_date) == (at(2026, 11, 19, 9), dt.date(2026, 11, 19))
    assert order.timeline == ((at(2026, 11, 20, 10), "paid"), (at(2026, 11, 20, 11), "cancel_requested"))
    assert set(order.deadlines) == {"ship_by", "seller_response_by", "pay_by"}  # a name ordermon does not know: gone
    assert order.deadline("ship_by").at == at(2026, 12, 1, 10) and order.deadline("ship_by").episode == 1
    assert order.deadline("pay_by") is None and order.deadlines["pay_by"].last_shown == at(2026, 12, 10, 10)
    assert Order.from_row(order.row()) == order  # and back, unchanged


def test_a_row_read_from_the_list_only_has_no_details():
    row = {
        "order_id": "8123456789012345",
        "status": "awaiting_payment",
        "payment_method": None,
        "placed_at": None,
        "paid_at": None,
        "refund_status": None,
        "total": None,
        "timeline": None,
        "deadlines": None,
    }
    assert Order.from_row(row) == Order(order_id="8123456789012345", status=Status.AWAITING_PAYMENT)
    assert Order.from_row({"order_id": "1", "status": "closed"}).refund_status == "none"


# ---------------------------------------------------------------- how deadlines read
def test_every_deadline_has_the_label_the_order_page_gives_it():
    assert label("seller_response_by") == "Seller must answer by"
    assert label("protection_ends") == "Protection ends"
    assert label("dispute_closes") == "Dispute can be opened until"
    assert label("ship_by_v2") == "ship_by_v2"  # a name a newer site uses: shown as it is


@pytest.mark.parametrize(
    "delta, text",
    [
        (dt.timedelta(0), "0h 0m"),
        (59 * S, "0h 0m"),
        (M, "0h 1m"),
        (59 * M + 59 * S, "0h 59m"),
        (H, "1h 0m"),
        (23 * H + 59 * M + 59 * S, "23h 59m"),
        (D, "1d 0h"),
        (D + 59 * M, "1d 0h"),
        (3 * D + 4 * H + 5 * M, "3d 4h"),
        (-(2 * H + 5 * M), "2h 5m"),
        (-(D + H), "1d 1h"),
    ],
)
def test_a_duration_reads_in_days_and_hours_or_hours_and_minutes(delta, text):
    assert format_duration(delta) == text


def test_exactly_at_the_deadline_is_still_in_time():
    deadline = FRIDAY
    assert relative(deadline, deadline) == "0h 0m left"
    assert relative(deadline, deadline + S) == "0h 0m overdue"
    assert relative(deadline, deadline - 3 * D - 4 * H - 30 * M) == "3d 4h left"
    assert relative(deadline, deadline + 2 * H + 5 * M) == "2h 5m overdue"
    assert relative(deadline, deadline - 59 * M) == "0h 59m left"


# ---------------------------------------------------------------- settings that build the calendar
def test_the_monitors_calendar_uses_its_zone_country_and_extra_holidays():
    s = MonitorSettings(
        _env_file=None, timezone="America/Los_Angeles", holiday_country="US", holidays="2026-11-27, 2026-12-24"
    )
    cal = s.calendar()
    assert (cal.timezone, cal.country) == (LOS_ANGELES, "US")
    assert not cal.is_business_day(dt.date(2026, 11, 27)) and not cal.is_business_day(dt.date(2026, 12, 24))
    # Wed 25 Nov 21:00 PST: Thu 26 (Thanksgiving) and Fri 27 (extra) skipped: Monday 30 Nov 21:00 PST.
    config = s.rule_config()
    assert config.calendar.add_business_days(at(2026, 11, 26, 5), 1) == at(2026, 12, 1, 5)
    order = Order(order_id="1", status=Status.AWAITING_SHIPMENT, paid_at=at(2026, 11, 26, 5))
    # 7 business days from Wed 25 (local): Mon 30, Tue 1 .. Fri 4, Mon 7, Tue 8 Dec 21:00 PST
    assert computed_deadlines(order, config) == {"ship_by": at(2026, 12, 9, 5)}


def test_the_monitors_default_calendar_is_utc_without_holidays():
    cal = MonitorSettings(_env_file=None).rule_config().calendar
    assert (cal.timezone, cal.country) == (ZoneInfo("UTC"), None)
    assert cal.is_business_day(dt.date(2026, 11, 26)) and cal.is_business_day(dt.date(2026, 12, 25))


@pytest.mark.parametrize("country", ["XX", "de", "D", "US-CA"])
def test_an_unknown_holiday_country_is_refused_when_the_settings_are_made(country):
    with pytest.raises(ValidationError, match=rf"holiday_country\n.*unknown holiday country '{country}'"):
        MonitorSettings(_env_file=None, holiday_country=country)
    with pytest.raises(ValidationError, match=rf"holiday_country\n.*unknown holiday country '{country}'"):
        StorefrontSettings(holiday_country=country)
    with pytest.raises(ValueError, match=f"^unknown holiday country '{country}'$"):
        check_holiday_country(country)


def test_a_known_country_or_none_is_accepted():
    assert check_holiday_country("DE") == "DE" and check_holiday_country(None) is None
    assert check_holiday_country("") == ""
    assert MonitorSettings(_env_file=None, holiday_country="CN").calendar().is_business_day(dt.date(2026, 10, 10))
    assert StorefrontSettings(holiday_country="US").calendar().country == "US"


def test_the_storefront_refuses_an_unknown_country_set_at_run_time():
    settings = StorefrontSettings(holiday_country="US")
    with pytest.raises(ValidationError, match="unknown holiday country 'XX'"):
        settings.holiday_country = "XX"
    assert settings.holiday_country == "US" and settings.calendar().country == "US"


def test_an_unknown_timezone_is_refused_when_the_settings_are_made():
    with pytest.raises(ValueError, match=r"^unknown timezone 'Mars/Olympus_Mons'$"):
        check_timezone("Mars/Olympus_Mons")
    with pytest.raises(ValueError, match=r"^unknown timezone ''$"):
        check_timezone("")
    assert check_timezone("Asia/Shanghai") == "Asia/Shanghai"
    with pytest.raises(ValidationError, match=r"timezone\n.*unknown timezone 'Mars/Olympus_Mons'"):
        MonitorSettings(_env_file=None, timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match=r"timezone\n.*unknown timezone 'Europe/Atlantis'"):
        StorefrontSettings(timezone="Europe/Atlantis")


@pytest.mark.parametrize("command", [["monitor", "--once"], ["status"]])
def test_an_unknown_holiday_country_stops_the_command_with_one_line(command, tmp_path):
    env = clean_env() | {
        "ORDERMON_STOREFRONT_URL": "http://127.0.0.1:9",
        "ORDERMON_EMAIL": "buyer@example.com",
        "ORDERMON_PASSWORD": "not-a-secret-anywhere",
        "ORDERMON_DB": str(tmp_path / "ordermon.db"),
        "ORDERMON_DATA_DIR": str(tmp_path / "data"),
    }
    result = ordermon(env, *command, cwd=tmp_path, timeout=60, ORDERMON_HOLIDAY_COUNTRY="XX")
    one_line_error(result, 2, "ORDERMON_HOLIDAY_COUNTRY")
    assert "unknown holiday country 'XX'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ordermon.db").exists()  # refused before anything was touched
