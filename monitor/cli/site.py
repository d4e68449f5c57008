"""The commands that reach the site: the storefront, orders, cancel, monitor, and the demo."""

from __future__ import annotations

import json
import sys

import click

from .. import exits
from . import cli
from .common import OrderId, _echo_json, _log_to_console, _monitor_settings, _settings, db_option, site_options


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--orders", "orders", default=40, show_default=True, type=click.IntRange(0, 100_000), help="Demo orders to create."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the demo data.")
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per real second (3600: an hour per second).",
)
@click.option("--email", default=None, help="The buyer account's e-mail.")
@click.option("--password", default=None, help="The buyer account's password.")
@click.option("--admin-token", default=None, help="Token for /__admin/ (default: random, printed).")
@click.option("--no-admin", is_flag=True, help="Serve without the admin API.")
def storefront(host, port, orders, seed, time_scale, email, password, admin_token, no_admin) -> None:
    """Serve the bundled mock storefront with demo data."""
    from monitor.extras import require

    require("storefront", "ordermon storefront")
    from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD, Site, serve_forever

    site = Site(
        email=email or DEFAULT_EMAIL,
        password=password or DEFAULT_PASSWORD,
        orders=orders,
        seed=seed,
        time_scale=time_scale,
        admin_token=admin_token,
        admin=not no_admin,
    )

    def announce(url: str) -> None:
        click.echo(f"Storefront:  {url}/p/order/index.html")
        shown = "(the --password you gave)" if password else DEFAULT_PASSWORD  # only the public demo one
        click.echo(f"Sign in:     {site.email} / {shown}")
        if site.admin_enabled:
            click.echo(f"Admin API:   {url}/__admin/state  (header X-Admin-Token: {site.admin_token})")
        else:
            click.echo("Admin API:   off (--no-admin)")
        click.echo(f"Orders:      {len(site.shop.orders)} (seed {seed}), time x{time_scale:g}. Ctrl-C stops.")
        sys.stdout.flush()

    try:
        serve_forever(site, host, port, announce=announce)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


@cli.command()
@click.option(
    "--tab",
    type=click.Choice(["all", "to_pay", "to_ship", "shipped", "processed"]),
    default="all",
    show_default=True,
    help="Which orders tab to read.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@site_options
def orders(tab, as_json, **site) -> None:
    """List the account's orders (every page of the tab)."""
    from flows import FlowError, Tab, list_orders
    from monitor.progress import Progress

    progress = Progress(enabled=not as_json)
    try:
        records = list_orders(_settings(**site), Tab(tab), progress=progress)
    except FlowError as exc:
        if as_json:
            click.echo(json.dumps({"error": str(exc), "outcome": exc.outcome}))
        raise
    finally:
        progress.close()
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in records])
        return
    click.echo(f"{'ORDER':16}  {'STATUS':28}  {'DATE':10}  {'TOTAL':>10}  STORE")
    for r in records:
        click.echo(f"{r.id:16}  {r.status_label:28}  {r.order_date}  {r.total:>10} {r.currency}  {r.store}")
    click.echo(f"{len(records)} orders", err=True)


@cli.command()
@click.argument("order_ids", nargs=-1, type=OrderId(), metavar="[ORDER_ID]...")
@click.option(
    "--from",
    "from_file",
    type=click.File("r"),
    help="Read order ids from FILE, one per line (blank lines and # comments skipped; '-' reads stdin).",
)
@click.option(
    "--reason", required=True, help='The exact reason, or a word/prefix that picks one ("wrong", "duplicate").'
)
@click.option("--dry-run", is_flag=True, help="Do everything but Submit; save a screenshot.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per order (JSON lines).")
@click.option(
    "--account", metavar="NAME",
    help="A fleet's account (in the PostgreSQL database): its browser workers cancel, this waits for them.",
)  # fmt: skip
@click.option(
    "--wait", default=300.0, show_default=True, type=click.FloatRange(min=0),
    help="With --account: seconds to wait for the workers' outcome (the cancel stays queued after).",
)  # fmt: skip
@db_option
@site_options
def cancel(order_ids, from_file, reason, dry_run, as_json, account, wait, db, **site) -> int:
    """Cancel each ORDER_ID (or request its cancellation), according to its state.

    Several orders (as arguments or --from) are cancelled in turn in one browser: a failure
    on one goes on to the next, and the exit code is the most serious among them. With
    --account, a fleet's browser workers do it."""
    from monitor import cancels

    ids = cancels.order_ids(order_ids, from_file, OrderId())
    if account is not None:
        from .fleet import _fleet_store

        _, store = _fleet_store(db)
        try:
            return cancels.cancel_in_fleet(
                store, ids, reason, account=account, dry_run=dry_run, as_json=as_json, wait=wait
            )
        finally:
            store.close()
    if len(ids) == 1 and from_file is None:
        cancels.cancel_one(_settings(**site), ids[0], reason, dry_run=dry_run, as_json=as_json)
        return 0
    return cancels.cancel_batch(_settings(**site), ids, reason, dry_run=dry_run, as_json=as_json)


@cli.command()
@click.option("--once", is_flag=True, help="Poll once and exit (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per poll.")
@click.option("--interval", type=float, help="Seconds between polls [env ORDERMON_POLL_INTERVAL, default 900].")
@db_option
@site_options
def monitor(once, as_json, interval, db, **site) -> int:
    """Poll the orders on a schedule, record changes, and alert when deadlines pass."""
    from monitor.progress import Progress
    from monitor.service import Monitor

    progress = Progress(enabled=not as_json)

    def on_poll(result) -> None:
        progress.close()
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        for message in result.alerts if not as_json else ():
            click.echo(f"ALERT {message}")
        if result.error and once:
            return  # said once, at the end
        status = (
            f"error: {result.error}"
            if result.error
            else (
                f"{result.orders_seen} orders, {result.changes} changes, {result.details_read} details read, "
                f"{len(result.alerts)} new alerts"
            )
        )
        click.echo(
            f"poll {result.account} @ {result.site_now:%Y-%m-%d %H:%M} site time: {status}"
            if result.site_now
            else f"poll {result.account}: {status}",
            err=True,
        )

    settings = _monitor_settings(db=db, poll_interval=interval, **site)
    with Monitor(settings, on_poll=on_poll, progress=progress) as mon:
        if not once:
            _log_to_console()
            mon.run_forever()
            return 0
        results = mon.poll_once()
    failed = [r for r in results if r.error]
    if len(failed) == len(results) and failed[0].failure is not None:
        raise failed[0].failure
    for result in failed:
        click.echo(f"poll {result.account}: error: {result.error}", err=True)
    # The others were recorded; cron still hears of the failed ones (the most serious's code).
    return int(exits.most_serious(exits.code_for(r.failure) for r in failed if r.failure is not None))


@cli.command()
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(min=5), help="How long to monitor.")
@click.option(
    "--time-scale",
    default=7200.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Simulated seconds per real second.",
)
@db_option
def demo(seconds, time_scale, db) -> None:
    """The main job in a minute: storefront, flow, monitor, alerts, summary."""
    from monitor.extras import require

    require("storefront", "ordermon demo")
    from monitor.demo import run_demo

    base = _monitor_settings(db=db)
    run_demo(seconds=seconds, time_scale=time_scale, db=base.db, extra_alert_urls=base.alert_urls)


@cli.command()
@click.argument("action", type=click.Choice(["find", "ensure"]), default="find")
def browser(action) -> None:
    """Print the Chromium ordermon uses; with "ensure", install one when none is found."""
    from flows.browser import ensure_chromium, require_chromium

    click.echo(ensure_chromium() if action == "ensure" else require_chromium())
