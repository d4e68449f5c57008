"""Paths no other test reaches: an outbox delivery given up after its last attempt, a target removed
from the settings, two accounts in one monitor, SIGTERM in the middle of a poll, and the layout
variant through the page objects."""

import datetime as dt
import signal
import sqlite3
import subprocess
import sys

import pytest

from fixtures.receiver import AlertReceiver
from flows import Account, Browser, read_order_ids_ui
from flows.orders import read_orders
from flows.session import AccountSession
from monitor.alerts import target_key
from monitor.lock import MonitorLock
from monitor.service import Monitor
from monitor.settings import MonitorSettings
from monitor.store import DROPPED, SqliteStore

pytestmark = pytest.mark.e2e

LATER = dt.timedelta(days=1)  # past any retry's backoff


def settings_for(storefront, tmp_path, **overrides) -> MonitorSettings:
    return MonitorSettings(
        **(
            {
                "_env_file": None,
                "storefront_url": storefront.url,
                "email": storefront.email,
                "password": storefront.password,
                "db": tmp_path / "ordermon.db",
                "data_dir": tmp_path / "data",
                "retries": 1,
                "retry_backoff": 0.01,
                "timeout": 10,
                "max_clock_skew": float("inf"),  # the storefront travels in time
                "alert_retry_backoff": 0.01,
            }
            | overrides
        )
    )


def polled(monitor) -> list:
    results = monitor.poll_once()
    assert [r.error for r in results] == [None] * len(results), results
    return results


# ---------------------------------------------------------------- the outbox
@pytest.mark.storefront(orders=0)
def test_a_delivery_failing_every_attempt_is_failed_after_the_last_and_never_sent(
    storefront, tmp_path, browser, alert_receiver
):
    storefront.scenarios.stuck_refund(days_ago=60)  # one alert at the first poll
    alert_receiver.fail_next(3)  # down for exactly the attempts allowed: a fourth would get through
    settings = settings_for(storefront, tmp_path, alert_urls=[alert_receiver.url], alert_max_attempts=3)
    with Monitor(settings, browser=browser) as monitor:
        (result,) = polled(monitor)  # the first attempt comes with the poll
        assert len(result.alerts) == 1
        (alert,) = monitor.store.alerts()
        when = dt.datetime.now(dt.UTC)
        for attempt in (2, 3):
            when += LATER
            assert monitor.notifier.deliver_due(monitor.store, now=when) == {"delivered": 0, "failed": 1}, attempt
        (delivery,) = monitor.store.deliveries(alert["id"])
        assert (delivery["state"], delivery["attempts"], delivery["next_attempt"]) == ("failed", 3, None)
        assert "500" in delivery["last_error"]  # what the receiver answered
        assert monitor.notifier.deliver_due(monitor.store, now=when + 365 * LATER) == {"delivered": 0, "failed": 0}
        monitor.deliver()
        assert monitor.store.alerts()[0]["states"] == "failed"
    assert alert_receiver.received == []  # given up: the receiver, up again, never got it


@pytest.mark.storefront(orders=0)
def test_deliveries_pending_for_a_target_no_longer_configured_are_dropped(
    storefront, tmp_path, browser, alert_receiver
):
    storefront.scenarios.stuck_refund(days_ago=60)
    with AlertReceiver() as removed:
        removed.fail_next(1)  # down at the first attempt: its delivery waits for a retry
        settings = settings_for(storefront, tmp_path, alert_urls=[alert_receiver.url, removed.url])
        with Monitor(settings, browser=browser) as monitor:
            polled(monitor)
            (alert,) = monitor.store.alerts()
            states = {d["target"]: d["state"] for d in monitor.store.deliveries(alert["id"])}
            assert states == {target_key(alert_receiver.url): "delivered", target_key(removed.url): "pending"}
        kept_only = settings_for(storefront, tmp_path, alert_urls=[alert_receiver.url])
        with Monitor(kept_only, browser=browser) as monitor:  # opening recovers the outbox
            rows = {d["target"]: d for d in monitor.store.deliveries(alert["id"])}
            gone = rows[target_key(removed.url)]
            assert (gone["state"], gone["last_error"], gone["attempts"]) == ("dropped", DROPPED, 1)
            assert rows[target_key(alert_receiver.url)]["state"] == "delivered"
            far = dt.datetime.now(dt.UTC) + 365 * LATER
            assert monitor.notifier.deliver_due(monitor.store, now=far) == {"delivered": 0, "failed": 0}
        assert removed.received == []  # up again, it gets nothing: it is no longer configured
    assert len(alert_receiver.received) == 1


# ---------------------------------------------------------------- two accounts
@pytest.mark.storefront(orders=12)
def test_two_accounts_polled_by_one_monitor_keep_their_orders_apart(storefront, tmp_path, browser):
    admin = storefront.admin
    admin.clock(freeze=True)  # nothing changes by itself between polls
    other_email, other_password = "second.buyer@example.com", "second-buyer-pw"
    other_suffix = storefront.site.add_buyer(other_email, other_password, orders=10)
    site = {}
    for order in admin.state()["orders"]:
        site.setdefault(order["account"], set()).add(order["id"])
    assert {len(ids) for ids in site.values()} == {10, 12} and {i[-4:] for i in site[other_email]} == {other_suffix}
    accounts = [
        {"storefront_url": storefront.url, "email": storefront.email, "password": storefront.password},
        {"storefront_url": storefront.url, "email": other_email, "password": other_password},
    ]
    settings = settings_for(storefront, tmp_path, accounts=accounts)
    with Monitor(settings, browser=browser) as monitor:
        first, second = (a.label for a in monitor.accounts)
        emails = {first: storefront.email, second: other_email}
        assert [(r.account, r.orders_seen) for r in polled(monitor)] == [(first, 12), (second, 10)]
        store = monitor.store
        assert {label: {o.order_id for o in store.orders(label)} for label in emails} == {
            label: site[email] for label, email in emails.items()
        }

        shipped = next(
            o for o in admin.state()["orders"] if o["account"] == other_email and o["status"] == "awaiting_shipment"
        )
        admin.seller(shipped["id"], "ship")  # a change on the second account's side only
        assert [(r.account, r.changes) for r in polled(monitor)] == [(first, 0), (second, 1)]
        assert [h["status_to"] for h in store.history(shipped["id"], account=second)] == [
            "awaiting_shipment",
            "awaiting_delivery",
        ]
        assert store.history(shipped["id"], account=first) == []

    admin.settings(auto_actions=False)  # the platform does nothing: deadlines pass, on both sides
    admin.advance(days=10)  # (sessions last 14 days)
    with Monitor(settings, browser=browser) as monitor:  # a restart: each account with its own kept session
        assert [(r.account, r.orders_seen) for r in polled(monitor)] == [(first, 12), (second, 10)]
        store = monitor.store
        assert {label: {o.order_id for o in store.orders(label)} for label in emails} == {
            label: site[email] for label, email in emails.items()
        }
        alerts = store.alerts()
        assert {a["account"] for a in alerts} == {first, second}
        assert all(a["order_id"] in site[emails[a["account"]]] for a in alerts)
        assert {p["account"] for p in store.polls()} == {first, second} and len(store.polls()) == 6


# ---------------------------------------------------------------- SIGTERM
@pytest.mark.storefront(orders=12)
def test_sigterm_in_the_middle_of_a_poll_abandons_its_reads_and_exits_cleanly(storefront, cli_env):
    """A stop does not wait for a slow site: the read under way is cancelled, nothing of the poll is
    recorded (no poll row, no order: nothing half-written), the database whole, the lock released."""
    admin = storefront.admin
    admin.clock(freeze=True)
    # 12 details, 8 at a time, each answered after 10 s: the poll would take 20 s. (The site holds
    # them on after ordermon hangs up, as a real one would: the next test waits for them.)
    admin.faults(latency_ms=10_000, target="GET /p/order/detail.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"],
        env=cli_env | {"ORDERMON_TIMEOUT": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The poll is under way once the site has been asked for a detail.
        assert storefront.site.wait_for_requests("GET /p/order/detail.json", 1, timeout=90)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)  # not the 20 s the reads would take
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopping (SIGTERM)" in err and "abandoned: nothing of it recorded" in err, err
    assert [line for line in err.splitlines() if line.startswith("poll ")] == [], err
    db = cli_env["ORDERMON_DB"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SqliteStore.existing(db)
    try:
        assert store.polls() == [] and store.orders() == []
    finally:
        store.close()
    with MonitorLock(db):  # released: another monitor may start
        pass


# ---------------------------------------------------------------- the layout variant
@pytest.mark.storefront(orders=35)
def test_the_layout_variant_through_the_page_objects(storefront, browser, own_settings):
    storefront.admin.faults(layout="variant")
    session = AccountSession(Browser(own_settings, browser=browser), Account.from_settings(own_settings))
    try:
        session.ensure_signed_in()  # no kept session: SignInPage signs in, on the variant's page
        signed_in = storefront.admin.state()
        assert session.sign_ins == 1 and signed_in["requests"].get("POST /login") == 1
        assert signed_in["fault_counts"].get("layout_variant", 0) >= 1  # the sign-in page was the variant
        from_ui = read_order_ids_ui(session)  # the variant's table, "View orders" until no more
        assert session.page.locator("body.layout-b").count() == 1
        from_json = [order.id for order in read_orders(session)]
        assert session.sign_ins == 1
    finally:
        session.close()
    assert len(from_ui) == 35 and from_ui == from_json
    assert set(from_ui) == {o["id"] for o in storefront.admin.state()["orders"]}
