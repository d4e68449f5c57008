"""The commands of a fleet: its accounts, its workers (PostgreSQL and Procrastinate: the fleet extra)."""

from __future__ import annotations

import os
import socket
import sys

import click

from . import cli
from .common import _echo_json, _monitor_settings, db_option


def _fleet_store(db):
    """The fleet's database: a PostgreSQL one (a SQLite file has no workers)."""
    from monitor.extras import require
    from monitor.store import is_postgres, open_store

    settings = _monitor_settings(db=db)
    if not is_postgres(settings.db):
        raise click.UsageError("a fleet's database is PostgreSQL's: give --db postgresql://... (or ORDERMON_DB)")
    require("fleet", "a fleet")
    return settings, open_store(settings.db)


def _vault(settings):
    from monitor.vault import Vault

    return Vault(settings.secret_key.get_secret_value() if settings.secret_key else None)


@cli.group(name="accounts")
def accounts_group() -> None:
    """A fleet's accounts, kept in its database (passwords and sessions sealed with ORDERMON_SECRET_KEY)."""


@accounts_group.command()
def key() -> None:
    """Print a new key for ORDERMON_SECRET_KEY (keep it as you keep the passwords it seals)."""
    from monitor.extras import require

    require("fleet", "a secret key")
    from monitor.vault import new_key

    click.echo(new_key())


@accounts_group.command()
@click.argument("name")
@click.option("--storefront-url", required=True, help="The site's base URL.")
@click.option("--email", required=True, help="The buyer account's e-mail.")
@click.option(
    "--window", "windows", multiple=True, metavar="NAME=VALUE",
    help="One of the account's own windows (e.g. protection_days=90); as often as needed.",
)  # fmt: skip
@db_option
def add(name, storefront_url, email, windows, db) -> None:
    """Add the account NAME; its password is asked for (or read from stdin), never an argument."""
    from monitor import accounts

    settings, store = _fleet_store(db)
    try:
        vault = _vault(settings)
        own = accounts.parse_windows(list(windows))
        if sys.stdin.isatty():
            password = click.prompt(f"Password of {email}", hide_input=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        accounts.add(store, vault, name, storefront_url=storefront_url, email=email, password=password, windows=own)
    finally:
        store.close()
    click.echo(f"added {name} ({email} at {storefront_url})")


@accounts_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def list_accounts(as_json, db) -> None:
    """Every account of the fleet (no secret: only whether a session is kept)."""
    from monitor import accounts

    _, store = _fleet_store(db)
    try:
        rows = accounts.listed(store)
    finally:
        store.close()
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        kept = "session kept" if row["session_kept"] else "not signed in yet"
        click.echo(f"{row['name']:24}  {row['email']:32}  {row['storefront_url']}  {kept}")
    if not rows:
        click.echo("no accounts", err=True)


@accounts_group.command()
@click.argument("name")
@db_option
def remove(name, db) -> None:
    """Remove the account NAME and its kept session (what was recorded of its orders stays)."""
    _, store = _fleet_store(db)
    try:
        store.remove_account(name)
    finally:
        store.close()
    click.echo(f"removed {name}")


@cli.command()
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Jobs at once.")
@click.option(
    "--queues", default="poll,browser,deliver", show_default=True,
    help="The queues it takes: poll (HTTP), browser (sign-ins; needs Chromium), deliver (alerts).",
)  # fmt: skip
@db_option
def worker(concurrency, queues, db) -> None:
    """Run a worker of the fleet until SIGTERM or Ctrl-C (the jobs under way finish first)."""
    from monitor.fleet import QUEUES, run_worker

    from .common import _log_to_console

    settings, store = _fleet_store(db)
    store.close()
    _vault(settings)  # no key, or a bad one: said now, not at the first job
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        raise click.UsageError(f"unknown queue(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(QUEUES)}")
    _log_to_console()
    name = f"{socket.gethostname()}:{os.getpid()}"
    click.echo(f"worker {name}: queues {', '.join(chosen)}, {concurrency} at once", err=True)
    run_worker(settings, concurrency=concurrency, queues=chosen, name=name)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@db_option
def workers(as_json, db) -> None:
    """The fleet's live workers: their last heartbeat and the jobs each is doing."""
    _, store = _fleet_store(db)
    try:
        rows = store.workers()
    finally:
        store.close()
    if as_json:
        _echo_json([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows])
        return
    for row in rows:
        job = f"{row['task']} {row['args']}" if row["job"] else "idle"
        click.echo(f"worker {row['worker']}: heartbeat {float(row['heartbeat_age']):.0f} s ago; {job}")
    if not rows:
        click.echo("no live worker", err=True)


@cli.command(name="fleet-demo")
@click.option("--seconds", default=45.0, show_default=True, type=click.FloatRange(min=5), help="How long workers run.")
@click.option("--buyers", default=200, show_default=True, type=click.IntRange(1, 20_000), help="Accounts of the fleet.")
@click.option("--workers", "count", default=3, show_default=True, type=click.IntRange(1, 16), help="Worker processes.")
@click.option(
    "--db", default=None, metavar="URL",
    help="A PostgreSQL database to use (its data is added to) instead of a cluster of the demo's own.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def fleet_demo(seconds, buyers, count, db, as_json) -> None:
    """The fleet in a minute: PostgreSQL of its own, a storefront with many buyers, three workers."""
    from monitor.extras import require

    require("storefront", "ordermon fleet-demo")
    require("fleet", "ordermon fleet-demo")
    from monitor.fleet_demo import run_fleet_demo
    from monitor.store import is_postgres

    if db is not None and not is_postgres(db):
        raise click.UsageError("--db takes a PostgreSQL URL (postgresql://...)")
    summary = run_fleet_demo(
        seconds=seconds, buyers=buyers, workers=count, db=db, echo=(lambda line: None) if as_json else click.echo
    )
    if as_json:
        _echo_json(summary)
