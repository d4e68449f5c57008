"""The monitor: a lock on the database, a reader of the site, and a schedule.

Polls read the site over HTTP with the session the browser signed in, and the
browser runs only to sign in (``ORDERMON_POLL_VIA=http``, the default); or they
read it in a browser kept open with a context per account (``browser``).
APScheduler runs the polls in the main thread (Playwright's sync API and a
sqlite-utils Database both belong to the thread that made them): an interval
with jitter, coalesced, one at a time, a poll at start, and a stop on SIGINT
or SIGTERM after the poll under way.

Deliveries run in a thread of their own (APScheduler's executor "delivery",
one worker) with a database connection of their own: a pass at start, one as
soon as a poll has recorded its alerts, and one every ``DELIVERY_INTERVAL``
for the retries. A slow alert target never delays a poll, and a long poll
never holds back a delivery.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from flows.browser import Browser
from flows.errors import ReadAbandoned
from flows.http import abandon_reads, allow_reads
from flows.reading import Progress, SiteReader, Transport

from . import exits
from .alerts import Notifier
from .lock import monitor_lock
from .memory import hand_back_pages
from .poller import Poller, PollResult
from .settings import MonitorSettings
from .store import Store, StoreError, open_store

log = logging.getLogger("ordermon.monitor")

# APScheduler's records ("Run time of job ... was missed by", "Job ... raised an exception") are its
# bookkeeping: the monitor's scheduler and executors log them to a logger of ordermon's own that no
# handler shows, and the monitor says what matters in its own words (a skipped poll, a failed poll
# or delivery pass). APScheduler's own loggers are left as they are.
SCHEDULER_LOG = logging.getLogger("ordermon.scheduler")


class _OwnLog:
    def start(self, scheduler, alias):
        super().start(scheduler, alias)  # type: ignore[misc]
        self._logger = SCHEDULER_LOG


class _Inline(_OwnLog, DebugExecutor):
    """Polls run in the scheduler's thread (Playwright's sync API belongs to it)."""


class _Pool(_OwnLog, ThreadPoolExecutor):
    """Deliveries run in a thread of their own."""


DELIVERY_INTERVAL = 10.0  # seconds between delivery passes for retried alerts


class Monitor:
    """``browser``: a Playwright browser already running in this thread (one sync driver per thread),
    for the sign-ins (and the browser reader); by default one is started when needed."""

    def __init__(
        self,
        settings: MonitorSettings,
        *,
        on_poll: Callable[[PollResult], None] | None = None,
        progress: Progress | None = None,
        browser=None,
    ):
        self.settings = settings
        self._pw_browser = browser  # an already running Playwright browser, if given
        self.accounts = settings.account_list()
        self.on_poll = on_poll or (lambda result: None)
        self.progress = progress
        self.notifier = Notifier(
            settings.router([a.label for a in self.accounts]),
            backoff=settings.alert_retry_backoff,
            max_attempts=settings.alert_max_attempts,
        )
        self._lock = monitor_lock(settings.db)
        self._one_pass = threading.Lock()  # two passes at once would both send what is due
        self._store: Store | None = None
        self.browser: Browser | None = None
        self.scheduler: BlockingScheduler | None = None
        self._stopper: threading.Thread | None = None
        self._stop_once = threading.Lock()  # taken without blocking: stop() may run in a signal handler
        self._stop_requested = False
        self._stop_at: float | None = None
        self._wake = threading.Event()  # a poll ended, or the monitor stops: the delivery thread goes now

    @property
    def store(self) -> Store:
        """The monitor's database connection (in the thread that opened the monitor)."""
        if self._store is None:
            raise StoreError("the monitor is not open")
        return self._store

    # ---------------------------------------------------------------- lifecycle
    def open(self) -> Monitor:
        self._lock.acquire()
        try:
            self._store = open_store(self.settings.db)
            self.notifier.recover(self.store)
            if self.settings.poll_via == "browser":
                from flows.fetch import PageTransport
                from flows.session import AccountSession

                self.browser = Browser(self.settings, browser=self._pw_browser)
                sessions = {a.label: AccountSession(self.browser, a) for a in self.accounts}
                transport: Transport = PageTransport(sessions)
            else:  # no browser, nor Playwright, until the site asks to sign in
                from flows.http import HttpTransport

                transport = HttpTransport(self.settings, self.accounts, self._sign_in)
            reader = SiteReader(self.settings, transport, progress=self.progress)
            self.poller = Poller(self.settings, self.store, reader, self.accounts, self.notifier.route)
        except BaseException:
            self.close()
            raise
        return self

    def _sign_in(self, account) -> None:
        from flows.session import sign_in_with_browser

        sign_in_with_browser(self.settings, account, browser=self._pw_browser)

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._lock.release()

    def __enter__(self) -> Monitor:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- work
    def poll_once(self) -> list[PollResult]:
        """Poll every account, then deliver what is due before returning (``--once``, tests).
        On the schedule (``run_forever``) the delivery thread sends the poll's alerts instead."""
        results = self._poll()
        self.deliver()
        return results

    def deliver(self) -> dict[str, int]:
        """A delivery pass in this thread: every delivery that is due, sent now."""
        with self._one_pass:
            return self.notifier.deliver_due(self.store)

    def _poll(self) -> list[PollResult]:
        if self._stop_requested:
            return []  # a stop was requested: no new poll
        results = self.poller.poll_all(self.accounts)
        for result in results:
            self.on_poll(result)
        _give_back_memory()
        return results

    # ---------------------------------------------------------------- the schedule
    def run_forever(self, *, stop_after: float | None = None) -> None:
        """Poll on the schedule, and deliver in the delivery thread, until SIGINT/SIGTERM (or
        ``stop_after`` seconds). A stop ends the poll and the notification under way; deliveries
        not sent yet stay in the outbox for the next start (or a ``deliver()``)."""
        delivery = _Pool(1, pool_kwargs={"thread_name_prefix": "ordermon-delivery"})
        scheduler = BlockingScheduler(
            executors={"default": _Inline(), "delivery": delivery}, timezone=dt.UTC, logger=SCHEDULER_LOG
        )
        self.scheduler, self._stopper, self._stop_requested = scheduler, None, False
        self._wake.clear()
        # First: the delivery thread starts before the first poll runs (inline, and long).
        scheduler.add_job(
            self._deliveries,
            id="deliver",
            executor="delivery",
            next_run_time=dt.datetime.now(dt.UTC),
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self._scheduled_poll,
            IntervalTrigger(seconds=self.settings.poll_interval, jitter=self.settings.poll_jitter),
            id="poll",
            next_run_time=dt.datetime.now(dt.UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(self.settings.misfire_grace),
        )
        scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        # Checked after each poll and each delivery pass: APScheduler cannot remove a one-shot job once shut down.
        self._stop_at = None if stop_after is None else time.monotonic() + stop_after
        allow_reads()  # a stop of an earlier run in this process refused them
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()  # a no-op after a stop; after an error, it ends the delivery thread
            if self._stopper is not None:
                self._stopper.join()
            delivery.shutdown(wait=True)  # the delivery thread ends after the notification under way
            self.scheduler, self._stopper, self._stop_at, self._stop_requested = None, None, None, False
            self._stop_once.release()

    def _scheduled_poll(self) -> None:
        try:
            self._poll()
        except ReadAbandoned:
            log.info("the poll under way was abandoned: nothing of it recorded")
        except Exception as exc:  # APScheduler would log it in its own words, then poll again
            log.error("poll failed: %s; polling again on schedule", exits.message_for(exc), exc_info=_debug())
        self._wake.set()
        self._check_stop_at()

    def _deliveries(self) -> None:
        """The delivery thread, with a database connection of its own (opened, used and closed
        here): a pass at start, when woken, and every ``DELIVERY_INTERVAL``; until the stop."""
        store = None
        try:
            while not self._stop_requested:
                self._wake.clear()
                try:
                    store = store or open_store(self.settings.db)
                    with self._one_pass:
                        self.notifier.deliver_due(store, stop=lambda: self._stop_requested)
                except Exception as exc:
                    log.error(
                        "delivery pass failed: %s; trying again in %g s",
                        exits.message_for(exc),
                        self._delivery_interval(),
                        exc_info=_debug(),
                    )
                self._check_stop_at()
                self._wake.wait(self._delivery_wait())
        finally:
            if store is not None:
                store.close()

    def _delivery_interval(self) -> float:
        return min(DELIVERY_INTERVAL, self.settings.poll_interval)

    def _delivery_wait(self) -> float:
        """Until the next pass: the retries' interval, or less when ``stop_after`` ends sooner."""
        if self._stop_at is None:
            return self._delivery_interval()
        return max(0.0, min(self._delivery_interval(), self._stop_at - time.monotonic()))

    def _check_stop_at(self) -> None:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.stop()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        if event.job_id == "poll":
            late = dt.datetime.now(dt.UTC) - event.scheduled_run_time
            log.warning(
                "a poll was skipped: it ran %d s late (ORDERMON_MISFIRE_GRACE is %g s); the next one is on schedule",
                late.total_seconds(),
                self.settings.misfire_grace,
            )

    def _on_signal(self, signum, frame) -> None:
        log.info(
            "stopping (%s): a read under way is abandoned, a notification under way ends first",
            signal.Signals(signum).name,
        )
        self.stop()
        abandon_reads()  # a site that never finishes answering does not hold the stop

    def stop(self) -> None:
        """Stop the schedule after the poll and the notification under way.

        Called from a job (the poll runs inline, the deliveries in their thread) or a signal
        handler, so it neither blocks nor takes a lock it may already hold: APScheduler must
        not shut down inside one of its jobs, so a thread asks for the shutdown, which waits
        for the poll under way to end.
        """
        scheduler = self.scheduler
        if scheduler is None or not self._stop_once.acquire(blocking=False):
            return
        self._stop_requested = True
        self._stopper = threading.Thread(target=self._shut_down, args=(scheduler,), name="ordermon-stop", daemon=True)
        self._stopper.start()

    def _shut_down(self, scheduler: BlockingScheduler) -> None:
        self._wake.set()  # the delivery thread sees the stop now, not at its next pass
        with contextlib.suppress(SchedulerNotRunningError):  # start() failed: nothing to shut down
            scheduler.shutdown(wait=False)


def _debug() -> bool:
    """A failed job's traceback, with ORDERMON_DEBUG=1; its one line otherwise."""
    return bool(os.environ.get("ORDERMON_DEBUG"))


def _give_back_memory() -> None:
    """A poll of thousands of orders takes memory the monitor does not need while it waits
    (minutes): collect it, and hand the freed pages back to the system."""
    gc.collect()
    hand_back_pages()
