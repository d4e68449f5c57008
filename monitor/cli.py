"""The ``ordermon`` command: parses arguments and calls into flows/, monitor/ and fixtures/."""

from __future__ import annotations

import sys

import click

# Exit codes shared by every command (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


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


def main() -> None:
    cli(prog_name="ordermon")


if __name__ == "__main__":
    main()
