"""What can go wrong in a flow, each with the exit code the CLI gives it."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's first line (Playwright's messages run to a call log)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class FlowError(Exception):
    exit_code = 1
    outcome = "error"

    def __init__(self, message: str, *, artifacts: list[str] | None = None):
        super().__init__(message)
        self.artifacts = artifacts or []


class UnexpectedPage(FlowError):
    exit_code = 1
    outcome = "error"


class BadReason(FlowError):
    exit_code = 2
    outcome = "bad_reason"

    def __init__(self, message: str, offered: list[str]):
        super().__init__(message)
        self.offered = offered


class NotCancellable(FlowError):
    exit_code = 3
    outcome = "not_cancellable"


class OrderNotFound(FlowError):
    exit_code = 4
    outcome = "not_found"


class SignInFailed(FlowError):
    exit_code = 5
    outcome = "sign_in_failed"


class CaptchaRequired(SignInFailed):
    outcome = "captcha"


class SiteUnavailable(FlowError):
    exit_code = 6
    outcome = "site_unavailable"
