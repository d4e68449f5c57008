"""The ``ordermon`` command: parses arguments and calls into flows/, monitor/ and fixtures/.

Errors are not handled here: ``main`` hands every one to ``monitor.exits``,
which prints its one line and exits with its code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


class OrderId(click.ParamType):
    """An order id as the site writes it: 16 ASCII digits."""

    name = "ORDER_ID"

    def convert(self, value, param, ctx):
        if not (len(value) == 16 and value.isascii() and value.isdigit()):
            self.fail(f"must be 16 digits, got {value!r}", param, ctx)
        return value


def site_options(func):
    """Flags shared by every command that drives the browser (they override ORDERMON_*)."""
    options = [
        click.option("--storefront-url", help="The site's base URL [env ORDERMON_STOREFRONT_URL]."),
        click.option(
            "--email",
            help="Buyer account e-mail [env ORDERMON_EMAIL]; the password comes from ORDERMON_PASSWORD or .env only.",
        ),
        click.option("--headed", is_flag=True, default=None, help="Show the browser window."),
        click.option("--timeout", type=float, help="Seconds per page action [default 15]."),
        click.option("--retries", type=int, help="Retries while the site is unavailable [default 3]."),
        click.option(
            "--artifacts-dir", type=click.Path(file_okay=False), help="Where failure screenshots and traces go."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(
    storefront_url=None, email=None, headed=None, timeout=None, retries=None, artifacts_dir=None, cls=None, **more
):
    from flows.api import load_settings
    from flows.settings import FlowSettings

    return load_settings(
        cls or FlowSettings,
        storefront_url=storefront_url,
        email=email,
        timeout=timeout,
        retries=retries,
        headless=None if headed is None else not headed,
        artifacts_dir=artifacts_dir,
        **more,
    )


def _monitor_settings(**options):
    from monitor.settings import MonitorSettings

    return _settings(cls=MonitorSettings, **options)


def _store(db):
    """The database of the read-only commands (status, alerts, history, report)."""
    from monitor.store import Store

    return Store.existing(db or _monitor_settings().db)


def _log_to_console() -> None:
    """The long-running monitor's log: ordermon's own lines (retries, stops), no library's."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("ordermon")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=1))


db_option = click.option(
    "--db", type=click.Path(dir_okay=False), help="SQLite database [env ORDERMON_DB, default ./ordermon.db]."
)


class Ordermon(click.Group):
    """Every error of every command, however it is invoked, goes through ``monitor.exits``."""

    def main(self, *args, **kwargs):
        from monitor import exits

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except Exception as exc:
            if os.environ.get("ORDERMON_DEBUG") and exits.code_for(exc) is exits.Exit.UNEXPECTED:
                raise
            exits.fail(exc)
        sys.exit(code or 0)


@click.group(cls=Ordermon, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ordermon")
def cli() -> None:
    """Watch and cancel marketplace orders in a real browser."""


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
@site_options
def cancel(order_ids, from_file, reason, dry_run, as_json, **site) -> int:
    """Cancel each ORDER_ID (or request its cancellation), according to its state.

    Several orders (as arguments or --from) are cancelled in turn in one browser: a failure
    on one goes on to the next, and the exit code is the most serious among them."""
    from monitor import cancels

    ids = cancels.order_ids(order_ids, from_file, OrderId())
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
def monitor(once, as_json, interval, db, **site) -> None:
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
            return
        results = mon.poll_once()
    failed = [r for r in results if r.error]
    if len(failed) == len(results):
        raise failed[0].failure
    for result in failed:
        click.echo(f"poll {result.account}: error: {result.error}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
@click.option(
    "--check",
    is_flag=True,
    help="Only say whether the monitor is healthy: exit 0, or exit 8 when the "
    "last successful poll is older than two intervals or an outage is open.",
)
@click.option(
    "--interval",
    type=float,
    help="The monitor's seconds between polls, for --check [env ORDERMON_POLL_INTERVAL, default 900].",
)
def status(as_json, db, check, interval) -> None:
    """Every known order with its next deadline (from the database; no browser)."""
    if check:
        return _check(db, interval, as_json)
    from monitor.views import status_rows

    rows = status_rows(_store(db))
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"{'ORDER':16}  {'STATUS':28}  {'NEXT DEADLINE':26}  {'WHEN':18}  ACCOUNT")
    for r in rows:
        click.echo(
            f"{r['order_id']:16}  {r['status_label'] or r['status']:28}  "
            f"{r['next_deadline_label'] or '-':26}  {r['next_deadline_in'] or '':18}  {r['account']}"
        )


def _check(db, interval, as_json) -> None:
    from monitor.exits import Unhealthy
    from monitor.views import health

    settings = _monitor_settings(db=db, poll_interval=interval)
    configured = [a.label for a in settings.account_list()] if settings.accounts else None
    found = health(_store(db), settings.poll_interval, configured)
    if as_json:
        _echo_json(found)
    elif found["healthy"]:
        for account in found["accounts"]:
            click.echo(f"ok: {account['account']}: last successful poll at {account['last_success']}")
    if not found["healthy"]:
        raise Unhealthy("unhealthy: " + "; ".join(found["problems"]))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def alerts(as_json, db) -> None:
    """Every alert, with its delivery state."""
    from monitor.views import alert_rows

    rows = alert_rows(_store(db))
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        mark = "delivered" if r["delivered"] else (r["delivery"] or "pending")
        superseded = " (superseded: the site moved its deadline)" if r["superseded"] else ""
        click.echo(f"[{mark}] {r['rule']}: {r['message']}{superseded}")
    if not rows:
        click.echo("no alerts", err=True)


@cli.command()
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def history(order_id, as_json, db) -> None:
    """Every observed change of ORDER_ID."""
    from flows.errors import OrderNotFound

    store = _store(db)
    rows = store.history(order_id)
    if not rows:
        raise OrderNotFound(f"order {order_id} is not in {store.path}")
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        refund = f", refund {r['refund_from'] or '-'} -> {r['refund_to']}" if r["refund_from"] != r["refund_to"] else ""
        click.echo(
            f"{r['observed_at']}  {r['status_from'] or '(new)'} -> {r['status_to']}{refund}"
            + (f"  [{r['close_reason']}]" if r["close_reason"] else "")
        )


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
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default="report.html", show_default=True)
@click.option("--open", "open_it", is_flag=True, help="Open the report in a web browser.")
@db_option
def report(out, open_it, db) -> None:
    """Write one self-contained HTML page of every order's timeline and deadlines."""
    from monitor.html_report import write_report

    settings = _monitor_settings(db=db)
    try:
        path = write_report(_store(db), Path(out), settings.rule_config)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}")
    if open_it:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def main() -> None:
    cli(prog_name="ordermon")


if __name__ == "__main__":
    main()
