"""What can go wrong in a flow. Each error names its outcome (the ``outcome`` of a
``--json`` answer); the exit code each one gives is decided in monitor/exits.py."""

from __future__ import annotations

from typing import ClassVar, Literal

#: Every outcome a cancel can report (``--json``'s ``outcome``): a result's, an error's, or, in a
#: batch that an account's error ended, ``not_attempted`` for the orders after it.
Outcome = Literal[
    "cancelled",
    "requested",
    "already_requested",
    "dry_run",
    "not_cancellable",
    "not_found",
    "bad_reason",
    "sign_in_failed",
    "captcha",
    "site_unavailable",
    "unconfirmed",
    "not_attempted",
    "error",
]


def first_line(exc: BaseException | str) -> str:
    """An exception's (or a message's) first line (Playwright's messages run to a call log)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else (exc if isinstance(exc, str) else type(exc).__name__)


class FlowError(Exception):
    outcome: ClassVar[Outcome] = "error"

    def __init__(self, message: str, *, artifacts: list[str] | None = None):
        super().__init__(message)
        self.artifacts = artifacts or []


class UnexpectedPage(FlowError):
    """The site showed something the flow does not know (artifacts are kept)."""


class BrowserUnavailable(FlowError):
    """The browser could not be started or reached."""


class SettingsError(FlowError):
    """A setting is missing or has a bad value; the message names the variable."""


class LocalStateError(FlowError):
    """A file of ordermon's own (the kept session) is unusable."""


class BadReason(FlowError):
    outcome: ClassVar[Outcome] = "bad_reason"

    def __init__(self, message: str, offered: list[str]):
        super().__init__(message)
        self.offered = offered


class NotCancellable(FlowError):
    outcome: ClassVar[Outcome] = "not_cancellable"


class OrderNotFound(FlowError):
    outcome: ClassVar[Outcome] = "not_found"


class SignInFailed(FlowError):
    outcome: ClassVar[Outcome] = "sign_in_failed"


class CaptchaRequired(SignInFailed):
    outcome: ClassVar[Outcome] = "captcha"


class SiteUnavailable(FlowError):
    outcome: ClassVar[Outcome] = "site_unavailable"


class BadAnswer(SiteUnavailable):
    """The site answered, but not what it should: more than ordermon reads, or a list that
    disagrees with itself. The site's fault, like no answer at all (not tried again at once)."""


class ReadAbandoned(FlowError):
    """A read cancelled under way because ordermon stops (a signal): nothing of it is recorded."""


class ListChanged(BadAnswer):
    """Orders came or went while the list's pages were read: read it again (twice: the site's fault)."""


class NoAnswer(SiteUnavailable):
    """No answer came (a timeout, a dropped connection): the request may yet be acted on."""


class SignInNeeded(FlowError):
    """The site asks to sign in, and this process has no browser to do it: one that has signs in
    (a fleet's ``browser`` worker); the read is tried again once it has."""


class SubmitUnconfirmed(FlowError):
    """Submit got no answer and the order still shows it cancellable: the Submit may still be
    on its way, so it is not sent again; a later run reads the order afresh."""

    outcome: ClassVar[Outcome] = "unconfirmed"


def check_available(status: int | None, where: str) -> None:
    """A server error means the site is unavailable (retried), not that the page is unexpected."""
    if status is not None and status >= 500:
        raise SiteUnavailable(f"{where} answered HTTP {status}")
