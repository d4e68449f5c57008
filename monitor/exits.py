"""Every error ordermon can meet, mapped to its exit code and its one line on stderr.

The ``ordermon`` command goes only through ``fail``; the README's table of exit
codes is this table.
"""

from __future__ import annotations

import errno
import sys
from enum import IntEnum
from typing import NoReturn

import click

from flows.errors import (
    BadReason,
    BrowserUnavailable,
    FlowError,
    LocalStateError,
    NotCancellable,
    OrderNotFound,
    SettingsError,
    SignInFailed,
    SiteUnavailable,
    SubmitUnconfirmed,
    first_line,
)
from flows.text import printable

from .extras import MissingExtra
from .store import AccountExists, StoreError
from .store.common import disk_refused


class Exit(IntEnum):
    OK = 0
    UNEXPECTED = 1  # an unexpected page (artifacts kept) or a bug
    USAGE = 2  # bad usage, a bad or missing setting, an unknown or ambiguous reason
    NOT_CANCELLABLE = 3
    NOT_FOUND = 4
    SIGN_IN_FAILED = 5  # wrong credentials, or a captcha
    SITE_UNAVAILABLE = 6  # after the retries; or Submit got no answer and the order shows no request yet
    LOCAL_STATE = 7  # the kept session, the database or its lock
    UNHEALTHY = 8  # status --check: no successful poll for two intervals, or an outage open
    INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports it


class Unhealthy(Exception):
    """``ordermon status --check`` found the monitor not working."""


#: The most serious first: a batch's exit code is the most serious among its orders'.
SEVERITY = (
    Exit.UNEXPECTED,
    Exit.LOCAL_STATE,
    Exit.SIGN_IN_FAILED,
    Exit.SITE_UNAVAILABLE,
    Exit.USAGE,
    Exit.NOT_FOUND,
    Exit.NOT_CANCELLABLE,
    Exit.UNHEALTHY,
    Exit.OK,
)


def most_serious(codes) -> Exit:
    """The most serious of ``codes`` (``Exit.OK`` for none)."""
    return min((Exit(c) for c in codes), key=SEVERITY.index, default=Exit.OK)


#: First match wins: subclasses before their bases.
TABLE: tuple[tuple[type[BaseException], Exit], ...] = (
    (KeyboardInterrupt, Exit.INTERRUPTED),
    (click.exceptions.Abort, Exit.UNEXPECTED),
    (click.UsageError, Exit.USAGE),
    (MissingExtra, Exit.USAGE),
    (Unhealthy, Exit.UNHEALTHY),
    (SettingsError, Exit.USAGE),
    (BadReason, Exit.USAGE),
    (NotCancellable, Exit.NOT_CANCELLABLE),
    (OrderNotFound, Exit.NOT_FOUND),
    (SignInFailed, Exit.SIGN_IN_FAILED),
    (SiteUnavailable, Exit.SITE_UNAVAILABLE),
    (SubmitUnconfirmed, Exit.SITE_UNAVAILABLE),
    (LocalStateError, Exit.LOCAL_STATE),
    (AccountExists, Exit.USAGE),
    (StoreError, Exit.LOCAL_STATE),
    (BrowserUnavailable, Exit.UNEXPECTED),
    (FlowError, Exit.UNEXPECTED),
    (click.ClickException, Exit.UNEXPECTED),
)


def _interrupted(exc: BaseException) -> BaseException:
    # click turns Ctrl-C into its Abort; the interruption is what ordermon reports.
    if isinstance(exc, click.exceptions.Abort) and isinstance(exc.__cause__, KeyboardInterrupt):
        return exc.__cause__
    return exc


#: The disk refusing a file of ordermon's (full, read-only, not allowed): local state, whichever file.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _on_disk(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in DISK_ERRNOS and exc.filename is not None  # a file's, not a socket's
    return disk_refused(exc)


def code_for(exc: BaseException) -> Exit:
    if _on_disk(exc):
        return Exit.LOCAL_STATE
    for kind, code in TABLE:
        if isinstance(exc, kind):
            return code
    return Exit.UNEXPECTED


def message_for(exc: BaseException) -> str:
    """One line, without the "error:" prefix, and no control character (it may quote the site)."""
    return printable(_message(exc))


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, click.exceptions.Abort):
        return "aborted"
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx else "ordermon"
        return f"{first_line(exc.format_message())} (see {command} --help)"
    if isinstance(exc, click.ClickException):
        return first_line(exc.format_message())
    if _on_disk(exc):
        return f"cannot write ordermon's files: {first_line(exc)}"
    known = any(isinstance(exc, kind) for kind, _ in TABLE)
    if known:
        return first_line(exc)
    return f"unexpected {type(exc).__name__}: {first_line(exc)} (ORDERMON_DEBUG=1 shows more)"


def fail(exc: BaseException) -> NoReturn:
    """The error's one line on stderr, then its exit code."""
    exc = _interrupted(exc)
    click.echo(f"error: {message_for(exc)}", err=True)
    sys.exit(int(code_for(exc)))


def code_of(code: int) -> Exit:
    """An exit code kept in the database (a fleet's worker met the error): as this table has it."""
    return Exit(code) if code in Exit._value2member_map_ else Exit.UNEXPECTED


def leave(code: int | None) -> NoReturn:
    """A command that ended without an error: its own code (a batch's most serious), else 0."""
    sys.exit(int(Exit(code or Exit.OK)))
