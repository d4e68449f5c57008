"""What can go wrong in a flow. Each error names its outcome (the ``outcome`` of a
``--json`` answer); the exit code each one gives is decided in monitor/exits.py."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's first line (Playwright's messages run to a call log)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class FlowError(Exception):
    outcome = "error"

    def __init__(self, message: str, *, artifacts: list[str] | None = None):
        super().__init__(message)
        self.artifacts = artifacts or []


class UnexpectedPage(FlowError):
    """The site showed something the flow does not know (artifacts are kept)."""


class ListChanged(UnexpectedPage):
    """Orders came or went while the list's pages were read: read it again."""


class BrowserUnavailable(FlowError):
    """The browser could not be started or reached."""


class SettingsError(FlowError):
    """A setting is missing or has a bad value; the message names the variable."""


class LocalStateError(FlowError):
    """A file of ordermon's own (the kept session) is unusable."""


class BadReason(FlowError):
    outcome = "bad_reason"

    def __init__(self, message: str, offered: list[str]):
        super().__init__(message)
        self.offered = offered


class NotCancellable(FlowError):
    outcome = "not_cancellable"


class OrderNotFound(FlowError):
    outcome = "not_found"


class SignInFailed(FlowError):
    outcome = "sign_in_failed"


class CaptchaRequired(SignInFailed):
    outcome = "captcha"


class SiteUnavailable(FlowError):
    outcome = "site_unavailable"


class NoAnswer(SiteUnavailable):
    """No answer came (a timeout, a dropped connection): the request may yet be acted on."""


class SubmitUnconfirmed(FlowError):
    """Submit got no answer and the order still shows it cancellable: the Submit may still be
    on its way, so it is not sent again; a later run reads the order afresh."""

    outcome = "unconfirmed"


def check_available(status: int | None, where: str) -> None:
    """A server error means the site is unavailable (retried), not that the page is unexpected."""
    if status is not None and status >= 500:
        raise SiteUnavailable(f"{where} answered HTTP {status}")
