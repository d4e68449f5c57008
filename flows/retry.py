"""The one retry policy (tenacity): while the site is unavailable, try again, ``retries`` times,
waiting ``retry_backoff`` seconds, doubled each time. The reader (flows/reading.py), the cancel
flow and the one-shot commands all retry through it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tenacity

from .errors import SiteUnavailable
from .settings import FlowSettings

log = logging.getLogger("ordermon.flows")

P = ParamSpec("P")
T = TypeVar("T")


def _say(state: tenacity.RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.info("%s; retrying in %.2f s", failure, wait)


def policy(settings: FlowSettings) -> tenacity.Retrying:
    """Retry while the site is unavailable; after the last attempt its error is raised as it was."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(SiteUnavailable),
        stop=tenacity.stop_after_attempt(settings.retries + 1),
        wait=tenacity.wait_exponential(multiplier=settings.retry_backoff),
        before_sleep=_say,
        reraise=True,
    )


def retrying(settings: FlowSettings, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``action``, retrying with backoff while the site is unavailable."""
    return policy(settings)(action, *args, **kwargs)
