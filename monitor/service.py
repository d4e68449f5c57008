"""The monitor: a lock on the database, a reader of the site, and a schedule.

Polls read the site over HTTP with the session the browser signed in, and the
browser runs only to sign in (``ORDERMON_POLL_VIA=http``, the default); or they
read it in a browser kept open with a context per account (``browser``).
APScheduler runs the polls in the main thread (Playwright's sync API and a
sqlite-utils Database both belong to the thread that made them): an interval
with jitter, coalesced, one at a time, a poll at start, and a stop on SIGINT
or SIGTERM after the poll under way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from flows.browser import Browser
from flows.http import HttpReader
from flows.orders import BrowserReader
from flows.session import sign_in_with_browser

from .alerts import Notifier
from .lock import MonitorLock
from .poller import PollResult, Poller
from .settings import MonitorSettings
from .store import Store

log = logging.getLogger("ordermon.monitor")

DELIVERY_INTERVAL = 10.0  # seconds between delivery passes for retried alerts


class Monitor:
    """``browser``: a Playwright browser already running in this thread (one sync driver per thread),
    for the sign-ins (and the browser reader); by default one is started when needed."""

    def __init__(self, settings: MonitorSettings, *, on_poll: Callable[[PollResult], None] | None = None,
                 progress: Callable[[str, int, int], None] | None = None, browser=None):
        self.settings = settings
        self._pw_browser = browser  # an already running Playwright browser, if given
        self.accounts = settings.account_list()
        self.on_poll = on_poll or (lambda result: None)
        self.progress = progress
        self.notifier = Notifier(settings.alert_urls, backoff=settings.alert_retry_backoff,
                                 max_attempts=settings.alert_max_attempts)
        self._lock = MonitorLock(settings.db)
        self.store: Store | None = None
        self.browser: Browser | None = None
        self.scheduler: BlockingScheduler | None = None
        self._stopper: threading.Thread | None = None
        self._stop_at: float | None = None

    # ---------------------------------------------------------------- lifecycle
    def open(self) -> Monitor:
        self._lock.acquire()
        try:
            self.store = Store(self.settings.db)
            self.notifier.recover(self.store)
            if self.settings.poll_via == "browser":
                self.browser = Browser(self.settings, browser=self._pw_browser)
                sessions = {a.label: self.browser.session(a) for a in self.accounts}
                reader = BrowserReader(sessions, self.progress)
            else:  # no browser until the site asks to sign in
                reader = HttpReader(self.settings, self.accounts, self._sign_in, self.progress)
            self.poller = Poller(self.settings, self.store, reader, self.accounts, self.notifier.targets())
        except BaseException:
            self.close()
            raise
        return self

    def _sign_in(self, account) -> None:
        sign_in_with_browser(self.settings, account, browser=self._pw_browser)

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self._lock.release()

    def __enter__(self) -> Monitor:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- work
    def poll_once(self) -> list[PollResult]:
        if self._stopper is not None:
            return []  # a stop was requested: no new poll
        results = self.poller.poll_all(self.accounts)
        for result in results:
            self.on_poll(result)
        self.deliver()
        _give_back_memory()
        return results

    def deliver(self) -> dict[str, int]:
        counts = self.notifier.deliver_due(self.store)
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.stop()
        return counts

    def run_forever(self, *, stop_after: float | None = None) -> None:
        """Poll on the schedule until SIGINT/SIGTERM (or ``stop_after`` seconds)."""
        scheduler = BlockingScheduler(executors={"default": DebugExecutor()}, timezone=dt.UTC)
        self.scheduler, self._stopper = scheduler, None
        scheduler.add_job(
            self.poll_once, IntervalTrigger(seconds=self.settings.poll_interval, jitter=self.settings.poll_jitter),
            id="poll", next_run_time=dt.datetime.now(dt.UTC), coalesce=True, max_instances=1,
            misfire_grace_time=int(self.settings.misfire_grace),
        )
        scheduler.add_job(self.deliver, "interval", seconds=min(DELIVERY_INTERVAL, self.settings.poll_interval),
                          id="deliver", coalesce=True, max_instances=1)
        # Checked after each job: APScheduler cannot remove a one-shot job once shut down.
        self._stop_at = None if stop_after is None else time.monotonic() + stop_after
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._stopper is not None:
                self._stopper.join()
            self.scheduler, self._stopper, self._stop_at = None, None, None

    def _on_signal(self, signum, frame) -> None:
        log.info("stopping after the poll under way (%s)", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        """Stop the schedule after the job under way.

        APScheduler must not shut down inside one of its jobs (the poll runs inline,
        and a signal may arrive while it does): a thread asks for the shutdown, which
        waits for the job to end.
        """
        if self.scheduler is None or self._stopper is not None:
            return
        self._stopper = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": False},
                                         name="ordermon-stop", daemon=True)
        self._stopper.start()


def _give_back_memory() -> None:
    """A poll of thousands of orders takes memory the monitor does not need while it waits
    (minutes): collect it, and hand the freed pages back to the system."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc: nothing to trim
        return None


_LIBC = _libc()
