"""Deadline rules as pure functions, with weekends and holidays."""

import datetime as dt

import pytest

from flows.calendar import BusinessCalendar
from flows.domain import PaymentMethod, Status
from monitor import rules
from monitor.rules import OrderFacts, RuleConfig, evaluate

FRIDAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
H, D = dt.timedelta(hours=1), dt.timedelta(days=1)
CONFIG = RuleConfig()


def fired(order, now, config=CONFIG):
    return [(f.rule, f.deadline, f.level) for f in evaluate(order, now, config)]


def test_seller_response_overdue_after_72_hours_while_still_awaiting_cancellation():
    order = OrderFacts("1", Status.AWAITING_CANCELLATION, paid_at=FRIDAY - D, cancel_requested_at=FRIDAY)
    assert fired(order, FRIDAY + 72 * H - dt.timedelta(seconds=1)) == []
    assert fired(order, FRIDAY + 72 * H) == [("seller_response_overdue", FRIDAY + 72 * H, "")]
    closed = OrderFacts("1", Status.CLOSED, cancel_requested_at=FRIDAY)
    assert fired(closed, FRIDAY + 100 * H) == []  # the platform cancelled: nothing to say


def test_ship_deadline_counts_business_days_over_a_weekend():
    order = OrderFacts("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY)
    deadline = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)  # 7 business days later, a Tuesday
    assert fired(order, deadline - dt.timedelta(minutes=1)) == []
    assert fired(order, deadline) == [("ship_deadline_passed", deadline, "")]


def test_ship_deadline_skips_holidays():
    config = RuleConfig(calendar=BusinessCalendar("US"))  # Thanksgiving, Thu 26 Nov 2026
    order = OrderFacts("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY)
    assert fired(order, dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), config) == []
    deadline = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    assert fired(order, deadline, config) == [("ship_deadline_passed", deadline, "")]


def test_refund_window_depends_on_the_payment_method():
    config = RuleConfig(refund_business_days={m: 20 for m in PaymentMethod} | {PaymentMethod.ALIPAY: 5})
    started = FRIDAY
    card = OrderFacts("3", Status.CLOSED, payment_method=PaymentMethod.CARD, refund_status="pending",
                      refund_started_at=started)
    alipay = OrderFacts("4", Status.CLOSED, payment_method=PaymentMethod.ALIPAY, refund_status="pending",
                        refund_started_at=started)
    five_days = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    assert fired(alipay, five_days, config) == [("refund_overdue", five_days, "")]
    assert fired(card, five_days, config) == []
    twenty = dt.datetime(2026, 12, 18, 10, tzinfo=dt.UTC)
    assert fired(card, twenty, config) == [("refund_overdue", twenty, "")]
    done = OrderFacts("3", Status.CLOSED, refund_status="completed", refund_started_at=started)
    assert fired(done, twenty + 100 * D, config) == []


def test_protection_expiring_levels_each_once():
    shipped = FRIDAY
    order = OrderFacts("5", Status.AWAITING_DELIVERY, shipped_at=shipped)
    end = dt.datetime(2027, 1, 19, 10, tzinfo=dt.UTC)
    assert fired(order, end - 15 * D) == []
    assert fired(order, end - 14 * D) == [("protection_expiring", end, "14d")]
    assert fired(order, end - 7 * D) == [("protection_expiring", end, "7d")]
    assert fired(order, end - 3 * D) == [("protection_expiring", end, "3d")]
    assert fired(order, end) == []


def test_protection_end_on_a_weekend_moves_to_monday():
    shipped = dt.datetime(2026, 10, 2, 10, tzinfo=dt.UTC)  # + 60 days = Tue 1 Dec
    saturday_ship = dt.datetime(2026, 10, 5, 10, tzinfo=dt.UTC)  # + 60 days = Fri 4 Dec
    assert rules.protection_end(OrderFacts("x", Status.AWAITING_DELIVERY, shipped_at=shipped), CONFIG).day == 1
    friday_plus = dt.datetime(2026, 10, 6, 10, tzinfo=dt.UTC)  # + 60 = Sat 5 Dec -> Mon 7 Dec
    end = rules.protection_end(OrderFacts("x", Status.AWAITING_DELIVERY, shipped_at=friday_plus), CONFIG)
    assert end == dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    assert rules.protection_end(OrderFacts("x", Status.AWAITING_DELIVERY, shipped_at=saturday_ship), CONFIG).day == 4


def test_payment_unverified_after_24_hours():
    order = OrderFacts("6", Status.PAYMENT_VERIFYING, paid_at=FRIDAY)
    assert fired(order, FRIDAY + 23 * H) == []
    assert fired(order, FRIDAY + 24 * H) == [("payment_unverified", FRIDAY + 24 * H, "")]


def test_unpaid_closing_two_days_before():
    order = OrderFacts("7", Status.AWAITING_PAYMENT, placed_at=FRIDAY)
    close = dt.datetime(2026, 12, 10, 10, tzinfo=dt.UTC)
    assert fired(order, close - 3 * D) == []
    assert fired(order, close - 2 * D) == [("unpaid_closing", close, "")]
    assert fired(order, close) == []


@pytest.mark.parametrize("status", ["completed", "dispute"])
def test_finished_orders_raise_nothing(status):
    order = OrderFacts("8", Status(status), paid_at=FRIDAY, shipped_at=FRIDAY)
    assert fired(order, FRIDAY + 400 * D) == []


def test_message_names_order_rule_deadline_lateness_and_next_step():
    order = OrderFacts("8123456789012345", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY)
    (finding,) = evaluate(order, FRIDAY + 75 * H, CONFIG)
    assert "8123456789012345" in finding.message
    assert "2026-11-23 10:00 UTC" in finding.message
    assert "3h 0m overdue" in finding.message
    assert "Next step:" in finding.message


def test_deadlines_per_status():
    order = OrderFacts("9", Status.AWAITING_CANCELLATION, paid_at=FRIDAY, cancel_requested_at=FRIDAY)
    assert set(rules.deadlines(order, CONFIG)) == {"seller_response_by", "ship_by"}
