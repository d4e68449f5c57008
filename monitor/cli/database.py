"""The commands that only read the database: status (and its health check), alerts, history, report,
calendar."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from .common import _echo_json, _monitor_settings, _store, db_option


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
@click.option("--account", help="Only this account's orders (its name, as `ordermon accounts list` shows it).")
def status(as_json, db, check, interval, account) -> None:
    """Every known order with what it needs and its next deadline (from the database; no browser)."""
    if check:
        return _check(db, interval, as_json)
    from monitor.accounts import config_of
    from monitor.views import status_rows

    store = _store(db)
    rows = status_rows(store, config_of(_monitor_settings(db=db), store))
    if account is not None:
        rows = [r for r in rows if r["account"] == account]
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"{'ORDER':16}  {'STATUS':28}  {'NEEDS':9}  {'NEXT DEADLINE':26}  {'WHEN':18}  ACCOUNT")
    for r in rows:
        if r["attention"] == "unreadable":  # the site answered it out of bounds: why, in place of its deadline
            click.echo(f"{r['order_id'][:16]:16}  {'(unreadable)':28}  {'check':9}  {r['why'][:46]:46}  {r['account']}")
            continue
        needs = "" if r["attention"] == "none" else r["attention"]
        click.echo(
            f"{r['order_id']:16}  {r['status_label'] or r['status']:28}  {needs:9}  "
            f"{r['next_deadline_label'] or '-':26}  {r['next_deadline_in'] or '':18}  {r['account']}"
        )


def _check(db, interval, as_json) -> None:
    from monitor.exits import Unhealthy
    from monitor.views import health

    settings = _monitor_settings(db=db, poll_interval=interval)
    store = _store(db)
    configured = [a.label for a in settings.account_list()] if settings.accounts else None
    kept = [row["name"] for row in store.accounts()]  # a fleet's accounts, from its database
    found = health(store, settings.poll_interval, configured or kept or None)
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
    """Every alert, with its delivery state and whether it is still open (its finding still holds)."""
    from monitor.accounts import config_of
    from monitor.views import alert_rows

    store = _store(db)
    rows = alert_rows(store, config_of(_monitor_settings(db=db), store))
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        mark = "delivered" if r["delivered"] else (r["delivery"] or "pending")
        superseded = " (superseded: the site moved its deadline)" if r["superseded"] else ""
        click.echo(f"[{mark}] {r['rule']}: {r['message']}{superseded}")
        for d in r["deliveries"]:
            click.echo(f"    to {d['said']}")
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
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default="report.html", show_default=True)
@click.option("--open", "open_it", is_flag=True, help="Open the report in a web browser.")
@db_option
def report(out, open_it, db) -> None:
    """Write one self-contained HTML page of every order's timeline and deadlines."""
    from monitor.accounts import config_of
    from monitor.html_report import write_report

    settings = _monitor_settings(db=db)
    try:
        store = _store(db)
        path = write_report(store, Path(out), config_of(settings, store))
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}")
    if open_it:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default="deadlines.ics", show_default=True)
@db_option
def calendar(out, db) -> None:
    """Write every binding deadline of every order as an iCalendar file, to import or subscribe to."""
    from monitor.accounts import config_of, order_urls
    from monitor.ics import write_calendar

    settings = _monitor_settings(db=db)
    try:
        store = _store(db)
        count = write_calendar(store, Path(out), config_of(settings, store), order_url=order_urls(settings, store))
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out} ({count} deadline{'' if count == 1 else 's'})")


@cli.group(name="db")
def database_group() -> None:
    """The database itself: its schema."""


@database_group.command()
@db_option
def migrate(db) -> None:
    """Make the database's schema, or upgrade it to this ordermon's (SQLite or PostgreSQL)."""
    from monitor.store import open_store

    store = open_store(db or _monitor_settings().db)
    try:
        if store.migrated_from == store.version:
            click.echo(f"{store.name}: already at schema version {store.version}")
        else:
            was = f"from version {store.migrated_from}" if store.migrated_from else "made"
            click.echo(f"{store.name}: schema version {store.version} ({was})")
    finally:
        store.close()
