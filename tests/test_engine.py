"""The storefront's lifecycle engine: every transition and window, on a controlled clock."""

import datetime as dt
import itertools
import threading
import time

import pytest

from fixtures.storefront import Clock, SellerBehaviour, Shop, StorefrontSettings
from fixtures.storefront.actions import buyer_action, request_cancel, seller_action
from fixtures.storefront.model import IllegalAction, RefundStatus, UnknownOrder
from fixtures.storefront.orders import OrderSpec, create_orders
from fixtures.storefront.words import CloseReason, PaymentMethod, Status

FRIDAY = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)  # a Friday
ACCOUNT = "buyer@example.com"


@pytest.fixture
def shop():
    return Shop(StorefrontSettings(), Clock(start=FRIDAY, frozen=True), seed=1)


def make(shop, **spec):
    return create_orders(shop, OrderSpec(**spec), ACCOUNT)[0]


def at(shop, moment):
    shop.clock.set(moment)
    shop.settle()


def status(shop, order):
    return shop.get(order.id).status


# ---------------------------------------------------------------- ids and clock
def test_ids_are_16_digits_with_account_suffix_and_step_20000_within_a_checkout(shop):
    orders = create_orders(shop, OrderSpec(checkout_size=3), ACCOUNT)
    other = make(shop)
    ids = [int(o.id) for o in orders]
    assert all(len(o.id) == 16 for o in [*orders, other])
    assert {o.id[-4:] for o in [*orders, other]} == {shop.account_suffix}
    assert [b - a for a, b in itertools.pairwise(ids)] == [20000, 20000]
    assert len({o.store for o in orders}) >= 1


def test_clock_freeze_set_advance_scale():
    clock = Clock(start=FRIDAY, frozen=True)
    assert clock.now() == FRIDAY
    clock.advance(3600)
    assert clock.now() == FRIDAY + dt.timedelta(hours=1)
    clock.set(FRIDAY + dt.timedelta(days=2))
    assert clock.now() == FRIDAY + dt.timedelta(days=2)
    clock.set_scale(3600)
    clock.freeze(False)
    later = clock.now()
    assert later >= FRIDAY + dt.timedelta(days=2)
    with pytest.raises(ValueError):
        clock.set_scale(0)
    with pytest.raises(ValueError):
        clock.set(dt.datetime(2026, 1, 1))


def test_scaled_clock_runs_faster_than_real_time():
    """Simulated time between two readings is the real time between them times the scale: the real
    time is bracketed by readings of the monotonic clock taken around each reading."""
    clock = Clock(start=FRIDAY, scale=3600)
    before_first = time.monotonic()
    first = clock.now()
    after_first = time.monotonic()
    # Wait for the condition itself, a simulated minute gone by (about 17 ms of real time), not for
    # an amount of wall time; pausing between looks, with a deadline.
    pause, deadline = threading.Event(), after_first + 10
    while clock.now() - first < dt.timedelta(minutes=1):
        assert time.monotonic() < deadline, "a simulated minute did not pass in 10 s"
        pause.wait(0.002)
    before_last = time.monotonic()
    last = clock.now()
    after_last = time.monotonic()
    simulated = (last - first).total_seconds()
    assert simulated >= 60
    assert (before_last - after_first) * 3600 - 0.01 <= simulated <= (after_last - before_first) * 3600 + 0.01


# ---------------------------------------------------------------- awaiting payment
def test_cancel_before_payment_closes_at_once_without_refund(shop):
    order = make(shop, status="awaiting_payment")
    request_cancel(shop, order.id, "I placed a duplicate order")
    assert order.status is Status.CLOSED
    assert order.close_reason is CloseReason.BUYER_CANCEL_NOTPAY_ORDER
    assert order.refund_status is RefundStatus.NONE
    assert order.cancel_requests == 1
    assert order.cancel_reason == "I placed a duplicate order"


def test_unpaid_order_closes_after_20_days(shop):
    order = make(shop, status="awaiting_payment", placed_at=FRIDAY)
    pay_by = shop.deadlines(order)["pay_by"]
    assert pay_by == dt.datetime(2026, 12, 10, 10, tzinfo=dt.UTC)  # a Thursday
    at(shop, pay_by - dt.timedelta(seconds=1))
    assert order.status is Status.AWAITING_PAYMENT
    at(shop, pay_by)
    assert order.status is Status.CLOSED
    assert order.close_reason is CloseReason.BUYER_PAY_TIMEOUT
    assert order.closed_at == pay_by


def test_calendar_day_deadline_on_a_weekend_moves_to_monday(shop):
    shop.settings.unpaid_close_days = 1  # Friday + 1 day = Saturday
    order = make(shop, status="awaiting_payment", placed_at=FRIDAY)
    assert shop.deadlines(order)["pay_by"] == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)


def test_pay_then_verification_then_awaiting_shipment(shop):
    order = make(shop, status="awaiting_payment")
    buyer_action(shop, order.id, "pay")
    assert order.status is Status.PAYMENT_VERIFYING
    with pytest.raises(IllegalAction):
        request_cancel(shop, order.id, "I placed a duplicate order")
    at(shop, FRIDAY + dt.timedelta(minutes=10))
    assert order.status is Status.AWAITING_SHIPMENT
    assert order.verified_at == FRIDAY + dt.timedelta(minutes=10)


def test_cancel_while_verifying_is_a_setting_and_cancels_once_verified(shop):
    order = make(shop, status="payment_verifying", verification_minutes=60, payment_method="card")
    with pytest.raises(IllegalAction):
        request_cancel(shop, order.id, "I placed a duplicate order")
    shop.settings.cancel_while_verifying = True
    request_cancel(shop, order.id, "I placed a duplicate order")
    assert order.status is Status.PAYMENT_VERIFYING and shop.cancellation_pending(order)
    assert not shop.can_cancel(order)  # asked once: no second Submit
    at(shop, FRIDAY + dt.timedelta(minutes=60))
    assert order.status is Status.CLOSED and order.close_reason is CloseReason.CANCEL_ORDER_CLOSE_TRADE
    assert order.refund_status is RefundStatus.PENDING and order.refund_started_at == order.verified_at


def test_risk_rejected_payment_closes_and_refunds(shop):
    order = make(shop, status="payment_verifying", risk_reject=True)
    at(shop, FRIDAY + dt.timedelta(hours=1))
    assert order.status is Status.CLOSED
    assert order.close_reason is CloseReason.RISK_REJECT_CLOSED
    assert order.refund_status is RefundStatus.PENDING


def test_stuck_verification_shows_its_24h_deadline(shop):
    order = make(shop, status="payment_verifying", verification_stuck=True)
    at(shop, FRIDAY + dt.timedelta(days=3))
    assert order.status is Status.PAYMENT_VERIFYING
    assert shop.deadlines(order)["verification_by"] == FRIDAY + dt.timedelta(hours=24)


# ---------------------------------------------------------------- cancellation requests
def test_request_cancel_then_prompt_seller_accepts(shop):
    order = make(shop, status="awaiting_shipment", seller="prompt")
    request_cancel(shop, order.id, "Shipping takes too long")
    assert order.status is Status.AWAITING_CANCELLATION
    assert order.cancel_requested_at == FRIDAY
    at(shop, FRIDAY + dt.timedelta(hours=2))
    assert order.status is Status.CLOSED
    assert order.close_reason is CloseReason.CANCEL_ORDER_CLOSE_TRADE
    assert order.refund_status is RefundStatus.PENDING
    assert order.refund_started_at == FRIDAY + dt.timedelta(hours=2)


def test_refusing_seller_sends_order_back_to_awaiting_shipment_and_ships(shop):
    order = make(shop, status="awaiting_shipment", seller="refuses", paid_at=FRIDAY)
    request_cancel(shop, order.id, "I don't need this order")
    at(shop, FRIDAY + dt.timedelta(hours=3))
    assert order.status is Status.AWAITING_SHIPMENT
    assert order.cancel_refused_at == FRIDAY + dt.timedelta(hours=2)
    # Ships 2 business days after payment: Friday -> Tuesday.
    at(shop, dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC))
    assert order.status is Status.AWAITING_DELIVERY
    assert order.tracking_number


def test_silent_seller_platform_cancels_exactly_at_72_hours(shop):
    order = make(shop, status="awaiting_shipment", seller="silent")
    request_cancel(shop, order.id, "I am not able to contact the supplier")
    deadline = shop.deadlines(order)["seller_response_by"]
    assert deadline == FRIDAY + dt.timedelta(hours=72)
    at(shop, deadline - dt.timedelta(seconds=1))
    assert order.status is Status.AWAITING_CANCELLATION
    at(shop, deadline)
    assert order.status is Status.CLOSED
    assert order.closed_at == deadline
    assert order.close_reason is CloseReason.CANCEL_ORDER_CLOSE_TRADE


def test_platform_lag_and_switching_automatic_actions_off(shop):
    shop.settings.auto_action_lag = 3600
    order = make(shop, status="awaiting_cancellation", seller="silent", cancel_requested_at=FRIDAY)
    at(shop, FRIDAY + dt.timedelta(hours=72, minutes=59))
    assert order.status is Status.AWAITING_CANCELLATION
    shop.settings.auto_actions = False
    shop.invalidate()
    at(shop, FRIDAY + dt.timedelta(days=30))
    assert order.status is Status.AWAITING_CANCELLATION  # the deadline passed, nothing happened
    shop.settings.auto_actions = True
    shop.invalidate()
    shop.settle()
    assert order.status is Status.CLOSED
    assert order.closed_at == FRIDAY + dt.timedelta(hours=73)


def test_seller_window_is_a_setting(shop):
    shop.settings.seller_response_hours = 48
    order = make(shop, status="awaiting_cancellation", seller="silent", cancel_requested_at=FRIDAY)
    assert shop.deadlines(order)["seller_response_by"] == FRIDAY + dt.timedelta(hours=48)


def test_cancel_twice_is_refused(shop):
    order = make(shop, status="awaiting_shipment", seller="silent")
    request_cancel(shop, order.id, "I don't need this order")
    with pytest.raises(IllegalAction):
        request_cancel(shop, order.id, "I don't need this order")
    assert order.cancel_requests == 1


# ---------------------------------------------------------------- shipping
def test_ship_by_counts_business_days_over_the_weekend(shop):
    order = make(shop, status="awaiting_shipment", seller="silent", paid_at=FRIDAY)
    # 7 business days after Friday 20 Nov: Mon 23 .. Tue 1 Dec.
    assert shop.deadlines(order)["ship_by"] == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)


def test_ship_by_skips_configured_holidays(shop):
    shop.settings.holidays = [dt.date(2026, 11, 26)]
    order = make(shop, status="awaiting_shipment", seller="silent", paid_at=FRIDAY)
    assert shop.deadlines(order)["ship_by"] == dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)


def test_ship_by_skips_a_country_holidays():
    settings = StorefrontSettings(holiday_country="US")  # Thanksgiving: Thu 26 Nov 2026
    shop = Shop(settings, Clock(start=FRIDAY, frozen=True))
    order = make(shop, status="awaiting_shipment", seller="silent", paid_at=FRIDAY)
    assert shop.deadlines(order)["ship_by"] == dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)


def test_seller_that_never_ships_gets_closed_by_the_platform(shop):
    order = make(shop, status="awaiting_shipment", seller="silent", paid_at=FRIDAY, payment_method="cod")
    at(shop, dt.datetime(2026, 12, 1, 9, 59, tzinfo=dt.UTC))
    assert order.status is Status.AWAITING_SHIPMENT
    at(shop, dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC))
    assert order.status is Status.CLOSED
    assert order.close_reason is CloseReason.SELLER_SEND_GOODS_TIMEOUT
    assert order.refund_status is RefundStatus.PENDING
    assert shop.refund_destination(order) == "a coupon"


def test_late_shipper_ships_after_the_deadline_when_the_platform_does_not_act(shop):
    shop.settings.auto_actions = False
    order = make(shop, status="awaiting_shipment", seller="late_shipper", paid_at=FRIDAY)
    at(shop, dt.datetime(2026, 12, 3, 10, tzinfo=dt.UTC))
    assert order.status is Status.AWAITING_SHIPMENT  # past ship-by, still open
    at(shop, dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC))  # ship-by + 3 business days
    assert order.status is Status.AWAITING_DELIVERY


def test_shipped_order_cannot_be_cancelled_and_is_unchanged(shop):
    order = make(shop, status="awaiting_delivery")
    before = shop.to_dict(order)
    with pytest.raises(IllegalAction, match="cannot be cancelled"):
        request_cancel(shop, order.id, "I don't need this order")
    assert shop.to_dict(order) == before


@pytest.mark.parametrize("status", ["awaiting_delivery", "completed", "closed", "dispute", "awaiting_cancellation"])
def test_no_cancel_in_other_states(shop, status):
    order = make(shop, status=status, seller="silent")
    assert not shop.can_cancel(order)
    with pytest.raises(IllegalAction):
        request_cancel(shop, order.id, "I don't need this order")


def test_unknown_order_and_other_accounts_orders(shop):
    order = make(shop)
    with pytest.raises(UnknownOrder):
        shop.get("8100000000000000")
    with pytest.raises(UnknownOrder):
        shop.get(order.id, account="someone@else.example")


def test_unknown_reason_is_refused(shop):
    order = make(shop)
    with pytest.raises(Exception, match="Unknown cancellation reason"):
        request_cancel(shop, order.id, "because")
    assert order.status is Status.AWAITING_SHIPMENT


# ---------------------------------------------------------------- delivery and protection
def test_protection_runs_out_60_days_after_shipment(shop):
    order = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    ends = shop.deadlines(order)["protection_ends"]
    # Friday + 60 days = Tuesday 19 Jan 2027.
    assert ends == dt.datetime(2027, 1, 19, 10, tzinfo=dt.UTC)
    assert shop.deadlines(order)["dispute_opens"] == FRIDAY + dt.timedelta(days=11)
    at(shop, ends)
    assert order.status is Status.COMPLETED


def test_dispute_opens_from_day_11(shop):
    order = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    with pytest.raises(IllegalAction):
        buyer_action(shop, order.id, "open_dispute")
    at(shop, FRIDAY + dt.timedelta(days=11))
    buyer_action(shop, order.id, "open_dispute")
    assert order.status is Status.DISPUTE


def test_protection_extension(shop):
    order = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    before = shop.deadlines(order)["protection_ends"]
    buyer_action(shop, order.id, "extend_protection")
    assert shop.deadlines(order)["protection_ends"] > before


def test_seller_ship_accept_refuse_via_actions(shop):
    order = make(shop, status="awaiting_cancellation", seller="silent")
    seller_action(shop, order.id, "refuse")
    assert order.status is Status.AWAITING_SHIPMENT
    seller_action(shop, order.id, "ship")
    assert order.status is Status.AWAITING_DELIVERY
    with pytest.raises(IllegalAction):
        seller_action(shop, order.id, "accept")


# ---------------------------------------------------------------- refunds
def test_refund_completes_after_its_business_days(shop):
    order = make(
        shop, status="closed", refund_started_at=FRIDAY, refund_business_days=3, payment_method="western_union"
    )
    assert shop.deadlines(order)["refund_expected_by"] == dt.datetime(2026, 12, 18, 10, tzinfo=dt.UTC)
    at(shop, dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC))
    assert order.refund_status is RefundStatus.PENDING
    at(shop, dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC))  # Fri + 3 business days = Wed
    assert order.refund_status is RefundStatus.COMPLETED
    assert shop.refund_destination(order) == "the Alipay balance"


def test_stuck_refund_never_arrives(shop):
    order = make(shop, status="closed", refund_started_at=FRIDAY, refund_business_days=None)
    at(shop, FRIDAY + dt.timedelta(days=365))
    assert order.refund_status is RefundStatus.PENDING


def test_random_refund_days_are_within_the_window(shop):
    days = [make(shop, status="closed").refund_business_days for _ in range(30)]
    assert all(3 <= d <= 20 for d in days)


def test_a_month_replays_in_order(shop):
    """Cancel request -> silent seller -> auto-cancel -> refund, all by moving the clock."""
    order = make(
        shop,
        status="awaiting_shipment",
        seller="silent",
        paid_at=FRIDAY,
        refund_business_days=5,
        payment_method=PaymentMethod.CARD,
    )
    request_cancel(shop, order.id, "Shipping takes too long")
    at(shop, FRIDAY + dt.timedelta(days=30))
    kinds = [e.kind for e in order.events]
    assert kinds == ["placed", "paid", "cancel_requested", "closed", "refund_started", "refunded"]
    assert order.refunded_at == dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)  # Mon 23 + 5 bd


def test_seller_behaviour_enum_values():
    assert {b.value for b in SellerBehaviour} == {"prompt", "refuses", "silent", "late_shipper", "ships_anyway"}


def test_a_seller_who_ships_anyway_ignores_the_request(shop):
    order = make(shop, status="awaiting_shipment", seller="ships_anyway", paid_at=FRIDAY - dt.timedelta(days=1))
    at(shop, FRIDAY + dt.timedelta(hours=1))
    request_cancel(shop, order.id, "I don't need this order")
    at(shop, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC))  # Thu + 2 business days, before the 72 h
    assert order.status is Status.AWAITING_DELIVERY and order.cancel_requested_at == FRIDAY + dt.timedelta(hours=1)


# ---------------------------------------------------------------- what the order page shows
def test_delivery_window_and_dispute_close_follow_the_shipping_method(shop):
    standard = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    premium = make(shop, status="awaiting_delivery", shipped_at=FRIDAY, shipping_method="premium")
    cal = shop.settings.calendar()
    assert shop.deadlines(standard)["delivery_expected_by"] == cal.add_business_days(FRIDAY, 45)
    assert shop.deadlines(premium)["delivery_expected_by"] == cal.add_business_days(FRIDAY, 15)
    ends = shop.deadlines(standard)["protection_ends"]
    assert shop.deadlines(standard)["dispute_closes"] == ends + dt.timedelta(days=15)


def test_how_an_order_completed_and_when_its_dispute_window_closes(shop):
    confirmed = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    timed_out = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    buyer_action(shop, confirmed.id, "confirm_receipt")
    assert confirmed.completed_by == "buyer_confirmed"
    ends = shop.deadlines(timed_out)["protection_ends"]
    at(shop, ends)
    assert (timed_out.status, timed_out.completed_by) == (Status.COMPLETED, "protection_ended")
    assert shop.deadlines(timed_out)["dispute_closes"] == ends + dt.timedelta(days=15)


def test_the_seller_extends_protection_by_the_days_asked(shop):
    order = make(shop, status="awaiting_delivery", shipped_at=FRIDAY)
    before = shop.deadlines(order)["protection_ends"]
    seller_action(shop, order.id, "extend_protection", days=30)
    assert shop.deadlines(order)["protection_ends"] == shop.settings.calendar().add_days(FRIDAY, 90)
    assert shop.deadlines(order)["protection_ends"] > before
    at(shop, before + dt.timedelta(days=1))
    assert order.status is Status.AWAITING_DELIVERY  # the old end passed: still protected


def test_cash_refunds_to_the_alipay_balance(shop):
    order = make(shop, status="closed", payment_method="cash")
    assert shop.refund_destination(order) == "the Alipay balance"


def test_cash_on_delivery_never_awaits_payment():
    with pytest.raises(ValueError, match="cash-on-delivery"):
        OrderSpec(status="awaiting_payment", payment_method="cod")
    shop = Shop(StorefrontSettings(), Clock(start=FRIDAY, frozen=True), seed=3)
    from fixtures.storefront.demo import populate

    populate(shop, ACCOUNT, 200)
    assert not [
        o
        for o in shop.orders.values()
        if o.payment_method == "cod" and o.status in (Status.AWAITING_PAYMENT, Status.PAYMENT_VERIFYING)
    ]


def test_settings_are_checked_as_a_whole():
    with pytest.raises(ValueError, match="refund_business_days_min"):
        StorefrontSettings(refund_business_days_min=30, refund_business_days_max=5)
    with pytest.raises(ValueError, match="shown_deadlines"):
        StorefrontSettings(shown_deadlines=["ship_by", "whenever"])
