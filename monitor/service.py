"""The monitor: a lock on the database, a browser with a context per account, and a schedule.

APScheduler runs the polls in the main thread (Playwright's sync API and a
sqlite-utils Database both belong to the thread that made them): an interval
with jitter, coalesced, one at a time, a poll at start, and a stop on SIGINT
or SIGTERM after the poll under way.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections.abc import Callable

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from threading import TIMEOUT_MAX
from apscheduler.triggers.interval import IntervalTrigger

from flows.session import Browser

from .alerts import Notifier
from .poller import PollResult, Poller, Progress
from .settings import MonitorSettings
from .store import MonitorLock, Store

log = logging.getLogger("ordermon.monitor")

DELIVERY_INTERVAL = 10.0  # seconds between delivery passes for retried alerts


class _Scheduler(BlockingScheduler):
    """A BlockingScheduler that can be asked to stop from inside a job.

    Jobs run inline (DebugExecutor), and APScheduler 3 cannot shut down while it
    is processing jobs, so a stop request is honoured between rounds.
    """

    stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True
        self.wakeup()

    def _main_loop(self) -> None:
        wait_seconds = TIMEOUT_MAX
        while self.state != STATE_STOPPED and not self.stop_requested:
            self._event.wait(wait_seconds)
            self._event.clear()
            if self.stop_requested:
                break
            wait_seconds = self._process_jobs()
        if self.state != STATE_STOPPED:
            self.shutdown(wait=False)


class Monitor:
    def __init__(self, settings: MonitorSettings, *, on_poll: Callable[[PollResult], None] | None = None,
                 progress: Progress | None = None, browser=None):
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
        self.scheduler: _Scheduler | None = None
        self._stop_at: float | None = None

    # ---------------------------------------------------------------- lifecycle
    def open(self) -> Monitor:
        self._lock.acquire()
        try:
            self.store = Store(self.settings.db)
            self.notifier.recover(self.store)
            self.browser = Browser(self.settings, browser=self._pw_browser)
            sessions = {a.label: self.browser.session(a) for a in self.accounts}
            self.poller = Poller(self.settings, self.store, sessions, self.notifier.targets(), self.progress)
        except BaseException:
            self.close()
            raise
        return self

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
        results = self.poller.poll_all(self.accounts)
        for result in results:
            self.on_poll(result)
        self.deliver()
        return results

    def deliver(self) -> dict[str, int]:
        counts = self.notifier.deliver_due(self.store)
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.stop()
        return counts

    def run_forever(self, *, stop_after: float | None = None) -> None:
        """Poll on the schedule until SIGINT/SIGTERM (or ``stop_after`` seconds)."""
        scheduler = _Scheduler(executors={"default": DebugExecutor()}, timezone=dt.UTC)
        self.scheduler = scheduler
        now = dt.datetime.now(dt.UTC)
        scheduler.add_job(
            self.poll_once, IntervalTrigger(seconds=self.settings.poll_interval, jitter=self.settings.poll_jitter),
            id="poll", next_run_time=now, coalesce=True, max_instances=1,
            misfire_grace_time=int(self.settings.misfire_grace),
        )
        delivery_every = min(DELIVERY_INTERVAL, self.settings.poll_interval)
        scheduler.add_job(self.deliver, "interval", seconds=delivery_every, id="deliver",
                          coalesce=True, max_instances=1)
        # Checked after each job: APScheduler cannot remove a one-shot job once shut down.
        self._stop_at = None if stop_after is None else time.monotonic() + stop_after
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.scheduler = None

    def _on_signal(self, signum, frame) -> None:
        log.info("stopping after the poll under way (%s)", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.request_stop()
