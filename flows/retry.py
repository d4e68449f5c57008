"""The one retry policy (tenacity): while the site is unavailable, try again, ``retries`` times,
waiting ``retry_backoff`` seconds, doubled each time. The reader (flows/reading.py), the cancel
flow and the one-shot commands all retry through it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tenacity

from .errors import BadAnswer, SiteUnavailable
from .settings import FlowSettings

log = logging.getLogger("ordermon.flows")

P = ParamSpec("P")
T = TypeVar("T")


def _say(state: tenacity.RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.info("%s; retrying in %.2f s", failure, wait)


def policy(settings: FlowSettings, *, until: Callable[[], float | None] | None = None) -> tenacity.Retrying:
    """Retry while the site is unavailable; after the last attempt its error is raised as it was.
    ``until()`` (a ``time.monotonic()`` moment, or None for none yet): no try starts that could
    last past it (a try's requests take at most the timeout each), so a site that answers too
    slowly every time ends the read in time."""
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(settings.retries + 1)
    if until is not None:
        stop = stop | _Past(until, settings.timeout)
    return tenacity.Retrying(
        # A bad answer (BadAnswer) is the site's too, but asking again at once gets the same answer.
        retry=tenacity.retry_if_exception_type(SiteUnavailable) & tenacity.retry_if_not_exception_type(BadAnswer),
        stop=stop,
        wait=tenacity.wait_exponential(multiplier=settings.retry_backoff),
        before_sleep=_say,
        reraise=True,
    )


class _Past(tenacity.stop.stop_base):
    """Stop before a try that could last past ``until()`` (a try takes about ``timeout``)."""

    def __init__(self, until: Callable[[], float | None], timeout: float):
        self.until, self.timeout = until, timeout

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        until = self.until()
        return until is not None and time.monotonic() + state.upcoming_sleep + self.timeout > until


def retrying(settings: FlowSettings, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``action``, retrying with backoff while the site is unavailable."""
    return policy(settings)(action, *args, **kwargs)
