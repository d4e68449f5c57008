"""The ``ordermon`` command: parses arguments and calls into flows/, monitor/ and fixtures/."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

# Exit codes shared by every command (documented in the README); flows' errors
# carry their own (flows/errors.py): 3 not cancellable, 4 not found, 5 sign-in
# failed, 6 site unavailable, 7 local state unusable.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def site_options(func):
    """Flags shared by every command that drives the browser (they override ORDERMON_*)."""
    options = [
        click.option("--storefront-url", help="The site's base URL [env ORDERMON_STOREFRONT_URL]."),
        click.option("--email", help="Buyer account e-mail [env ORDERMON_EMAIL]; the password comes "
                     "from ORDERMON_PASSWORD or .env only."),
        click.option("--headed", is_flag=True, default=None, help="Show the browser window."),
        click.option("--timeout", type=float, help="Seconds per page action [default 15]."),
        click.option("--retries", type=int, help="Retries while the site is unavailable [default 3]."),
        click.option("--artifacts-dir", type=click.Path(file_okay=False), help="Where failure screenshots and traces go."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(storefront_url, email, headed, timeout, retries, artifacts_dir, cls=None, **more):
    from flows.api import load_settings
    from flows.settings import FlowSettings

    return load_settings(
        cls or FlowSettings, storefront_url=storefront_url, email=email, timeout=timeout,
        retries=retries, headless=None if headed is None else not headed,
        artifacts_dir=artifacts_dir, **more,
    )


def _monitor_settings(db=None, **site):
    from monitor.settings import MonitorSettings

    return _settings(cls=MonitorSettings, db=db, **site)


def _store(db):
    """The database for the read-only commands (status, alerts, history)."""
    from flows.api import load_settings
    from monitor.settings import MonitorSettings
    from monitor.store import Store, StoreError

    path = db or load_settings(MonitorSettings).db
    if str(path) != ":memory:" and not Path(path).exists():
        raise StoreError(f"no database at {path}: run `ordermon monitor --once` first (or set ORDERMON_DB)")
    return Store(path)


def _fail(exc, as_json: bool, payload: dict | None = None) -> None:
    """One line on stderr (and the JSON object on stdout), then the error's exit code."""
    if as_json and payload is not None:
        click.echo(json.dumps(payload))
    click.echo(f"error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", EXIT_ERROR))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ordermon")
def cli() -> None:
    """Watch and cancel marketplace orders in a real browser."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--orders", "orders", default=40, show_default=True, type=click.IntRange(0, 100_000),
              help="Demo orders to create.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the demo data.")
@click.option("--time-scale", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Simulated seconds per real second (3600: an hour per second).")
@click.option("--email", default=None, help="The buyer account's e-mail.")
@click.option("--password", default=None, help="The buyer account's password.")
@click.option("--admin-token", default=None, help="Token for /__admin/ (default: random, printed).")
@click.option("--no-admin", is_flag=True, help="Serve without the admin API.")
def storefront(host, port, orders, seed, time_scale, email, password, admin_token, no_admin) -> None:
    """Serve the bundled mock storefront with demo data."""
    from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD, Site, serve_forever

    site = Site(
        email=email or DEFAULT_EMAIL, password=password or DEFAULT_PASSWORD, orders=orders,
        seed=seed, time_scale=time_scale, admin_token=admin_token, admin=not no_admin,
    )

    def announce(url: str) -> None:
        click.echo(f"Storefront:  {url}/p/order/index.html")
        click.echo(f"Sign in:     {site.email} / {password or DEFAULT_PASSWORD}")
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
@click.option("--tab", type=click.Choice(["all", "to_pay", "to_ship", "shipped", "processed"]),
              default="all", show_default=True, help="Which orders tab to read.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@site_options
def orders(tab, as_json, **site) -> None:
    """List the account's orders (every page of the tab)."""
    from flows import FlowError, Tab, list_orders

    try:
        records = list_orders(_settings(**site), Tab(tab))
    except FlowError as exc:
        _fail(exc, as_json, {"error": str(exc), "outcome": exc.outcome})
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=1))
        return
    click.echo(f"{'ORDER':16}  {'STATUS':28}  {'DATE':10}  {'TOTAL':>10}  STORE")
    for r in records:
        click.echo(f"{r.id:16}  {r.status_label:28}  {r.order_date}  {r.total:>10} {r.currency}  {r.store}")
    click.echo(f"{len(records)} orders", err=True)


@cli.command()
@click.argument("order_id")
@click.option("--reason", required=True, help='The exact reason, or a word/prefix that picks one ("wrong", "duplicate").')
@click.option("--dry-run", is_flag=True, help="Do everything but Submit; save a screenshot.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@site_options
def cancel(order_id, reason, dry_run, as_json, **site) -> None:
    """Cancel ORDER_ID (or request its cancellation), according to its state."""
    from flows import FlowError, cancel as run_cancel

    if not (order_id.isdigit() and len(order_id) == 16):
        _fail(click.UsageError(f"ORDER_ID must be 16 digits, got {order_id!r}"), as_json,
              {"order_id": order_id, "outcome": "error", "error": "bad order id"})
    try:
        result = run_cancel(_settings(**site), order_id, reason, dry_run=dry_run)
    except FlowError as exc:
        payload = {
            "order_id": order_id, "status_before": None, "status_after": None,
            "outcome": exc.outcome, "reason": reason, "artifacts": exc.artifacts, "error": str(exc),
        }
        _fail(exc, as_json, payload)
    if as_json:
        click.echo(result.model_dump_json())
    else:
        before = result.status_before.value if result.status_before else "?"
        after = result.status_after.value if result.status_after else "?"
        click.echo(f"{result.order_id}: {result.outcome} ({before} -> {after}) {result.reason or ''}".rstrip())
        for path in result.artifacts:
            click.echo(f"  artifact: {path}")


def _view(rows_of, db, as_json: bool) -> list[dict] | None:
    """Rows of a database view; with --json they are printed here and None is returned."""
    from monitor.store import StoreError

    try:
        rows = rows_of(_store(db))
    except StoreError as exc:
        _fail(exc, as_json, {"error": str(exc)})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return None
    return rows


db_option = click.option("--db", type=click.Path(dir_okay=False), help="SQLite database [env ORDERMON_DB, default ./ordermon.db].")


@cli.command()
@click.option("--once", is_flag=True, help="Poll once and exit (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per poll.")
@click.option("--interval", type=float, help="Seconds between polls [env ORDERMON_POLL_INTERVAL, default 900].")
@db_option
@site_options
def monitor(once, as_json, interval, db, **site) -> None:
    """Poll the orders on a schedule, record changes, and alert when deadlines pass."""
    from flows import FlowError
    from monitor.service import Monitor
    from monitor.store import StoreError

    def on_poll(result) -> None:
        if as_json:
            click.echo(json.dumps(result.to_dict()))
            return
        for message in result.alerts:
            click.echo(f"ALERT {message}")
        status = f"error: {result.error}" if result.error else (
            f"{result.orders_seen} orders, {result.changes} changes, {result.details_read} details read, "
            f"{len(result.alerts)} new alerts")
        click.echo(f"poll {result.account} @ {result.site_now:%Y-%m-%d %H:%M} site time: {status}"
                   if result.site_now else f"poll {result.account}: {status}", err=True)

    def progress(account: str, done: int, total: int) -> None:
        if not as_json and sys.stderr.isatty():
            click.echo(f"\r{account}: detail {done}/{total}", err=True, nl=done == total)

    try:
        settings = _monitor_settings(db=db, poll_interval=interval, **site)
        with Monitor(settings, on_poll=on_poll, progress=progress) as mon:
            if once:
                results = mon.poll_once()
                if all(r.error for r in results):
                    failure = FlowError(results[0].error)
                    failure.exit_code = results[0].exit_code
                    _fail(failure, False)
            else:
                mon.run_forever()
    except (FlowError, StoreError, ValueError) as exc:
        _fail(exc, as_json, {"error": str(exc)})


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def status(as_json, db) -> None:
    """Every known order with its next deadline (from the database; no browser)."""
    from monitor.reports import status_rows

    rows = _view(status_rows, db, as_json)
    if rows is None:
        return
    click.echo(f"{'ORDER':16}  {'STATUS':28}  {'NEXT DEADLINE':22}  {'WHEN':18}  ACCOUNT")
    for r in rows:
        when = r["next_deadline_in"] or ""
        click.echo(f"{r['order_id']:16}  {r['status_label'] or r['status']:28}  {r['next_deadline_name'] or '-':22}  "
                   f"{when:18}  {r['account']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def alerts(as_json, db) -> None:
    """Every alert, with its delivery state."""
    from monitor.reports import alert_rows

    rows = _view(alert_rows, db, as_json)
    if rows is None:
        return
    for r in rows:
        mark = "delivered" if r["delivered"] else (r["delivery"] or "pending")
        click.echo(f"[{mark}] {r['rule']}: {r['message']}")
    if not rows:
        click.echo("no alerts", err=True)


@cli.command()
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def history(order_id, as_json, db) -> None:
    """Every observed change of ORDER_ID."""
    from flows.errors import OrderNotFound
    from monitor.store import StoreError

    try:
        store = _store(db)
    except StoreError as exc:
        _fail(exc, as_json, {"error": str(exc)})
    rows = store.history(order_id)
    if not rows:
        _fail(OrderNotFound(f"order {order_id} is not in {store.path}"), as_json, {"error": "not found"})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        refund = f", refund {r['refund_from'] or '-'} -> {r['refund_to']}" if r["refund_from"] != r["refund_to"] else ""
        click.echo(f"{r['observed_at']}  {r['status_from'] or '(new)'} -> {r['status_to']}{refund}"
                   + (f"  [{r['close_reason']}]" if r["close_reason"] else ""))


@cli.command()
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(min=5), help="How long to monitor.")
@click.option("--time-scale", default=7200.0, show_default=True, type=click.FloatRange(min=1),
              help="Simulated seconds per real second.")
@db_option
def demo(seconds, time_scale, db) -> None:
    """The main job in a minute: storefront, flow, monitor, alerts, summary."""
    from flows import FlowError
    from monitor.demo import run_demo
    from monitor.store import StoreError

    try:
        base = _monitor_settings(db=db, storefront_url=None, email=None, headed=None, timeout=None,
                                 retries=None, artifacts_dir=None)
        run_demo(seconds=seconds, time_scale=time_scale, db=base.db, extra_alert_urls=base.alert_urls)
    except (FlowError, StoreError, ValueError) as exc:
        _fail(exc, False)


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default="report.html", show_default=True)
@click.option("--open", "open_it", is_flag=True, help="Open the report in a web browser.")
@db_option
def report(out, open_it, db) -> None:
    """Write one self-contained HTML page of every order's timeline and deadlines."""
    from flows.api import load_settings
    from monitor.report import write_report
    from monitor.rules import RuleConfig
    from monitor.settings import MonitorSettings
    from monitor.store import StoreError

    try:
        config = RuleConfig.from_settings(load_settings(MonitorSettings))
        path = write_report(_store(db), Path(out), config)
    except (StoreError, OSError) as exc:
        _fail(exc, False)
    click.echo(f"wrote {path}")
    if open_it:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def main() -> None:
    try:
        cli(prog_name="ordermon")
    except Exception as exc:  # a bug: one line, unless ORDERMON_DEBUG asks for the traceback
        if os.environ.get("ORDERMON_DEBUG"):
            raise
        from flows.errors import first_line

        click.echo(f"error: unexpected {type(exc).__name__}: {first_line(exc)} (ORDERMON_DEBUG=1 shows more)",
                   err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
