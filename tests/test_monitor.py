"""The monitor end to end: storefront clock moved through every rule's deadline,
alerts delivered to a real Apprise json:// receiver, exactly once, across restarts."""

import datetime as dt
import os
from importlib.metadata import version

import pytest

from monitor.exits import code_for
from monitor.service import Monitor
from monitor.settings import MonitorSettings
from monitor.store import DatabaseBusy, SqliteStore
from monitor.views import status_rows

pytestmark = pytest.mark.e2e

FRIDAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.fixture
def settings(storefront, tmp_path, alert_receiver):
    return MonitorSettings(
        _env_file=None,
        storefront_url=storefront.url,
        email=storefront.email,
        password=storefront.password,
        db=tmp_path / "ordermon.db",
        data_dir=tmp_path / "data",
        alert_urls=[alert_receiver.url],
        alert_retry_backoff=0.01,
        max_clock_skew=float("inf"),  # the storefront travels in time
        failure_threshold=2,
        retries=1,
        retry_backoff=0.01,
        timeout=10,
        holiday_country="US",
    )


@pytest.fixture
def open_monitor(settings, browser):
    opened = []

    def open_monitor(**overrides):
        changed = MonitorSettings(_env_file=None, **(settings.model_dump() | overrides))  # validated
        monitor = Monitor(changed, browser=browser).open()
        opened.append(monitor)
        return monitor

    yield open_monitor
    for monitor in opened:
        monitor.close()


def polled(monitor):
    (result,) = monitor.poll_once()
    assert result.error is None, result.error
    return result


GRACE = dt.timedelta(minutes=60)
MINUTE = dt.timedelta(minutes=1)


def at(admin, order_id: str, name: str) -> dt.datetime:
    """A deadline as the site shows it on the order's page."""
    return dt.datetime.fromisoformat(admin.order(order_id)["deadlines"][name])


def _seller_response(admin):
    order = admin.create_order(status="awaiting_cancellation", seller="silent", cancel_requested_at=FRIDAY)
    return order["id"], at(admin, order["id"], "seller_response_by") + GRACE


def _ship_by(admin):  # the site counts US holidays: Thanksgiving moves ship-by to Wed 2 Dec
    order = admin.create_order(status="awaiting_shipment", seller="silent", paid_at=FRIDAY)
    assert at(admin, order["id"], "ship_by") == dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    return order["id"], at(admin, order["id"], "ship_by") + GRACE


def _refund(admin):
    order = admin.create_order(status="closed", refund_started_at=FRIDAY, refund_business_days=None)
    return order["id"], at(admin, order["id"], "refund_expected_by") + GRACE


def _verification(admin):
    order = admin.create_order(status="payment_verifying", paid_at=FRIDAY, verification_stuck=True)
    return order["id"], at(admin, order["id"], "verification_by") + GRACE


def _parcel(admin):
    order = admin.create_order(status="awaiting_delivery", shipped_at=FRIDAY, shipping_method="premium")
    return order["id"], at(admin, order["id"], "delivery_expected_by") + GRACE


def _protection(admin):
    order = admin.create_order(status="awaiting_delivery", shipped_at=FRIDAY)
    return order["id"], at(admin, order["id"], "protection_ends") - dt.timedelta(days=14)


def _unpaid(admin):
    order = admin.create_order(status="awaiting_payment", placed_at=FRIDAY)
    return order["id"], at(admin, order["id"], "pay_by") - dt.timedelta(days=2)


def _dispute_window(admin):  # the platform completes the order when protection runs out
    admin.settings(auto_actions=True)
    order = admin.create_order(status="awaiting_delivery", shipped_at=FRIDAY - dt.timedelta(days=55))
    return order["id"], at(admin, order["id"], "protection_ends")


def _refused(admin):  # a refusing seller answers two hours after the request
    order = admin.create_order(status="awaiting_cancellation", seller="refuses", cancel_requested_at=FRIDAY)
    return order["id"], FRIDAY + dt.timedelta(hours=2)


def _shipped_while_cancelling(admin):  # ships two business days after payment, request or not
    order = admin.create_order(
        status="awaiting_cancellation",
        seller="ships_anyway",
        paid_at=FRIDAY - dt.timedelta(days=1),
        cancel_requested_at=FRIDAY,
    )
    return order["id"], dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)


def _refund_arrives(admin):
    order = admin.create_order(status="closed", refund_started_at=FRIDAY, refund_business_days=3)
    return order["id"], dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)  # Fri + 3 business days


SCENARIOS = {
    "seller_response_overdue": _seller_response,
    "ship_deadline_passed": _ship_by,
    "refund_overdue": _refund,
    "payment_unverified": _verification,
    "parcel_overdue": _parcel,
    "protection_expiring": _protection,
    "unpaid_closing": _unpaid,
    "dispute_window_closing": _dispute_window,
    "cancellation_refused": _refused,
    "shipped_while_cancelling": _shipped_while_cancelling,
    "refund_arrived": _refund_arrives,
}


def alerts_of(monitor, order_id: str, rule: str) -> list[dict]:
    return [a for a in monitor.store.alerts() if a["order_id"] == order_id and a["rule"] == rule]


def test_every_rule_has_a_scenario():
    from monitor.rules import ORDER_RULES

    assert set(SCENARIOS) == {rule.id for rule in ORDER_RULES}


@pytest.mark.storefront(orders=0)
@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_each_rule_alerts_once_when_the_site_says_its_moment_has_come(rule, storefront, open_monitor, alert_receiver):
    """The storefront counts US holidays and the monitor, on its defaults, none: alerts follow the site."""
    admin = storefront.admin
    admin.clock(set=FRIDAY, freeze=True)
    admin.settings(auto_actions=False, holiday_country="US")  # the platform does nothing: deadlines pass
    order_id, due = SCENARIOS[rule](admin)
    monitor = open_monitor(holiday_country=None)
    admin.clock(set=due - MINUTE)
    polled(monitor)
    assert alerts_of(monitor, order_id, rule) == []
    admin.clock(set=due)
    polled(monitor)
    assert len(alerts_of(monitor, order_id, rule)) == 1
    admin.clock(set=due + dt.timedelta(hours=20))
    polled(monitor)
    monitor.close()
    restarted = open_monitor(holiday_country=None)
    assert polled(restarted).alerts == []  # a restart sends nothing again
    restarted.deliver()
    (alert,) = alerts_of(restarted, order_id, rule)
    notes = [n for n in alert_receiver.received if f"#{alert['id']})" in n["message"]]
    assert len(notes) == 1 and order_id in notes[0]["title"]
    assert f"/p/order/detail.html?orderId={order_id}" in notes[0]["message"]  # a link to the order's page


@pytest.mark.storefront(orders=0)
def test_a_site_on_another_calendar_alerts_at_its_own_deadline(storefront, open_monitor):
    """Chinese holidays and time: the week of National Day moves the site's ship-by; the monitor keeps
    its defaults (UTC, no holidays) and still alerts at the site's deadline, and says they differ."""
    admin = storefront.admin
    paid = dt.datetime(2026, 9, 28, 1, tzinfo=dt.UTC)  # Monday
    admin.clock(set=paid, freeze=True)
    admin.settings(auto_actions=False, timezone="Asia/Shanghai", holiday_country="CN")
    order = admin.create_order(status="awaiting_shipment", seller="silent", paid_at=paid)
    site_ship_by = at(admin, order["id"], "ship_by")
    monitor = open_monitor(holiday_country=None, timezone="UTC")
    own = monitor.settings.rule_config().calendar.add_business_days(paid, 7)
    assert site_ship_by - own >= dt.timedelta(days=5)
    admin.clock(set=own + GRACE)
    polled(monitor)
    assert alerts_of(monitor, order["id"], "ship_deadline_passed") == []  # the monitor's own date means nothing
    admin.clock(set=site_ship_by + GRACE - MINUTE)
    polled(monitor)
    assert alerts_of(monitor, order["id"], "ship_deadline_passed") == []
    admin.clock(set=site_ship_by + GRACE)
    polled(monitor)
    assert len(alerts_of(monitor, order["id"], "ship_deadline_passed")) == 1
    (row,) = status_rows(monitor.store)
    assert row["deadline_differences"]["ship_by"]["site"] == site_ship_by.isoformat()
    assert row["deadline_differences"]["ship_by"]["computed"] == own.isoformat()


@pytest.mark.storefront(orders=0)
def test_failed_delivery_is_retried_and_arrives_once(storefront, open_monitor, alert_receiver):
    storefront.admin.create_order(
        status="closed", refund_started_at=storefront.admin.now() - dt.timedelta(days=60), refund_business_days=None
    )
    alert_receiver.fail_next(1)
    monitor = open_monitor()
    polled(monitor)
    rows = SqliteStore(monitor.settings.db).alerts()
    assert len(rows) == 1 and rows[0]["states"] == "pending"
    after_backoff = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    monitor.notifier.deliver_due(monitor.store, now=after_backoff)
    assert len(alert_receiver.received) == 1
    monitor.deliver()
    assert len(alert_receiver.received) == 1
    assert SqliteStore(monitor.settings.db).alerts()[0]["states"] == "delivered"


@pytest.mark.storefront(orders=3)
def test_captcha_counts_as_a_failed_poll(storefront, open_monitor):
    storefront.admin.faults(captcha=True)
    monitor = open_monitor()
    (result,) = monitor.poll_once()
    assert "captcha" in result.error and code_for(result.failure) == 5
    assert storefront.admin.state()["requests"].get("POST /login") == 1  # not polled again: no retry


def test_a_second_monitor_on_the_same_database_refuses(open_monitor, settings, browser):
    open_monitor()
    with pytest.raises(DatabaseBusy, match="another ordermon monitor"):
        Monitor(settings, browser=browser).open()


@pytest.mark.storefront(orders=0)
def test_now_is_the_sites_clock(storefront, open_monitor):
    storefront.admin.clock(set=dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC), freeze=True)
    result = polled(open_monitor())
    assert result.site_now == dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def test_the_polls_requests_name_ordermon_and_its_process(storefront, open_monitor):
    """A site's access log tells two workers of a fleet apart at one account."""
    before = len(storefront.admin.visits())
    polled(open_monitor(poll_via="http"))
    read = [v for v in storefront.admin.visits()[before:] if v["request"].endswith(".json")]  # not the sign-in
    agents = {v["agent"] for v in read}
    assert agents == {f"ordermon/{version('ordermon')} (pid {os.getpid()})"}


@pytest.mark.storefront(orders=40)
def test_unchanged_orders_get_no_detail_reads(storefront, open_monitor):
    storefront.admin.clock(freeze=True)
    monitor = open_monitor()
    assert polled(monitor).details_read == 40
    before = storefront.admin.state()["requests"].get("GET /p/order/detail.json", 0)
    second = polled(monitor)
    after = storefront.admin.state()["requests"].get("GET /p/order/detail.json", 0)
    assert second.details_read == after - before == 0
    refund = next(
        o
        for o in storefront.admin.state()["orders"]
        if o["refund_status"] == "pending" and o["refund_business_days"] is not None
    )
    storefront.admin.clock(advance=60 * 86400)  # the refund arrives: the list shows it
    third = polled(monitor)
    assert third.details_read >= 1
    assert SqliteStore(monitor.settings.db).history(refund["id"])[-1]["refund_to"] == "completed"
