"""`ordermon demo`: the main job, end to end, in about a minute.

The embedded storefront runs two simulated hours per second; the flow requests
a cancellation that the seller never answers; a refund is stuck; a seller ships
late; a parcel's buyer protection runs down. The platform acts four days late,
so every missed deadline is seen. The monitor polls on its real schedule and
alerts through Apprise (a loopback receiver, plus ORDERMON_ALERT_URLS).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path

import click

from fixtures.admin_client import AdminClient
from fixtures.receiver import AlertReceiver
from fixtures.storefront import DEFAULT_PASSWORD, Site, StorefrontServer
from flows.browser import Browser
from flows.calendar import BusinessCalendar
from flows.cancel import cancel_order
from flows.session import AccountSession

from .alerts import delivery_schemes
from .poller import PollResult
from .service import Monitor
from .settings import AccountSettings, MonitorSettings
from .store import open_store

ACCOUNT = "demo"


def _scenario(admin: AdminClient) -> dict[str, str]:
    """Orders whose deadlines fall due within the demo's minute."""
    now = admin.now()
    cal = BusinessCalendar()
    day = dt.timedelta(days=1)
    return {
        "to cancel (silent seller)": admin.create_order(
            status="awaiting_shipment", seller="silent", paid_at=now - day, store="KZ Audio Store"
        )["id"],
        "stuck refund": admin.create_order(
            status="closed",
            refund_business_days=None,
            payment_method="card",
            refund_started_at=cal.add_business_days(now + day, -20),
        )["id"],
        "late shipper": admin.create_order(
            status="awaiting_shipment",
            seller="late_shipper",
            paid_at=cal.add_business_days(now + 2 * day, -7),
            store="Outdoor Camping Gear Store",
        )["id"],
        "parcel not arriving": admin.create_order(
            status="awaiting_delivery", shipped_at=now - 52 * day + dt.timedelta(hours=6)
        )["id"],
        "to cancel (refusing seller)": admin.create_order(
            status="awaiting_shipment", seller="refuses", paid_at=now - day, store="Baseus Official Store"
        )["id"],
        "late premium parcel": admin.create_order(
            status="awaiting_delivery",
            shipping_method="premium",
            shipped_at=cal.add_business_days(now + day, -15),
            store="UGREEN Global Store",
        )["id"],
        "refund on its way": admin.create_order(
            status="closed",
            refund_business_days=10,
            payment_method="western_union",
            refund_started_at=cal.add_business_days(now + 2 * day, -10),
        )["id"],
    }


def run_demo(
    *,
    seconds: float = 60,
    time_scale: float = 7200,
    poll_every: float = 2,
    db: str | Path = "ordermon.db",
    extra_alert_urls: list | None = None,
    echo=click.echo,
    browser=None,
) -> dict:
    """Run the demo; ``browser``: an already running Playwright browser to use."""
    site = Site(orders=12, seed=7)  # real time while the orders are made and the flows run
    with (
        StorefrontServer(site) as server,
        AlertReceiver() as receiver,
        tempfile.TemporaryDirectory(prefix="ordermon-demo-") as data_dir,
    ):
        admin = AdminClient(server.url, site.admin_token or "")
        admin.settings(auto_action_lag=4 * 86400)  # the platform acts four days late
        orders = _scenario(admin)
        echo(
            f"Storefront {server.url} (admin token {site.admin_token}), "
            f"time x{time_scale:g}: {time_scale / 3600:g} simulated hours per second"
        )
        for what, order_id in orders.items():
            echo(f"  order {order_id}: {what}")

        settings = MonitorSettings(
            _env_file=None,
            db=db,
            data_dir=Path(data_dir),
            poll_interval=poll_every,
            poll_jitter=0,
            misfire_grace=5,
            alert_urls=[receiver.url, *(extra_alert_urls or [])],
            alert_retry_backoff=1,
            max_clock_skew=float("inf"),  # the storefront's clock runs fast on purpose
            accounts=[
                AccountSettings(name=ACCOUNT, storefront_url=server.url, email=site.email, password=DEFAULT_PASSWORD)
            ],
        )

        def on_poll(result: PollResult) -> None:
            stamp = f"{result.site_now:%a %d %b %H:%M}" if result.site_now else "?"
            for message in result.alerts:
                echo(click.style(f"[{stamp}] ALERT ", fg="red", bold=True) + message)
            if result.changes and not result.error:
                echo(f"[{stamp}] poll: {result.orders_seen} orders, {result.changes} changes recorded")

        with Browser(settings, browser=browser) as flows:  # the browser runs for the flows only
            session = AccountSession(flows, settings.account_list()[0])
            for what, reason, then in (
                ("to cancel (silent seller)", "Shipping takes too long", "will not answer"),
                ("to cancel (refusing seller)", "I don't need this order", "will refuse"),
            ):
                result = cancel_order(session, orders[what], reason)
                echo(
                    f"Flow: cancel {orders[what]} -> {result.outcome} ({result.status_before} -> "
                    f"{result.status_after}); the seller {then}"
                )
        with Monitor(settings, on_poll=on_poll, browser=browser) as monitor:
            monitor.store.forget_account(ACCOUNT)  # other accounts in the database are left alone
            echo(f"Monitoring for {seconds:g} s, polling every {poll_every:g} s ...")
            admin.clock(scale=time_scale)
            monitor.run_forever(stop_after=seconds)
            monitor.deliver()  # what the stop left in the outbox

        store = open_store(db)
        alerts = store.alerts(ACCOUNT)
        counts = store.counts(ACCOUNT)
        sent = [d for d in store.deliveries() if d["carried_by"] is None and d["state"] == "delivered"]
        summary = {
            "orders": counts["orders"],
            "changes": counts["history"],
            "polls": counts["polls"],
            "alerts": dict(Counter(a["rule"] for a in alerts)),
            "alerts_delivered": sum(1 for a in alerts if a["targets"] and a["targets"] == a["delivered_to"]),
            "delivered_to_receiver": len(receiver.received),
            "notifications": len(sent),  # to every target; a digest is one
            "schemes": delivery_schemes(t.url for t in settings.router().targets),
            "db": str(db),
        }
        store.close()
    echo("")
    echo(summary_line(summary))
    echo(
        f"Explore: ordermon status | ordermon alerts | ordermon history ORDER_ID | "
        f"ordermon report --out report.html   (database {db})"
    )
    echo(
        f"See it live: ordermon serve{'' if str(db) == 'ordermon.db' else f' --db {db}'}, then open http://127.0.0.1:8766/"
    )
    return summary


def summary_line(summary: dict) -> str:
    """The demo's last word: what was watched, what alerted, and through which delivery schemes."""
    alerts = sum(summary["alerts"].values())
    return (
        click.style("Summary", bold=True) + f": {summary['orders']} orders watched over {summary['polls']} polls, "
        f"{summary['changes']} changes recorded, {alerts} alerts "
        f"({', '.join(f'{k} {v}' for k, v in sorted(summary['alerts'].items()))}), "
        f"{summary['alerts_delivered']} delivered through Apprise in {summary['notifications']} "
        f"notifications ({', '.join(summary['schemes'])})."
    )
