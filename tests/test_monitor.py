"""The monitor end to end: storefront clock moved through every rule's deadline,
alerts delivered to a real Apprise json:// receiver, exactly once, across restarts."""

import datetime as dt
from collections import Counter

import pytest

from monitor.exits import code_for
from monitor.service import Monitor
from monitor.settings import MonitorSettings
from monitor.store import DatabaseBusy, Store

pytestmark = pytest.mark.e2e

FRIDAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.fixture
def settings(storefront, tmp_path, alert_receiver):
    return MonitorSettings(
        _env_file=None, storefront_url=storefront.url, email=storefront.email,
        password=storefront.password, db=tmp_path / "ordermon.db", data_dir=tmp_path / "data",
        alert_urls=[alert_receiver.url], alert_retry_backoff=0.01, failure_threshold=2,
        retries=1, retry_backoff=0.01, timeout=10, holiday_country="US",
    )


@pytest.fixture
def open_monitor(settings, browser):
    opened = []

    def open_monitor(**overrides):
        monitor = Monitor(settings.model_copy(update=overrides), browser=browser).open()
        opened.append(monitor)
        return monitor

    yield open_monitor
    for monitor in opened:
        monitor.close()


def polled(monitor):
    (result,) = monitor.poll_once()
    assert result.error is None, result.error
    return result


@pytest.mark.storefront(orders=0)
def test_every_rule_alerts_exactly_once_and_never_again_after_a_restart(storefront, open_monitor, alert_receiver):
    admin = storefront.admin
    admin.clock(set=FRIDAY, freeze=True)
    admin.settings(auto_actions=False, holiday_country="US")  # the platform does nothing: deadlines pass
    ids = {
        "seller_response_overdue": admin.create_order(status="awaiting_cancellation", seller="silent",
                                                      paid_at=FRIDAY - dt.timedelta(hours=1), cancel_requested_at=FRIDAY),
        "ship_deadline_passed": admin.create_order(status="awaiting_shipment", seller="silent", paid_at=FRIDAY),
        "refund_overdue": admin.create_order(status="closed", refund_started_at=FRIDAY, refund_business_days=None),
        "protection_expiring": admin.create_order(status="awaiting_delivery", shipped_at=FRIDAY),
        "payment_unverified": admin.create_order(status="payment_verifying", paid_at=FRIDAY, verification_stuck=True),
        "unpaid_closing": admin.create_order(status="awaiting_payment", placed_at=FRIDAY),
    }
    ids = {rule: order["id"] for rule, order in ids.items()}
    monitor = open_monitor()
    first_alert_at = {}
    moment = FRIDAY
    while moment <= dt.datetime(2027, 1, 20, tzinfo=dt.UTC):
        admin.clock(set=moment)
        result = polled(monitor)
        for message in result.alerts:
            for rule, order_id in ids.items():
                if order_id in message:
                    first_alert_at.setdefault(rule, moment)
        moment += dt.timedelta(hours=12)

    rows = Store(monitor.settings.db).alerts()
    per_rule = Counter((r["order_id"], r["rule"], r["level"]) for r in rows)
    assert all(count == 1 for count in per_rule.values())
    assert {rule for (_, rule, _) in per_rule} == set(ids)
    assert sorted(level for (_, rule, level) in per_rule if rule == "protection_expiring") == ["14d", "3d", "7d"]
    # Deadlines honoured, weekends and the US Thanksgiving holiday included:
    assert first_alert_at["seller_response_overdue"] == FRIDAY + dt.timedelta(hours=72)
    assert first_alert_at["payment_unverified"] == FRIDAY + dt.timedelta(hours=24)
    assert first_alert_at["ship_deadline_passed"] == dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    assert first_alert_at["refund_overdue"] == dt.datetime(2026, 12, 21, 10, tzinfo=dt.UTC)

    delivered = alert_receiver.wait_for(len(rows))
    assert len(delivered) == len(rows) == 8
    assert len({d["message"] for d in delivered}) == len(delivered)
    assert all(any(order_id in d["message"] for order_id in ids.values()) for d in delivered)

    monitor.close()
    restarted = open_monitor()
    assert polled(restarted).alerts == []
    restarted.deliver()
    assert len(alert_receiver.received) == 8


@pytest.mark.storefront(orders=15)
def test_history_has_one_row_per_change_not_per_poll(storefront, open_monitor):
    monitor = open_monitor()
    assert polled(monitor).changes == 15
    assert polled(monitor).changes == 0
    assert polled(monitor).changes == 0
    order = storefront.admin.create_order(status="awaiting_cancellation", seller="silent")
    assert polled(monitor).changes == 1
    storefront.admin.seller(order["id"], "accept")
    assert polled(monitor).changes == 1
    storefront.admin.clock(advance=365 * 86400)  # the refund arrives: a change within Closed
    polled(monitor)
    store = Store(monitor.settings.db)
    rows = store.history(order["id"])
    assert [(r["status_from"], r["status_to"], r["refund_to"]) for r in rows] == [
        (None, "awaiting_cancellation", "none"),
        ("awaiting_cancellation", "closed", "pending"),
        ("closed", "closed", "completed"),
    ]
    assert store.counts()["polls"] == 6


@pytest.mark.storefront(orders=0)
def test_failed_delivery_is_retried_and_arrives_once(storefront, open_monitor, alert_receiver):
    storefront.admin.create_order(status="closed", refund_started_at=storefront.admin.now() - dt.timedelta(days=60),
                                  refund_business_days=None)
    alert_receiver.fail_next(1)
    monitor = open_monitor()
    polled(monitor)
    rows = Store(monitor.settings.db).alerts()
    assert len(rows) == 1 and rows[0]["states"] == "pending"
    after_backoff = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    monitor.notifier.deliver_due(monitor.store, now=after_backoff)
    assert len(alert_receiver.received) == 1
    monitor.deliver()
    assert len(alert_receiver.received) == 1
    assert Store(monitor.settings.db).alerts()[0]["states"] == "delivered"


@pytest.mark.storefront(orders=3)
def test_monitor_failing_once_then_recovered_once(storefront, open_monitor, alert_receiver):
    monitor = open_monitor()
    polled(monitor)
    storefront.admin.faults(error_rate=1.0)
    results = [monitor.poll_once()[0] for _ in range(4)]
    assert all(r.error for r in results)
    assert [len(r.alerts) for r in results] == [0, 1, 0, 0]
    assert "failed 2 polls in a row" in results[1].alerts[0]
    storefront.admin.faults(clear=True)
    recovered = polled(monitor)
    assert len(recovered.alerts) == 1 and "works again" in recovered.alerts[0]
    assert polled(monitor).alerts == []
    rules = [r["rule"] for r in Store(monitor.settings.db).alerts()]
    assert rules.count("monitor_failing") == 1 and rules.count("monitor_recovered") == 1
    alert_receiver.wait_for(2)


@pytest.mark.storefront(orders=3)
def test_captcha_counts_as_a_failed_poll(storefront, open_monitor):
    storefront.admin.faults(captcha=True)
    monitor = open_monitor()
    (result,) = monitor.poll_once()
    assert "captcha" in result.error and code_for(result.failure) == 5


def test_a_second_monitor_on_the_same_database_refuses(open_monitor, settings, browser):
    open_monitor()
    with pytest.raises(DatabaseBusy, match="another ordermon monitor"):
        Monitor(settings, browser=browser).open()


@pytest.mark.storefront(orders=0)
def test_now_is_the_sites_clock(storefront, open_monitor):
    storefront.admin.clock(set=dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC), freeze=True)
    result = polled(open_monitor())
    assert result.site_now == dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


@pytest.mark.storefront(orders=40)
def test_unchanged_orders_get_no_detail_reads(storefront, open_monitor):
    storefront.admin.clock(freeze=True)
    monitor = open_monitor()
    assert polled(monitor).details_read == 40
    before = storefront.admin.state()["requests"].get("GET /p/order/detail.json", 0)
    second = polled(monitor)
    after = storefront.admin.state()["requests"].get("GET /p/order/detail.json", 0)
    assert second.details_read == after - before == 0
    refund = next(o for o in storefront.admin.state()["orders"]
                  if o["refund_status"] == "pending" and o["refund_business_days"] is not None)
    storefront.admin.clock(advance=60 * 86400)  # the refund arrives: the list shows it
    third = polled(monitor)
    assert third.details_read >= 1
    assert Store(monitor.settings.db).history(refund["id"])[-1]["refund_to"] == "completed"
