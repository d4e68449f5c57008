"""What the commands share: the order id type, the site and database flags, the settings."""

from __future__ import annotations

import json
import logging

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
    from monitor.store import open_store

    return open_store(db or _monitor_settings().db, read_only=True)


def quiet_libraries() -> None:
    """The ``ordermon`` application's choice (a library leaves it to its user): Apprise's records,
    which quote target URLs with their secrets ("Loaded JSON URL: json://user:pass@..."), and the
    monitor's scheduler bookkeeping reach no handler, not even Python's last-resort one on stderr."""
    import logging

    for name in ("apprise", "ordermon.scheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


class _Console(logging.Handler):
    """ordermon's own log lines on stderr: whichever stderr is current (click's, under a test)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # logging's own convention: a log line never raises
            self.handleError(record)


_CONSOLE = _Console()


def warnings_to_console() -> None:
    """Every command: ordermon's warnings (a site's clock not used, an unreadable order, a `.env`
    setting ignored) on stderr, one line each (one handler, however often commands are invoked)."""
    _CONSOLE.setLevel(logging.WARNING)
    _CONSOLE.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("ordermon")
    if _CONSOLE not in logger.handlers:
        logger.addHandler(_CONSOLE)


def _log_to_console() -> None:
    """The long-running monitor's log: ordermon's own lines (retries, stops), no library's."""
    warnings_to_console()
    _CONSOLE.setLevel(logging.INFO)
    _CONSOLE.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.getLogger("ordermon").setLevel(logging.INFO)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=1))


db_option = click.option(
    "--db",
    help="The database: a SQLite file, or a postgresql:// URL [env ORDERMON_DB, default ./ordermon.db].",
)
