"""A fleet: the same monitor as Procrastinate workers on the PostgreSQL store, for accounts kept in
the database (monitor/accounts.py).

Jobs, each on its queue:

- ``dispatch`` (periodic, once per period across the fleet): the accounts whose next poll is due
  get a ``poll_account`` job, with a little jitter; one waiting per account (a queueing lock).
- ``poll_account`` (``poll``: HTTP, no browser): one account's poll, straight through
  (monitor/poller.py), its alerts and their ``deliver`` jobs in one transaction. When the site asks
  to sign in, it hands the account to a ``sign_in`` job instead, and records nothing.
- ``sign_in`` (``browser``: only workers that have Chromium, or ORDERMON_BROWSER_ENDPOINT): signs the
  account in, keeps the session in the database for every worker, and polls it again.
- ``cancel_order`` (``browser``): a cancel asked with ``ordermon cancel --account``; its outcome
  goes back to the asker through the database.
- ``deliver`` (``deliver``): one notification through Apprise (the outbox's states as ever: one that
  died mid-send is never sent again).
- ``retry_stalled`` (periodic): jobs of a worker that stopped sending heartbeats run again.

A poll, a sign-in and a cancel of one account never overlap (one job lock per account). A job runs
on a lease (its worker's heartbeat): a request that could outlive the lease is not sent, so a worker
cut off from the database or stopped mid-job never visits the site beside the job's next run. A worker
keeps nothing of an account between jobs: its memory does not grow with the fleet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import math
import random
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from flows.account import Account
from flows.errors import FlowError, SignInNeeded, first_line

from . import accounts
from .alerts import Notifier
from .poller import Poller, PollResult
from .settings import MonitorSettings
from .store import LeaseLost, StoreError, StoreUnreachable
from .store.postgres import PostgresStore, account_lock, poll_lock
from .vault import Vault
from .windows import RuleConfig

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger("ordermon.fleet")
QUEUES = ("poll", "browser", "deliver")


def cron_every(seconds: int) -> str:
    """Procrastinate's cron for "every ``seconds``" (seconds are its sixth field)."""
    return "* * * * *" if seconds >= 60 else f"* * * * * */{seconds}"


LEASE_MARGIN = 0.5  # seconds a request ends before its lease: the site's hang-up, another's job start
MIN_REQUEST = 0.25  # seconds: a shorter request would not be worth sending


class HeartbeatLate(LeaseLost):
    """The worker's lease is too short for another request: its job may run elsewhere before the
    request would end."""


class Lease:
    """How long this worker's jobs stay its own. ``retry_stalled`` hands a job on once its worker's
    heartbeat is ``seconds`` old by the database's clock; the lease counts from just before the last
    heartbeat that was written (the database stamps it later), so it never claims more than it has."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._since: float | None = None

    def renewed(self, sent: float) -> None:
        """A heartbeat sent at ``sent`` (this clock) was written."""
        self._since = sent if self._since is None else max(self._since, sent)

    def left(self) -> float:
        """Seconds before the job may run elsewhere (none before the worker's first heartbeat)."""
        return -math.inf if self._since is None else self._since + self.seconds - self.clock()

    def budget(self) -> float:
        """Seconds a request may take from now and still end inside the lease; HeartbeatLate if
        too few are left for one (the worker's heartbeat is late: the database is away, or the
        worker was stopped)."""
        budget = self.left() - LEASE_MARGIN
        if budget < MIN_REQUEST:
            late = (
                "no heartbeat yet" if budget == -math.inf else f"{self.seconds - self.left():.1f} s since its heartbeat"
            )
            raise HeartbeatLate(f"the worker's lease is too short for a request ({late}): its job may run elsewhere")
        return budget


class Fleet:
    """What every job needs: the settings (from the environment, as every worker has them), the
    vault, the alert targets, the worker's lease; a store of the job's own (on a connection of the
    worker's pool, when it has one: ``connections``, as many as its jobs at once)."""

    def __init__(self, settings: MonitorSettings, lease: Lease | None = None, *, connections: int = 0):
        self.settings = settings
        self.lease = lease
        self.pool: ConnectionPool | None = None
        if connections:
            from psycopg_pool import ConnectionPool

            # A connection is checked as it is lent: one that a PostgreSQL restart closed is replaced.
            self.pool = ConnectionPool(
                settings.db, min_size=1, max_size=connections, open=True, timeout=10,
                kwargs={"autocommit": True, "connect_timeout": 10}, check=ConnectionPool.check_connection,
                name="ordermon-jobs",
            )  # fmt: skip
        self.vault = Vault(settings.secret_key.get_secret_value() if settings.secret_key else None)
        # The accounts are the database's: a route may name any of them.
        self.notifier = Notifier(
            settings.router(accounts=None),
            backoff=settings.alert_retry_backoff,
            max_attempts=settings.alert_max_attempts,
        )

    @contextlib.contextmanager
    def store(self, job: int | None = None) -> Iterator[PostgresStore]:
        """A store of the job's own; its writes only while ``job`` is still this worker's."""
        store = PostgresStore(self.settings.db, deliver_jobs=True, job=job, pool=self.pool)
        try:
            yield store
        finally:
            store.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def account(self, store: PostgresStore, name: str) -> tuple[Account, RuleConfig]:
        """The account, and what its polls are judged with: the fleet's windows, its own where it sets them."""
        found, windows = accounts.account(store, self.vault, name)
        return found, accounts.judging(self.settings, windows)

    # ---------------------------------------------------------------- the jobs
    def dispatch(self) -> list[str]:
        """Every due account gets a poll, a little apart; its next poll is then an interval away."""
        with self.store() as store:
            return store.dispatch(
                dt.datetime.now(dt.UTC),
                interval=self.settings.poll_interval,
                jitter=lambda: random.uniform(0, self.settings.poll_jitter),
            )

    def poll(self, name: str, job: int | None = None) -> PollResult:
        from flows.http import HttpTransport
        from flows.reading import SiteReader

        with self.store(job) as store:
            account, config = self.account(store, name)

            def elsewhere(account: Account) -> None:
                raise SignInNeeded(f"{account.label}: the site asks to sign in; a browser worker will")

            # A request ends inside the lease (the client hangs up first): a worker cut off or
            # stopped never visits the site beside its job's next run.
            lease = self.lease.budget if self.lease is not None else None
            transport = HttpTransport(self.settings, [account], sign_in=elsewhere, lease=lease)
            reader = SiteReader(self.settings, transport)
            poller = Poller(self.settings, store, reader, [account], self.notifier.route, {name: config})
            (result,) = poller.poll_all([account])
            return result

    def sign_in(self, name: str, job: int | None = None) -> None:
        from flows.session import sign_in_with_browser

        with self.store(job) as store:
            account, _ = self.account(store, name)
            try:
                sign_in_with_browser(self.settings, account)
            except Exception as exc:  # recorded as the account's failed poll (its outage, monitor_failing)
                poller = Poller(self.settings, store, _NoReader(), [account], self.notifier.route)
                poller.fail(account, exc)
                raise

    def cancel(self, request: int, job: int | None = None) -> None:
        """A cancel asked with ``ordermon cancel --account``: done in the browser, its outcome kept
        for the asker. Run again after its worker died, it decides from the order's state as any
        cancel does (a request already sent shows as such: never a second Submit)."""
        from flows.api import cancel
        from flows.models import CancelResult

        from .cancels import kept

        with self.store(job) as store:
            asked = store.cancel_request(request)
            if asked is None or asked["finished"]:
                return  # its account was removed, or an earlier run of this job finished it
            account, _ = self.account(store, asked["account"])
            order_id, reason = asked["order_id"], asked["reason"]
            found: CancelResult | FlowError
            try:
                found = cancel(self.settings, order_id, reason, dry_run=bool(asked["dry_run"]), account=account)
            except FlowError as exc:
                found = exc
            store.finish_cancel(request, **kept(order_id, reason, found))

    def deliver(self, alert_id: int, target: str, job: int | None = None) -> dt.datetime | None:
        with self.store(job) as store:
            return self.notifier.deliver_one(store, alert_id, target)


class _NoReader:
    """A poller that only records a failure reads nothing."""

    def read(self, plans):
        return {}

    def order_url(self, label: str, order_id: str) -> str:
        return ""


def heartbeat_every(settings: MonitorSettings) -> float:
    """Seconds between a worker's heartbeats: three per heartbeat limit."""
    return max(1.0, settings.stalled_seconds / 3)


def _heartbeats(job_manager_class, lease: Lease):
    """Procrastinate's job manager, telling ``lease`` of every heartbeat written (a worker's
    registration is its first)."""

    class Heartbeats(job_manager_class):
        async def register_worker(self) -> int:
            sent = lease.clock()
            worker_id = await super().register_worker()
            lease.renewed(sent)
            return worker_id

        async def update_heartbeat(self, worker_id: int) -> None:
            sent = lease.clock()
            await super().update_heartbeat(worker_id)
            lease.renewed(sent)

    return Heartbeats


def make_app(fleet: Fleet):
    """The Procrastinate app of the fleet, with its tasks (built for the fleet's settings: the
    dispatcher's period and the stalled workers' limit are settings)."""
    import psycopg
    from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
    from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
    from procrastinate.jobs import Status
    from procrastinate.manager import JobManager

    settings, lease = fleet.settings, fleet.lease
    assert lease is not None, "a worker's jobs run on its lease"
    app = App(connector=PsycopgConnector(conninfo=settings.db, min_size=1, max_size=4))
    app.job_manager = _heartbeats(JobManager, lease)(connector=app.connector)
    # A job that found the database away (a restart, a cut) runs again a little later; one handed on
    # (LeaseLost) does not: its work runs as another job already.
    on_outage = RetryStrategy(max_attempts=4, wait=1, retry_exceptions={StoreUnreachable, psycopg.OperationalError})

    def defer_poll(name: str, delay: float = 0.0) -> None:
        with contextlib.suppress(AlreadyEnqueued):
            app.configure_task(
                "poll_account", queue="poll", lock=account_lock(name), queueing_lock=poll_lock(name),
                schedule_in={"seconds": int(delay)},
            ).defer(account=name)  # fmt: skip

    @app.task(name="poll_account", queue="poll", pass_context=True, retry=on_outage)
    def poll_account(context: JobContext, account: str) -> None:
        try:
            result = fleet.poll(account, context.job.id)
        except HeartbeatLate:
            # Stopped before a request could outlive the lease. If the job is still this worker's,
            # the account waits for the next one (run after this job, under its lock); if not, the
            # job runs elsewhere already. Without the database, retry_stalled hands this job on.
            with contextlib.suppress(ConnectorException):
                defer_poll(account, 1.0)
            raise
        if result.deferred:
            with contextlib.suppress(AlreadyEnqueued):
                app.configure_task(
                    "sign_in", queue="browser", lock=account_lock(account), queueing_lock=f"sign_in:{account}"
                ).defer(account=account)
        if result.deferred:
            log.info("poll %s: the site asks to sign in; a browser worker signs in, then polls again", account)
        else:
            log.info(
                "poll %s: %s", account, result.error or f"{result.orders_seen} orders, {len(result.alerts)} alerts"
            )

    @app.task(name="sign_in", queue="browser", pass_context=True, retry=on_outage)
    def sign_in(context: JobContext, account: str) -> None:
        fleet.sign_in(account, context.job.id)
        defer_poll(account)

    @app.task(name="cancel_order", queue="browser", pass_context=True, retry=on_outage)
    def cancel_order(context: JobContext, request: int) -> None:
        fleet.cancel(request, context.job.id)
        log.info("cancel request %s: done", request)

    @app.task(name="deliver", queue="deliver", pass_context=True, retry=on_outage)
    def deliver(context: JobContext, alert_id: int, target: str) -> None:
        again = fleet.deliver(alert_id, target, context.job.id)
        if again is not None:
            with contextlib.suppress(AlreadyEnqueued):
                app.configure_task(
                    "deliver", queue="deliver", queueing_lock=f"deliver:{alert_id}:{target}", schedule_at=again
                ).defer(alert_id=alert_id, target=target)

    @app.periodic(cron=cron_every(settings.dispatch_seconds), periodic_id="dispatch")
    @app.task(name="dispatch", queue="poll", queueing_lock="dispatch")
    def dispatch(timestamp: int) -> None:
        fleet.dispatch()

    @app.periodic(cron=cron_every(min(60, max(1, int(settings.stalled_seconds / 2)))), periodic_id="retry_stalled")
    @app.task(name="retry_stalled", queue="poll", queueing_lock="retry_stalled")
    async def retry_stalled(timestamp: int) -> None:
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.stalled_seconds)
        for job in stalled:
            # Not retried in place: the silent worker may wake and mark that job done or failed,
            # which would end the new run's job (and its account's lock) under the new worker. Its
            # job ends failed, and the same work goes on as a new job; the silent one's writes are
            # refused (its store's job is no longer under way).
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            again = app.configure_task(job.task_name, queue=job.queue, lock=job.lock, queueing_lock=job.queueing_lock)
            try:
                await again.defer_async(**job.task_kwargs)
                log.warning("job %s (%s) of a silent worker runs again as a new job", job.id, job.task_name)
            except AlreadyEnqueued:
                log.warning("job %s (%s) of a silent worker ends: the same job waits already", job.id, job.task_name)

    return app


def run_worker(settings: MonitorSettings, *, concurrency: int, queues: list[str], name: str) -> None:
    """A worker until SIGTERM or SIGINT (the jobs under way finish first). A worker that loses its
    database (a server restarted, a network cut) stops its jobs as Procrastinate does, then starts
    again once the database answers: a fleet outlives a restart of its PostgreSQL."""
    import psycopg
    from procrastinate.exceptions import ConnectorException

    PostgresStore(settings.db).close()  # ordermon's schema and Procrastinate's, made or upgraded first
    fleet = Fleet(settings, Lease(settings.stalled_seconds), connections=concurrency)
    app = make_app(fleet)

    async def run_once(stopping: asyncio.Event) -> None:
        async with app.open_async():
            run = asyncio.create_task(
                app.run_worker_async(
                    queues=queues,
                    concurrency=concurrency,
                    name=name,
                    update_heartbeat_interval=heartbeat_every(settings),
                    stalled_worker_timeout=settings.stalled_seconds,
                    fetch_job_polling_interval=min(5.0, settings.dispatch_seconds),
                    install_signal_handlers=False,  # ours: a stop asked for is told from a lost database
                    # A finished poll's job is of no use: kept, they would grow the table by a row per
                    # poll, and each fetch of a job would cost more (failed ones stay, as evidence).
                    delete_jobs="successful",
                )
            )
            asked = asyncio.create_task(stopping.wait())
            await asyncio.wait({run, asked}, return_when=asyncio.FIRST_COMPLETED)
            asked.cancel()
            if not run.done():
                run.cancel()  # Procrastinate's graceful stop: the jobs under way finish
            with contextlib.suppress(asyncio.CancelledError):
                await run

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # Sync jobs run in the event loop's default executor: as many threads as jobs at once.
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ordermon-job")
        )
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        while not stopping.is_set():
            try:
                await run_once(stopping)
            except (ConnectorException, psycopg.OperationalError, StoreError) as exc:
                log.warning("worker %s: the database is unreachable (%s)", name, first_line(str(exc)))
            if not stopping.is_set():
                log.warning("worker %s lost its database; it starts again once the database answers", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    try:
        asyncio.run(main())
    finally:
        fleet.close()
