"""The PostgreSQL store (psycopg 3): the same tables and guarantees as SQLite's, for a fleet of
workers sharing one database. The schema is versioned in ``ordermon_schema`` and migrated by
``ordermon db migrate`` (or when the monitor opens it); a newer or foreign database is refused
untouched. Procrastinate's own tables may live beside ordermon's in the same database."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ..order import COLUMNS
from .common import DatabaseBusy, LeaseLost, StoreError, StoreUnreachable, iso
from .schema import CARRIED_BY_DIGEST, SCHEMA_VERSION
from .sql import SqlStore

VERSION_TABLE = "ordermon_schema"
TABLES = frozenset(
    {"orders", "history", "polls", "alerts", "deliveries", "outages", "accounts", "sessions", "cancels", "unreadable"}
    | {VERSION_TABLE}
)


def _v5(conn: psycopg.Connection) -> None:
    """The first PostgreSQL schema: the shape of SQLite's fifth (the versions count the same)."""
    orders = ", ".join(f"{c} text" + (" not null" if c in ("account", "order_id", "status") else "") for c in COLUMNS)
    for statement in (
        f"create table orders ({orders}, primary key (account, order_id))",
        "create table history (id bigserial primary key, account text, order_id text, observed_at text, "
        "status_from text, status_to text, refund_from text, refund_to text, close_reason text, "
        "foreign key (account, order_id) references orders (account, order_id))",
        "create index history_order on history (account, order_id)",
        "create table polls (id bigserial primary key, account text, started text, finished text, site_now text, "
        "orders_seen integer, changes integer, details_read integer, alerts_created integer, error text)",
        "create index polls_account on polls (account, id)",
        "create table alerts (id bigserial primary key, account text not null, order_id text not null, "
        "rule text not null, level text not null default '', episode text not null default '', deadline text, "
        "deadline_name text, title text, message text, next_step text, url text, created text, site_now text, "
        "digest_of bigint, superseded integer not null default 0, "
        "constraint alerts_unique unique (account, order_id, rule, level, episode))",
        "create table deliveries (alert_id bigint not null references alerts (id), target text not null, "
        "label text, state text not null default 'pending', attempts integer not null default 0, last_error text, "
        "next_attempt text, delivered text, primary key (alert_id, target))",
        "create index deliveries_due on deliveries (state, next_attempt)",
        "create table outages (account text primary key, since text, failures integer, last_error text, "
        "alerted integer)",
    ):
        conn.execute(statement)


def _v6(conn: psycopg.Connection) -> None:
    """Accounts and their kept sessions (secrets sealed); when the dispatcher polls each next."""
    conn.execute(
        "create table accounts (name text primary key, storefront_url text not null, email text not null, "
        "password text not null, windows text, added text, next_poll text)"
    )
    conn.execute(
        "create table sessions (account text primary key references accounts (name) on delete cascade, "
        "state text not null, saved text)"
    )


def _v7(conn: psycopg.Connection) -> None:
    """A fleet's cancels and their outcome (SQLite's seventh)."""
    conn.execute(
        "create table cancels (id bigserial primary key, "
        "account text not null references accounts (name) on delete cascade, order_id text not null, "
        "reason text not null, dry_run integer not null default 0, requested text not null, finished text, "
        "code integer, result text, error text)"
    )


def _v8(conn: psycopg.Connection) -> None:
    """An index for Procrastinate's queue, which its fetch of a job lacks: that fetch checks each
    waiting job for another of the same lock (an account's) under way, by the lock, through an
    index that starts with the job's id: with a thousand accounts due at once, 8 ms of the server
    per job (2.5 ms with this one; procrastinate#1242)."""
    conn.execute(
        "create index if not exists ordermon_jobs_lock on procrastinate_jobs (lock) where status in ('todo', 'doing')"
    )


def _v9(conn: psycopg.Connection) -> None:
    """Unreadable orders of an account's last successful poll (SQLite's ninth)."""
    conn.execute(
        "create table unreadable (account text not null, order_id text not null, why text not null, seen text, "
        "primary key (account, order_id))"
    )


def _v10(conn: psycopg.Connection) -> None:
    """A delivery may carry others to its target (SQLite's tenth)."""
    conn.execute("alter table deliveries add column carried_by bigint")
    conn.execute(CARRIED_BY_DIGEST)
    conn.execute("alter table alerts drop column digest_of")


MIGRATIONS = {5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10}
FIRST = min(MIGRATIONS)


def account_lock(account: str) -> str:
    """The job lock of an account: its poll, its sign-in and its cancel never overlap."""
    return f"account:{account}"


def poll_lock(account: str) -> str:
    """The queueing lock of an account's poll: one waiting at a time."""
    return f"poll:{account}"


def redacted(url: str) -> str:
    """The URL without its password: how a message names the database."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(SqlStore):
    """The monitor's database on a PostgreSQL server (``postgresql://user@host:port/db``)."""

    STATES = "string_agg(d.state, ',' order by d.target)"

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        migrate: bool = True,
        deliver_jobs: bool = False,
        job: int | None = None,
        pool: ConnectionPool | None = None,
    ):
        """``deliver_jobs``: a fleet's store, whose new deliveries each get a ``deliver`` job
        (Procrastinate's) in the transaction that adds them: the outbox and its queue agree.
        ``job``: the Procrastinate job this store writes for. Each write transaction first locks its
        row and finds it still under way, else raises LeaseLost and writes nothing: a worker that
        wakes after its job was handed on (stopped, or cut off, past the heartbeat limit) cannot
        record what it read before, over what the job's new run records.
        ``pool``: a worker's connections (its process checked the schema as it started); the store
        borrows one, and checks only that the schema is not newer than this ordermon: a connection
        costs the server and the worker about 5 ms of CPU, a fleet's every job would pay it."""
        self.url = url
        self.name = redacted(url)
        self.deliver_jobs = deliver_jobs
        self.job = job
        self._pool = pool
        try:
            if pool is not None:
                self.conn = pool.getconn()
            else:
                # A reader's connection refuses writes itself, whatever its code does.
                read: dict[str, Any] = {"options": "-c default_transaction_read_only=on"} if read_only else {}
                self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10, **read)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreUnreachable(f"cannot reach {self.name}: {str(exc).strip().splitlines()[0]}") from None
        if pool is not None:
            try:
                self.migrated_from = self.version
            except BaseException:
                self.close()
                raise
            if self.migrated_from > SCHEMA_VERSION:
                self._refuse(f"has schema version {self.migrated_from}, newer than this ordermon ({SCHEMA_VERSION})")
            return
        try:
            tables = self._tables()
            self.migrated_from = self._stored_version(tables)
            if self.migrated_from > SCHEMA_VERSION:
                self._refuse(f"has schema version {self.migrated_from}, newer than this ordermon ({SCHEMA_VERSION})")
            foreign = {t for t in tables - TABLES if not t.startswith("procrastinate_")}
            if foreign or (self.migrated_from == 0 and tables & TABLES):
                self._refuse("is not an ordermon database (it has tables of another program)")
            if self.migrated_from < SCHEMA_VERSION and (read_only or not migrate):
                self._refuse(
                    f"has schema version {self.migrated_from or 'none'}: "
                    "run `ordermon db migrate` to make or upgrade it"
                )
            if not read_only and (self.migrated_from < SCHEMA_VERSION or "procrastinate_jobs" not in tables):
                self.migrate()
        except BaseException:
            self.conn.close()
            raise

    def _tables(self) -> set[str]:
        """The names of the tables (and views) in the schema; from the catalog, not from
        information_schema, whose views cost a fleet's every job milliseconds of the server's CPU."""
        return {
            row[0]
            for row in self.conn.execute(
                "select relname from pg_class where relnamespace = current_schema()::regnamespace"
                " and relkind in ('r', 'p', 'v', 'f')"
            )
        }

    def _stored_version(self, tables: set[str]) -> int:
        if VERSION_TABLE not in tables:
            return 0
        row = self.conn.execute(f"select version from {VERSION_TABLE}").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Create or upgrade the schema, in one transaction (a second migrating worker waits for the
        first's lock, then finds nothing to do); the version it was at."""
        with self.conn.transaction():
            self.conn.execute("select pg_advisory_xact_lock(hashtext('ordermon schema'))")
            tables = self._tables()
            found = self._stored_version(tables)
            if found == 0:
                self.conn.execute(f"create table {VERSION_TABLE} (version integer not null)")
                self.conn.execute(f"insert into {VERSION_TABLE} values (0)")
            if "procrastinate_jobs" not in tables:  # the fleet's queue, in the same transaction and lock
                from procrastinate.schema import SchemaManager

                self.conn.execute(SchemaManager.get_schema())
            for version in range(max(found + 1, FIRST), SCHEMA_VERSION + 1):
                MIGRATIONS[version](self.conn)
                self.conn.execute(f"update {VERSION_TABLE} set version = %s", [version])
        return found

    def _refuse(self, why: str):
        self.close()
        raise StoreError(f"{self.name} {why}")

    @classmethod
    def existing(cls, url: str) -> PostgresStore:
        """The database of the read-only commands: it must have the current schema."""
        return cls(url, read_only=True)

    @property
    def version(self) -> int:
        row = self.conn.execute(f"select version from {VERSION_TABLE}").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.putconn(self.conn)  # back to the worker's pool (one mid-transaction is rolled back)
        else:
            self.conn.close()

    # ---------------------------------------------------------------- transactions and statements
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield
            return
        with self.conn.transaction():
            self.check_job(lock=True)
            yield

    def check_job(self, *, lock: bool = False) -> None:
        """Raise LeaseLost if the store's job is no longer under way (``lock``: and hold its row
        until the transaction under way ends)."""
        if self.job is None:
            return
        held = self.conn.execute(
            "select 1 from procrastinate_jobs where id = %s and status = 'doing'" + (" for update" if lock else ""),
            [self.job],
        ).fetchone()
        if held is None:
            raise LeaseLost(f"job {self.job} is no longer this worker's: it ran elsewhere meanwhile")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield
            return
        with self.conn.transaction():
            self.conn.execute("set transaction isolation level repeatable read, read only")
            yield

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self.conn.execute(_pg(sql), list(args)).rowcount

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_pg(sql), [list(row) for row in rows])

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(_pg(sql), list(args)).fetchall()

    def _tuples(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(_pg(sql), list(args)).fetchall()

    def checkpoint(self) -> None:
        """Nothing to move: PostgreSQL's own checkpoints."""

    # ---------------------------------------------------------------- a fleet's jobs
    def _deliveries_added(self, deliveries: list[tuple[int, str]]) -> None:
        if self.deliver_jobs and deliveries:
            for alert_id, target in deliveries:
                self.defer_job("deliver", "deliver", {"alert_id": alert_id, "target": target},
                               queueing_lock=f"deliver:{alert_id}:{target}")  # fmt: skip

    def dispatch(self, now: dt.datetime, *, interval: float, jitter: Callable[[], float]) -> list[str]:
        """Every account due at ``now`` gets a ``poll_account`` job ``jitter()`` seconds on (none if
        one waits already) and its next poll an interval on, in one transaction: thousands due at
        once cost one commit, and a dispatcher running beside another skips what it holds."""
        with self._writing():
            due = [name for (name,) in self._tuples(
                "select name from accounts where next_poll is null or next_poll <= ? order by name "
                "for update skip locked", [iso(now)],
            )]  # fmt: skip
            for name in due:
                at = now + dt.timedelta(seconds=jitter())
                self.defer_job("poll_account", "poll", {"account": name}, lock=account_lock(name),
                               queueing_lock=poll_lock(name), at=at)  # fmt: skip
            self._execute(
                "update accounts set next_poll = ? where name = any(?)",
                [iso(now + dt.timedelta(seconds=interval)), due],
            )
        return due

    def _cancel_requested(self, request: int, account: str) -> None:
        self.defer_job("cancel_order", "browser", {"request": request}, lock=account_lock(account))

    def defer_job(
        self,
        task: str,
        queue: str,
        args: dict[str, Any],
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        at: dt.datetime | None = None,
    ) -> int | None:
        """A Procrastinate job, in the store's transaction under way (it exists once that commits);
        None when one with the same queueing lock is already waiting."""
        with self._writing():
            try:
                with self.conn.transaction():  # a savepoint: a taken queueing lock leaves the rest as it was
                    row = self.conn.execute(
                        "select unnest(procrastinate_defer_jobs_v1(array[row(%s, %s, 0, %s, %s, %s, %s)"
                        "::procrastinate_job_to_defer_v1]))",
                        [queue, task, lock, queueing_lock, Jsonb(args), at],
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                return None
        return int(row[0]) if row else None

    def workers(self) -> list[dict[str, Any]]:
        """The fleet's live workers (Procrastinate's heartbeats) with the jobs each is doing."""
        return self._rows(
            "select w.id as worker, w.last_heartbeat, extract(epoch from now() - w.last_heartbeat) as heartbeat_age, "
            "j.id as job, j.task_name as task, j.queue_name as queue, j.args, j.attempts "
            "from procrastinate_workers w left join procrastinate_jobs j on j.worker_id = w.id and j.status = 'doing' "
            "order by w.id, j.id"
        )


class PostgresLock:
    """A session advisory lock on the PostgreSQL database, held by a connection of its own: the server
    releases it when the connection ends, even by kill -9. (Workers of a fleet lock per account.)"""

    def __init__(self, url: str):
        self.url = url
        self._conn: psycopg.Connection | None = None

    def acquire(self) -> None:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        (held,) = conn.execute("select pg_try_advisory_lock(hashtext('ordermon monitor'))").fetchone() or (False,)
        if not held:
            conn.close()
            raise DatabaseBusy(f"another ordermon monitor is using {redacted(self.url)}")
        self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _pg(sql: str) -> str:
    """The statement with psycopg's placeholders (the store's SQL has no ``%`` of its own)."""
    return sql.replace("?", "%s")
