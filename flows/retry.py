"""The one retry policy: while the site is unavailable, try again with a doubling backoff."""

from __future__ import annotations

import logging
import time

from .errors import SiteUnavailable
from .settings import FlowSettings

log = logging.getLogger("ordermon.flows")


def backoffs(settings: FlowSettings):
    """The delays between attempts: ``retries`` of them, doubling from ``retry_backoff``."""
    delay = settings.retry_backoff
    for _ in range(settings.retries):
        yield delay
        delay *= 2


def retrying(settings: FlowSettings, action, *args, **kwargs):
    """Run ``action``, retrying with backoff while the site is unavailable."""
    delays = backoffs(settings)
    while True:
        try:
            return action(*args, **kwargs)
        except SiteUnavailable as exc:
            delay = next(delays, None)
            if delay is None:
                raise
            log.info("%s; retrying in %.2f s", exc, delay)
            time.sleep(delay)  # backoff between attempts, not a wait for the page
