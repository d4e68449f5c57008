"""Alert rules as pure functions: the site's deadlines first, the monitor's own where the page shows
none, a grace period before overdue rules, episodes, and weekends and holidays."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import facts

from flows.calendar import BusinessCalendar
from flows.domain import PaymentMethod, Status
from monitor import rules
from monitor.facts import computed_deadlines, with_computed
from monitor.windows import RuleConfig

FRIDAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
H, D = dt.timedelta(hours=1), dt.timedelta(days=1)
CONFIG = RuleConfig()
GRACE = CONFIG.grace
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def evaluate(order, now, config):
    """The rules' findings on the order, its own deadlines computed with ``config`` (as a poll's merge does)."""
    return rules.evaluate(with_computed(order, config), now, config)


def next_moment(order, now, config):
    return rules.next_moment(with_computed(order, config), now, config)


def fired(order, now, config=CONFIG):
    return [(f.rule, f.deadline, f.level) for f in evaluate(order, now, config)]


# ---------------------------------------------------------------- which deadline
def test_the_sites_deadline_comes_first_the_monitors_own_only_where_the_page_shows_none():
    site_ship_by = FRIDAY + 3 * D
    order = facts(
        "1",
        Status.AWAITING_CANCELLATION,
        paid_at=FRIDAY,
        cancel_requested_at=FRIDAY,
        site_deadlines={"ship_by": site_ship_by},
        episodes={"ship_by": 2},
    )
    known = with_computed(order, CONFIG)
    assert (known.deadline("ship_by").at, known.deadline("ship_by").source, known.deadline("ship_by").episode) == (
        site_ship_by,
        "site",
        2,
    )
    responds = known.deadline("seller_response_by")
    assert (responds.at, responds.source, responds.episode) == (FRIDAY + 72 * H, "computed", 0)
    assert set(computed_deadlines(order, CONFIG)) == {"seller_response_by", "ship_by"}


def test_the_grace_period_delays_overdue_rules_only():
    order = facts("1", Status.AWAITING_CANCELLATION, paid_at=FRIDAY - D, cancel_requested_at=FRIDAY)
    deadline = FRIDAY + 72 * H
    assert fired(order, deadline + GRACE - SECOND) == []
    assert fired(order, deadline + GRACE) == [("seller_response_overdue", deadline, "")]
    no_grace = RuleConfig(grace_minutes=0)
    assert fired(order, deadline, no_grace) == [("seller_response_overdue", deadline, "")]
    assert fired(order, deadline - SECOND, no_grace) == []


# ---------------------------------------------------------------- overdue rules
def test_seller_response_overdue_goes_by_the_sites_window_and_stops_once_closed():
    site_48h = FRIDAY + 48 * H
    order = facts(
        "1", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY, site_deadlines={"seller_response_by": site_48h}
    )
    assert fired(order, site_48h + GRACE) == [("seller_response_overdue", site_48h, "")]
    closed = facts("1", Status.CLOSED, cancel_requested_at=FRIDAY, site_deadlines={"seller_response_by": site_48h})
    assert fired(closed, FRIDAY + 100 * H) == []  # the platform cancelled: nothing to say


def test_ship_deadline_counts_business_days_over_a_weekend():
    order = facts("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY)
    deadline = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)  # 7 business days later, a Tuesday
    assert fired(order, deadline + GRACE - SECOND) == []
    assert fired(order, deadline + GRACE) == [("ship_deadline_passed", deadline, "")]
    cancelling = facts("2", Status.AWAITING_CANCELLATION, paid_at=FRIDAY)
    assert "ship_deadline_passed" not in [r for r, _, _ in fired(cancelling, deadline + 2 * D)]


def test_ship_deadline_skips_holidays():
    config = RuleConfig(calendar=BusinessCalendar("US"), grace_minutes=0)  # Thanksgiving, Thu 26 Nov
    order = facts("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY)
    assert fired(order, dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), config) == []
    deadline = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    assert fired(order, deadline, config) == [("ship_deadline_passed", deadline, "")]


def test_the_calendar_counts_in_its_time_zone():
    # 23:30 UTC on Friday is Saturday 07:30 in Shanghai: the 7th business day is Tuesday 1 Dec there,
    # at 07:30 local time, which is Monday 23:30 UTC; in UTC it is Tuesday 23:30.
    late_friday = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
    order = facts("2", Status.AWAITING_SHIPMENT, paid_at=late_friday)
    utc = computed_deadlines(order, CONFIG)["ship_by"]
    shanghai = computed_deadlines(order, RuleConfig(calendar=BusinessCalendar(timezone=_zone("Asia/Shanghai"))))
    assert utc == dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert shanghai["ship_by"] == dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)


def _zone(name):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_refund_window_depends_on_the_payment_method_unless_the_site_says():
    config = RuleConfig(
        refund_business_days=dict.fromkeys(PaymentMethod, 20) | {PaymentMethod.ALIPAY: 5}, grace_minutes=0
    )
    card = facts(
        "3", Status.CLOSED, payment_method=PaymentMethod.CARD, refund_status="pending", refund_started_at=FRIDAY
    )
    alipay = facts(
        "4", Status.CLOSED, payment_method=PaymentMethod.ALIPAY, refund_status="pending", refund_started_at=FRIDAY
    )
    five_days = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    twenty = dt.datetime(2026, 12, 18, 10, tzinfo=dt.UTC)
    assert fired(alipay, five_days, config) == [("refund_overdue", five_days, "")]
    assert fired(alipay, five_days - SECOND, config) == []
    assert fired(card, five_days, config) == []
    assert fired(card, twenty, config) == [("refund_overdue", twenty, "")]
    told = facts(
        "3",
        Status.CLOSED,
        payment_method=PaymentMethod.CARD,
        refund_status="pending",
        refund_started_at=FRIDAY,
        site_deadlines={"refund_expected_by": five_days},
    )
    assert fired(told, five_days, config) == [("refund_overdue", five_days, "")]
    done = facts("3", Status.CLOSED, refund_status="completed", refund_started_at=FRIDAY)
    assert fired(done, twenty + 100 * D, config) == []


@pytest.mark.parametrize(
    "method, where",
    [
        (PaymentMethod.CARD, "the original payment method"),
        (PaymentMethod.ALIPAY, "the Alipay balance"),
        (PaymentMethod.WESTERN_UNION, "the Alipay balance"),
        (PaymentMethod.CASH, "the Alipay balance"),
        (PaymentMethod.COD, "a coupon"),
        (None, "the original payment method"),
    ],
)
def test_the_refund_alert_says_where_to_look_for_the_money(method, where):
    order = facts("3", Status.CLOSED, payment_method=method, refund_status="pending", refund_started_at=FRIDAY)
    (finding,) = evaluate(order, FRIDAY + 60 * D, CONFIG)
    assert f"to {where}" in finding.summary and finding.next_step.startswith(f"check {where}")
    site_says = facts(
        "3",
        Status.CLOSED,
        payment_method=method,
        refund_status="pending",
        refund_started_at=FRIDAY,
        refund_destination="your bank account",
    )
    assert "to your bank account" in evaluate(site_says, FRIDAY + 60 * D, CONFIG)[0].summary


def test_payment_unverified_after_24_hours():
    order = facts("6", Status.PAYMENT_VERIFYING, paid_at=FRIDAY)
    assert fired(order, FRIDAY + 24 * H + GRACE - SECOND) == []
    assert fired(order, FRIDAY + 24 * H + GRACE) == [("payment_unverified", FRIDAY + 24 * H, "")]
    assert fired(facts("6", Status.AWAITING_SHIPMENT, paid_at=FRIDAY), FRIDAY + 30 * H) == []


def test_parcel_overdue_after_the_latest_estimate_of_its_shipping_method():
    cal = CONFIG.calendar
    standard = facts("7", Status.AWAITING_DELIVERY, shipped_at=FRIDAY)
    premium = facts("7", Status.AWAITING_DELIVERY, shipped_at=FRIDAY, shipping_method="premium")
    late_standard, late_premium = cal.add_business_days(FRIDAY, 45), cal.add_business_days(FRIDAY, 15)
    assert "parcel_overdue" not in [r for r, _, _ in fired(standard, late_standard + GRACE - SECOND)]
    assert ("parcel_overdue", late_standard, "") in fired(standard, late_standard + GRACE)
    assert ("parcel_overdue", late_premium, "") in fired(premium, late_premium + GRACE)
    site = facts(
        "7", Status.AWAITING_DELIVERY, shipped_at=FRIDAY, site_deadlines={"delivery_expected_by": FRIDAY + 3 * D}
    )
    (finding,) = [f for f in evaluate(site, FRIDAY + 3 * D + GRACE, CONFIG) if f.rule == "parcel_overdue"]
    assert finding.deadline == FRIDAY + 3 * D and "open a dispute" in finding.next_step


# ---------------------------------------------------------------- warnings before a deadline
def test_protection_expiring_levels_each_once_without_grace():
    order = facts("5", Status.AWAITING_DELIVERY, shipped_at=FRIDAY)
    end = dt.datetime(2027, 1, 19, 10, tzinfo=dt.UTC)

    def levels(now):
        return [
            (f.level, f.summary.split("(")[-1]) for f in evaluate(order, now, CONFIG) if f.rule == "protection_expiring"
        ]

    assert levels(end - 14 * D - SECOND) == []
    assert levels(end - 14 * D) == [("14d", "watch)")]
    assert levels(end - 7 * D) == [("7d", "soon)")]
    assert levels(end - 3 * D) == [("3d", "urgent)")]
    assert levels(end) == []
    completed = facts("5", Status.COMPLETED, shipped_at=FRIDAY)
    assert [f for f in evaluate(completed, end - 3 * D, CONFIG) if f.rule == "protection_expiring"] == []


def test_an_extended_protection_warns_relative_to_the_sites_end():
    extended = dt.datetime(2027, 2, 3, 10, tzinfo=dt.UTC)  # 60 + 15 days after shipment
    order = facts(
        "5",
        Status.AWAITING_DELIVERY,
        shipped_at=FRIDAY,
        site_deadlines={"protection_ends": extended},
        episodes={"protection_ends": 1},
    )
    own_end = dt.datetime(2027, 1, 19, 10, tzinfo=dt.UTC)
    assert [f for f in evaluate(order, own_end - 14 * D, CONFIG) if f.rule == "protection_expiring"] == []
    (finding,) = [f for f in evaluate(order, extended - 14 * D, CONFIG) if f.rule == "protection_expiring"]
    assert (finding.deadline, finding.episode) == (extended, "protection_ends:1")


def test_protection_end_on_a_weekend_moves_to_monday():
    def end(shipped):
        return computed_deadlines(facts("x", Status.AWAITING_DELIVERY, shipped_at=shipped), CONFIG)["protection_ends"]

    assert end(dt.datetime(2026, 10, 2, 10, tzinfo=dt.UTC)).day == 1  # + 60 days = Tue 1 Dec
    assert end(dt.datetime(2026, 10, 6, 10, tzinfo=dt.UTC)) == dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)  # Sat -> Mon


def test_unpaid_closing_two_days_before():
    order = facts("7", Status.AWAITING_PAYMENT, placed_at=FRIDAY)
    close = dt.datetime(2026, 12, 10, 10, tzinfo=dt.UTC)
    assert fired(order, close - 2 * D - SECOND) == []
    assert fired(order, close - 2 * D) == [("unpaid_closing", close, "")]
    assert fired(order, close) == []
    assert fired(facts("7", Status.PAYMENT_VERIFYING, placed_at=FRIDAY), close - D) == []


def test_dispute_window_closing_only_after_protection_ran_out():
    completed_at = FRIDAY + 60 * D
    closes = completed_at + 15 * D
    ran_out = facts(
        "8", Status.COMPLETED, shipped_at=FRIDAY, completed_at=completed_at, completed_by="protection_ended"
    )
    assert fired(ran_out, completed_at) == [("dispute_window_closing", closes, "")]
    assert fired(ran_out, closes) == []
    confirmed = facts(
        "8", Status.COMPLETED, shipped_at=FRIDAY, completed_at=completed_at, completed_by="buyer_confirmed"
    )
    assert fired(confirmed, completed_at) == []


# ---------------------------------------------------------------- what happened
def test_cancellation_refused_once_per_refusal_while_it_matters():
    refused = FRIDAY + 2 * H
    order = facts(
        "9",
        Status.AWAITING_SHIPMENT,
        paid_at=FRIDAY - D,
        timeline=((FRIDAY, "cancel_requested"), (refused, "cancel_refused")),
    )
    (finding,) = evaluate(order, refused + H, CONFIG)
    assert (finding.rule, finding.episode, finding.deadline_name) == (
        "cancellation_refused",
        refused.isoformat(),
        "ship_by",
    )
    assert "refuse the delivery" in finding.next_step
    assert evaluate(order, refused + CONFIG.recent + SECOND, CONFIG) == []  # old news when first seen
    twice = facts(
        "9",
        Status.AWAITING_SHIPMENT,
        paid_at=FRIDAY - D,
        timeline=(
            (FRIDAY, "cancel_requested"),
            (refused, "cancel_refused"),
            (refused + H, "cancel_requested"),
            (refused + 2 * H, "cancel_refused"),
        ),
    )
    assert len({f.episode for f in evaluate(twice, refused + 3 * H, CONFIG)}) == 2
    closed = facts("9", Status.CLOSED, timeline=order.timeline)
    assert evaluate(closed, refused + H, CONFIG) == []


def test_shipped_while_cancelling_but_not_after_a_refusal():
    asked, shipped = FRIDAY, FRIDAY + 5 * H
    order = facts(
        "10", Status.AWAITING_DELIVERY, shipped_at=shipped, timeline=((asked, "cancel_requested"), (shipped, "shipped"))
    )
    (finding,) = [f for f in evaluate(order, shipped + H, CONFIG) if f.rule == "shipped_while_cancelling"]
    assert finding.episode == shipped.isoformat() and finding.deadline_name == "delivery_expected_by"
    after_refusal = facts(
        "10",
        Status.AWAITING_DELIVERY,
        shipped_at=shipped,
        timeline=((asked, "cancel_requested"), (asked + H, "cancel_refused"), (shipped, "shipped")),
    )
    assert [f for f in evaluate(after_refusal, shipped + H, CONFIG) if f.rule == "shipped_while_cancelling"] == []
    never_asked = facts("10", Status.AWAITING_DELIVERY, shipped_at=shipped, timeline=((shipped, "shipped"),))
    assert [f for f in evaluate(never_asked, shipped + H, CONFIG) if f.rule == "shipped_while_cancelling"] == []


def test_refund_arrived_names_the_amount_and_where_it_went():
    arrived = FRIDAY + 10 * D
    order = facts(
        "11",
        Status.CLOSED,
        payment_method=PaymentMethod.COD,
        refund_status="completed",
        refund_started_at=FRIDAY,
        refunded_at=arrived,
        total=Decimal("19.90"),
        currency="USD",
    )
    (finding,) = evaluate(order, arrived + H, CONFIG)
    assert finding.rule == "refund_arrived" and "19.90 USD" in finding.summary and "a coupon" in finding.summary
    assert finding.episode == arrived.isoformat()
    assert "Refund expected by 2026-12-18 10:00 UTC (arrived 18d 0h before it)" in finding.message  # 20 business days
    told = facts(
        "11",
        Status.CLOSED,
        refund_status="completed",
        refund_started_at=FRIDAY,
        refunded_at=arrived,
        last_shown={"refund_expected_by": arrived - 2 * D},
    )  # what the page showed while it was pending
    assert "(arrived 2d 0h after it)" in evaluate(told, arrived + H, CONFIG)[0].message
    assert evaluate(order, arrived + CONFIG.recent + SECOND, CONFIG) == []


# ---------------------------------------------------------------- what every alert says
@pytest.mark.parametrize("status", ["completed", "dispute"])
def test_finished_orders_raise_nothing(status):
    order = facts("8", Status(status), paid_at=FRIDAY, shipped_at=FRIDAY)
    assert fired(order, FRIDAY + 400 * D) == []


def test_message_names_order_deadline_lateness_and_next_step():
    order = facts("8123456789012345", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY)
    (finding,) = evaluate(order, FRIDAY + 75 * H, CONFIG)
    assert finding.message.startswith("Order 8123456789012345: ")
    assert "Seller must answer by 2026-11-23 10:00 UTC (3h 0m overdue)" in finding.message
    assert "Next step: contact customer service" in finding.message
    assert finding.title == "Seller hasn't answered your cancellation"
    assert finding.episode == "seller_response_by:0"


def test_every_rule_has_a_title_in_words():
    assert set(rules.TITLES) == {rule.id for rule in rules.ORDER_RULES} | {"monitor_failing", "monitor_recovered"}


# Each alert in full, as the buyer reads it: its title, then what happened, the deadline the page names, how
# early or late, and the next step (docs/domain.md, "What the buyer wants to be told").
EVERY_ALERT = {
    "seller_response_overdue": (
        "Seller hasn't answered your cancellation",
        facts("81", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY),
        FRIDAY + 75 * H,
        (
            "Order 81: the seller has not answered the cancellation request, and the platform has not cancelled it. "
            "Seller must answer by 2026-11-23 10:00 UTC (3h 0m overdue). Next step: contact customer service to have "
            "the order cancelled and refunded; if it ships anyway, refuse the delivery"
        ),
    ),
    "ship_deadline_passed": (
        "Seller hasn't shipped in time",
        facts("82", Status.AWAITING_SHIPMENT, paid_at=FRIDAY),
        dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC),
        (
            "Order 82: the seller has not shipped by the end of the processing time and the order is still open. "
            "Ship by 2026-12-01 10:00 UTC (2h 0m overdue). Next step: request cancellation with the reason "
            '"The supplier refuses to ship the product(s)", or contact customer service'
        ),
    ),
    "refund_overdue": (
        "Refund hasn't arrived",
        facts(
            "83", Status.CLOSED, payment_method=PaymentMethod.ALIPAY, refund_status="pending", refund_started_at=FRIDAY
        ),
        dt.datetime(2026, 12, 18, 12, tzinfo=dt.UTC),
        (
            "Order 83: the refund has not arrived by the end of its window (to the Alipay balance). Refund expected by "
            "2026-12-18 10:00 UTC (2h 0m overdue). Next step: check the Alipay balance, then contact customer service "
            "with the order id"
        ),
    ),
    "payment_unverified": (
        "Payment still not verified",
        facts("84", Status.PAYMENT_VERIFYING, paid_at=FRIDAY),
        FRIDAY + 26 * H,
        (
            "Order 84: the payment is still being verified after its window. Payment verified by 2026-11-21 10:00 UTC "
            "(2h 0m overdue). Next step: contact customer service about the payment; do not pay twice"
        ),
    ),
    "parcel_overdue": (
        "Parcel is late",
        facts("85", Status.AWAITING_DELIVERY, shipped_at=FRIDAY, shipping_method="premium"),
        FRIDAY + 30 * D,
        (
            "Order 85: the parcel has not arrived by the latest delivery estimate of its shipping method. Delivery "
            "expected by 2026-12-11 10:00 UTC (9d 0h overdue). Next step: open a dispute while the buyer protection "
            "runs (buyer protection ends 2027-01-19 10:00 UTC)"
        ),
    ),
    "protection_expiring": (
        "Buyer protection ends soon",
        facts("86", Status.AWAITING_DELIVERY, shipped_at=FRIDAY),
        dt.datetime(2027, 1, 16, 10, tzinfo=dt.UTC),
        (
            "Order 86: buyer protection ends within 3 days and the order has not arrived (urgent). Protection ends "
            "2027-01-19 10:00 UTC (3d 0h left). Next step: open a dispute before the protection ends, or ask the "
            "seller to extend it"
        ),
    ),
    "unpaid_closing": (
        "Unpaid order closes soon",
        facts("87", Status.AWAITING_PAYMENT, placed_at=FRIDAY),
        dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC),
        (
            "Order 87: the unpaid order is about to close by itself. Pay by 2026-12-10 10:00 UTC (1d 0h left). "
            "Next step: pay before the deadline if you still want it; otherwise nothing to do"
        ),
    ),
    "dispute_window_closing": (
        "Last days to open a dispute",
        facts("88", Status.COMPLETED, completed_at=FRIDAY, completed_by="protection_ended"),
        FRIDAY + 10 * D,
        (
            "Order 88: the order was completed because the buyer protection ran out, without your confirmation of "
            "receipt. Dispute can be opened until 2026-12-05 10:00 UTC (5d 0h left). Next step: if it never arrived, "
            "open a dispute from the order page before the window closes"
        ),
    ),
    "cancellation_refused": (
        "Seller refused your cancellation",
        facts(
            "89",
            Status.AWAITING_SHIPMENT,
            paid_at=FRIDAY - D,
            timeline=((FRIDAY, "cancel_requested"), (FRIDAY + 2 * H, "cancel_refused")),
        ),
        FRIDAY + 3 * H,
        (
            "Order 89: the seller refused your cancellation request on 2026-11-20 12:00 UTC. Ship by 2026-11-30 10:00 "
            "UTC (9d 21h left). Next step: it will ship; refuse the delivery, or return it after it arrives"
        ),
    ),
    "shipped_while_cancelling": (
        "Order shipped while you were cancelling",
        facts(
            "90",
            Status.AWAITING_DELIVERY,
            shipped_at=FRIDAY + 5 * H,
            timeline=((FRIDAY, "cancel_requested"), (FRIDAY + 5 * H, "shipped")),
        ),
        FRIDAY + 6 * H,
        (
            "Order 90: the order shipped on 2026-11-20 15:00 UTC while your cancellation request was pending. Delivery "
            "expected by 2027-01-22 15:00 UTC (62d 23h left). Next step: refuse the delivery, then ask for the refund"
        ),
    ),
    "refund_arrived": (
        "Refund arrived",
        facts(
            "91",
            Status.CLOSED,
            payment_method=PaymentMethod.CARD,
            refund_status="completed",
            refund_started_at=FRIDAY,
            refunded_at=FRIDAY + 10 * D,
            total=Decimal("19.90"),
            currency="USD",
        ),
        FRIDAY + 10 * D + H,
        (
            "Order 91: the refund of 19.90 USD arrived on 2026-11-30 to the original payment method. "
            "Refund expected by 2026-12-18 10:00 UTC (arrived 18d 0h before it). Next step: check the original "
            "payment method; nothing else to do"
        ),
    ),
}


@pytest.mark.parametrize("rule", EVERY_ALERT)
def test_every_alert_in_full(rule):
    title, order, now, message = EVERY_ALERT[rule]
    (finding,) = [f for f in evaluate(order, now, CONFIG) if f.rule == rule]
    assert (finding.title, finding.message) == (title, message)
    assert (finding.order_id, finding.now) == (order.order_id, now)  # whose, and when it was found


def test_monitor_failing_and_recovered_belong_to_their_outage():
    failing = rules.monitor_failing("acct", FRIDAY, FRIDAY + H, 3, "HTTP 500")
    recovered = rules.monitor_recovered("acct", FRIDAY, FRIDAY + 2 * H)
    assert failing.episode == recovered.episode == FRIDAY.isoformat()
    assert (failing.title, recovered.title) == ("ordermon can't read your orders", "ordermon reads your orders again")
    # About the account, not an order: an empty order id ("" , never NULL, which the alerts table's unique
    # index would not compare equal), so the message names no order.
    assert failing.order_id == recovered.order_id == ""
    assert failing.message.startswith("the monitor of acct has failed 3 polls in a row (HTTP 500). ")
    assert failing.message.endswith(
        ". Next step: check the credentials, a captcha on the site, or whether the site is up; ordermon keeps retrying"
    )
    assert recovered.message.startswith("the monitor of acct works again. ")
    assert recovered.message.endswith(". Next step: nothing: alerts that came due meanwhile follow")


# ---------------------------------------------------------------- orders that moved on
@pytest.mark.parametrize(
    "order, now",
    [
        # a deadline the page showed in an earlier status is no reason to warn once the order moved on
        (facts("12", Status.AWAITING_SHIPMENT, site_deadlines={"verification_by": FRIDAY}), FRIDAY + 2 * D),
        (facts("12", Status.COMPLETED, site_deadlines={"delivery_expected_by": FRIDAY}), FRIDAY + 2 * D),
        (facts("12", Status.COMPLETED, site_deadlines={"protection_ends": FRIDAY + 3 * D}), FRIDAY + H),
        (facts("12", Status.DISPUTE, site_deadlines={"protection_ends": FRIDAY + 3 * D}), FRIDAY + H),
        (facts("12", Status.CLOSED, site_deadlines={"pay_by": FRIDAY + D}), FRIDAY + H),
        (facts("12", Status.PAYMENT_VERIFYING, site_deadlines={"pay_by": FRIDAY + D}), FRIDAY + H),
    ],
    ids=["verified", "delivered", "completed", "in dispute", "closed unpaid", "paid"],
)
def test_no_warning_for_an_order_that_no_longer_awaits_payment_or_delivery(order, now):
    assert fired(order, now) == []


def test_parcel_overdue_without_a_known_protection_end_names_none():
    order = facts("7", Status.AWAITING_DELIVERY, site_deadlines={"delivery_expected_by": FRIDAY})
    (finding,) = evaluate(order, FRIDAY + D, CONFIG)
    assert finding.rule == "parcel_overdue" and finding.next_step == "open a dispute while the buyer protection runs"


# ---------------------------------------------------------------- news, and how long it stays news
@pytest.mark.parametrize(
    "rule, happened",
    [
        ("cancellation_refused", FRIDAY + 2 * H),
        ("shipped_while_cancelling", FRIDAY + 5 * H),
        ("refund_arrived", FRIDAY + 10 * D),
    ],
)
def test_news_is_reported_up_to_recent_after_it_happened(rule, happened):
    order = EVERY_ALERT[rule][1]
    assert rule in [f.rule for f in evaluate(order, happened + CONFIG.recent, CONFIG)]
    assert rule not in [f.rule for f in evaluate(order, happened + CONFIG.recent + SECOND, CONFIG)]


def test_a_new_refusal_after_an_old_one_is_reported():
    old, new = FRIDAY - 30 * D, FRIDAY
    order = facts(
        "9",
        Status.AWAITING_SHIPMENT,
        paid_at=FRIDAY - 40 * D,
        timeline=(
            (old - H, "cancel_requested"),
            (old, "cancel_refused"),
            (new - H, "cancel_requested"),
            (new, "cancel_refused"),
        ),
    )
    assert [f.episode for f in evaluate(order, new + H, CONFIG) if f.rule == "cancellation_refused"] == [
        new.isoformat()
    ]


def shipped_while_cancelling(*timeline, shipped_at=FRIDAY + 5 * H):
    order = facts("10", Status.AWAITING_DELIVERY, shipped_at=shipped_at, timeline=timeline)
    return [f for f in evaluate(order, FRIDAY + 6 * H, CONFIG) if f.rule == "shipped_while_cancelling"]


def test_shipped_while_cancelling_at_the_same_moments():
    shipped = FRIDAY + 5 * H
    assert (
        len(shipped_while_cancelling((shipped, "cancel_requested"), (shipped, "shipped"))) == 1
    )  # asked as it shipped
    # the seller refused and shipped at once: a refusal (its own alert), not a shipment behind the buyer's back
    assert (
        shipped_while_cancelling((FRIDAY, "cancel_requested"), (shipped, "cancel_refused"), (shipped, "shipped")) == []
    )
    assert (
        shipped_while_cancelling((FRIDAY, "cancel_requested"), (FRIDAY, "cancel_refused"), (shipped, "shipped")) == []
    )


def test_each_shipment_is_judged_on_its_own():
    first, again = FRIDAY - 20 * D, FRIDAY + 5 * H  # shipped, came back to the seller, shipped again
    (finding,) = shipped_while_cancelling((first, "shipped"), (FRIDAY, "cancel_requested"), (again, "shipped"))
    assert finding.episode == again.isoformat()


def test_shipped_while_cancelling_without_a_delivery_estimate_goes_by_the_shipment():
    (finding,) = shipped_while_cancelling((FRIDAY, "cancel_requested"), (FRIDAY + 5 * H, "shipped"), shipped_at=None)
    assert (finding.deadline, finding.deadline_name) == (FRIDAY + 5 * H, None)
    assert "Deadline 2026-11-20 15:00 UTC (1h 0m overdue)" in finding.message


def test_refund_arrived_without_an_amount_or_right_on_time():
    on_time = dt.datetime(2026, 12, 18, 10, tzinfo=dt.UTC)  # 20 business days after FRIDAY
    order = facts("11", Status.CLOSED, refund_status="completed", refund_started_at=FRIDAY, refunded_at=on_time)
    (finding,) = evaluate(order, on_time + H, CONFIG)
    assert finding.summary.startswith("the refund of the money arrived on 2026-12-18 ")
    assert "(arrived 0h 0m before it)" in finding.message


# ---------------------------------------------------------------- when to look again
UNREMINDED = RuleConfig(remind_hours=0)


def moments(order, now, config=UNREMINDED):
    """Every moment next_moment names from ``now`` on, until it names none (reminders off: they never end)."""
    found = []
    while (now := next_moment(order, now, config)) is not None:
        found.append(now)
    return found


def test_next_moment_names_every_deadline_grace_end_and_warning_level():
    def at(month, day, hour=10):
        return dt.datetime(2026 + (month < 6), month, day, hour, tzinfo=dt.UTC)

    parcel = facts("5", Status.AWAITING_DELIVERY, shipped_at=FRIDAY)
    assert moments(parcel, FRIDAY) == [
        at(12, 1),  # a dispute can be opened
        at(1, 5),
        at(1, 12),
        at(1, 16),
        at(1, 19),  # protection: 14, 7 and 3 days before its end, the end
        at(1, 22),
        at(1, 22, 11),  # the latest delivery estimate, its grace
        at(2, 3),  # the dispute window closes
    ]
    unpaid = facts("7", Status.AWAITING_PAYMENT, placed_at=FRIDAY)
    assert moments(unpaid, FRIDAY) == [at(12, 8), at(12, 10)]  # two days before it closes, then closed
    cancelling = facts("1", Status.AWAITING_CANCELLATION, paid_at=FRIDAY - D, cancel_requested_at=FRIDAY)
    # Ship by no longer binds an order awaiting cancellation: its passing is read again, no grace to wait for.
    assert moments(cancelling, FRIDAY) == [at(11, 23), at(11, 23, 11), at(11, 30)]
    assert moments(facts("8", Status.COMPLETED, completed_by="buyer_confirmed"), FRIDAY) == []


def test_next_moment_is_strictly_after_now():
    deadline = FRIDAY + 72 * H
    order = facts("1", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY)
    assert next_moment(order, deadline - SECOND, CONFIG) == deadline
    assert next_moment(order, deadline, CONFIG) == deadline + GRACE
    assert next_moment(order, deadline + GRACE, UNREMINDED) is None
    assert next_moment(order, deadline + GRACE, CONFIG) == deadline + GRACE + D  # its first reminder


def test_an_overdue_finding_is_reminded_every_remind_hours_since_it_became_overdue_and_looked_at_then():
    order = facts("1", Status.AWAITING_CANCELLATION, cancel_requested_at=FRIDAY)
    overdue = FRIDAY + 72 * H + GRACE
    every_12h = RuleConfig(remind_hours=12)
    assert next_moment(order, overdue + 13 * H, every_12h) == overdue + 24 * H
    (finding,) = evaluate(order, overdue + 25 * H, every_12h)
    base = (finding.order_id, finding.rule, "", finding.episode)
    (reminder,) = rules.reminders([finding], every_12h, {base: overdue + H})  # alerted an hour after
    assert (reminder.level, reminder.reminder, reminder.title) == ("reminder 2", 2, f"Still open: {finding.title}")
    assert (finding.severity.value, reminder.severity.value) == ("urgent", "warning")  # told at once; reminded
    assert rules.reminders([finding], UNREMINDED, {base: overdue + H}) == []
    assert rules.reminders([finding], every_12h, {}) == []  # never alerted: no reminder, the alert comes first
    first_look = overdue + 25 * H - MINUTE  # a first look, long overdue: reminded from the next moment on
    assert rules.reminders([finding], every_12h, {base: first_look}) == []
    (later,) = evaluate(order, overdue + 36 * H, every_12h)
    assert [r.level for r in rules.reminders([later], every_12h, {base: first_look})] == ["reminder 3"]
    soon = evaluate(order, overdue + 11 * H, every_12h)
    assert rules.reminders(soon, every_12h, {base: overdue}) == []  # not yet a reminder


def test_the_readmes_rule_table_is_the_declarations():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- rules:begin (python -m monitor.rules) -->\n")[1].split("\n<!-- rules:end -->")[0]
    assert block == rules.table(), "run `python -m monitor.rules` and paste its table into the README"


def test_a_single_warning_level_is_urgent():
    order = facts("5", Status.AWAITING_DELIVERY, shipped_at=FRIDAY)
    end = dt.datetime(2027, 1, 19, 10, tzinfo=dt.UTC)
    (finding,) = [f for f in evaluate(order, end - 5 * D, RuleConfig(protection_warning_days=(5,))) if f.level]
    assert (finding.level, finding.summary.split("(")[-1]) == ("5d", "urgent)")


def test_the_dispute_window_of_an_order_completed_by_the_protection_is_looked_at_when_it_closes():
    ran_out = facts("8", Status.COMPLETED, completed_at=FRIDAY, completed_by="protection_ended")
    assert moments(ran_out, FRIDAY) == [FRIDAY + 15 * D]


def test_the_windows_an_order_was_judged_with_are_told_apart():
    def key(**changed):
        return rules.judged_with(RuleConfig(**changed))

    assert key() == key() == rules.judged_with(RuleConfig(calendar=BusinessCalendar()))
    others = [
        key(seller_response_hours=48),
        key(grace_minutes=0),
        key(calendar=BusinessCalendar("US")),
        key(calendar=BusinessCalendar(extra_holidays=[dt.date(2026, 12, 24)])),
        key(calendar=BusinessCalendar(timezone=_zone("Asia/Shanghai"))),
    ]
    assert len({key(), *others}) == 1 + len(others)


@pytest.mark.parametrize("rule", sorted(EVERY_ALERT))
def test_what_holds_stays_the_same_until_the_moment_the_rules_name(rule):
    """A view keeps an order's judgement until ``judgement_changes`` (the dashboard does): what holds
    (rule, level, episode) then, and which deadline comes next, are what they were when it was
    judged, at every moment in between."""
    from monitor.views import judge

    order = with_computed(EVERY_ALERT[rule][1], CONFIG)

    def holding(at):
        first = judge(order, at, CONFIG).next_deadline
        return {(f.rule, f.level, f.episode) for f in rules.evaluate(order, at, CONFIG)}, first and first.name

    deadlines = [d.at for d in order.deadlines.values() if d.at is not None]
    for now in [FRIDAY - 5 * D + step * 6 * H for step in range(120)] + deadlines:  # and at each deadline
        until = rules.judgement_changes(order, now, CONFIG)
        last = (until - dt.timedelta(microseconds=1)) if until else now + 400 * D
        assert until is None or until > now
        for at in (now + (last - now) / 3, now + (last - now) * 2 / 3, last):
            assert holding(at) == holding(now), (now, at, until)


def test_each_rule_says_how_urgent_its_findings_are():
    """Money at risk now is urgent (the overdue rules, protection in its last 3 days, a parcel shipped
    while cancelling); the other warnings warn; a refund that arrived and a monitor that recovered
    are news."""
    urgent = {r.id for r in rules.ORDER_RULES if r.judged is rules.Judged.OVERDUE} | {"shipped_while_cancelling"}
    info = {"refund_arrived", "monitor_recovered"}
    for rule in rules.RULES.values():
        expected = "urgent" if rule.id in urgent else "info" if rule.id in info else "warning"
        assert rule.severity_of() == expected, rule.id
    protection = rules.RULES["protection_expiring"]
    assert [protection.severity_of(level) for level in ("14d", "7d", "3d", "1d")] == [
        "warning", "warning", "urgent", "urgent",
    ]  # fmt: skip
    (finding,) = [f for f in evaluate(EVERY_ALERT["shipped_while_cancelling"][1], FRIDAY + 6 * H, CONFIG)
                  if f.rule == "shipped_while_cancelling"]  # fmt: skip
    assert finding.severity == "urgent"
