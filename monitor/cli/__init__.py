"""The ``ordermon`` command: parses arguments and calls into flows/, monitor/ and fixtures/.

Errors are not handled here: ``main`` hands every one to ``monitor.exits``,
which prints its one line and exits with its code.
"""

from __future__ import annotations

import os

import click


class Ordermon(click.Group):
    """Every error of every command, however it is invoked, goes through ``monitor.exits``."""

    def main(self, *args, **kwargs):
        from monitor import exits

        from .common import quiet_libraries, warnings_to_console

        quiet_libraries()
        warnings_to_console()
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            if (
                os.environ.get("ORDERMON_DEBUG")
                and isinstance(exc, Exception)
                and exits.code_for(exc) is exits.Exit.UNEXPECTED
            ):
                raise
            exits.fail(exc)
        exits.leave(code)


@click.group(cls=Ordermon, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ordermon")
def cli() -> None:
    """Watch and cancel marketplace orders in a real browser."""


def main() -> None:
    cli(prog_name="ordermon")


# The commands register themselves on ``cli``.
from . import database, fleet, serve, site  # noqa: E402, F401
