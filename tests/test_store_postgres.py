"""The PostgreSQL store's own ways: its schema made and upgraded by `ordermon db migrate` (or by the
monitor), databases it refuses untouched, Procrastinate's tables beside its own, one monitor at a
time, and a password that never shows."""

import psycopg
import pytest
from click.testing import CliRunner
from conftest import clean_env

from monitor.cli import cli
from monitor.lock import monitor_lock
from monitor.store import SCHEMA_VERSION, DatabaseBusy, LeaseLost, PostgresStore, StoreError, open_store
from monitor.store.postgres import redacted


@pytest.fixture
def empty_url(postgres_server, request) -> str:
    return postgres_server.create_database(f"empty_{abs(hash(request.node.nodeid)) % 10**12}")


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select table_name from information_schema.tables where table_schema = 'public'")
        return {row[0] for row in rows}


def test_an_empty_database_is_made_by_db_migrate_and_refused_by_the_read_commands_until_then(empty_url):
    with pytest.raises(StoreError, match="run `ordermon db migrate`"):
        open_store(empty_url, read_only=True)
    assert tables(empty_url) == set()
    result = CliRunner().invoke(cli, ["db", "migrate", "--db", empty_url], env=clean_env())
    assert result.exit_code == 0, result.output
    assert f"schema version {SCHEMA_VERSION}" in result.output
    store = open_store(empty_url, read_only=True)
    assert store.version == SCHEMA_VERSION and store.counts()["orders"] == 0
    store.close()
    again = CliRunner().invoke(cli, ["db", "migrate", "--db", empty_url], env=clean_env())
    assert again.exit_code == 0 and "already" in again.output


def test_workers_opening_a_new_database_at_once_make_one_schema(empty_url):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PostgresStore(empty_url), range(4)))
    assert {store.version for store in stores} == {SCHEMA_VERSION}
    for store in stores:
        store.close()
    with psycopg.connect(empty_url) as conn:  # made once: one version row, every table
        assert conn.execute("select count(*) from ordermon_schema").fetchone() == (1,)
    assert {"orders", "history", "polls", "alerts", "deliveries", "outages"} <= tables(empty_url)


def test_a_foreign_database_is_refused_untouched(empty_url):
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute("create table notes (text text)")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="not an ordermon database"):
            open_store(empty_url, read_only=read_only)
    assert tables(empty_url) == {"notes"}


def test_a_newer_database_is_refused_untouched(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("update ordermon_schema set version = 99")
    with pytest.raises(StoreError, match="newer than this ordermon"):
        open_store(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select version from ordermon_schema").fetchone() == (99,)


def test_a_workers_pooled_store_reuses_its_connection_and_refuses_a_newer_schema(postgres_url):
    from psycopg_pool import ConnectionPool

    with ConnectionPool(postgres_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        first = PostgresStore(postgres_url, pool=pool)
        backend = first.conn.info.backend_pid
        first.close()
        second = PostgresStore(postgres_url, pool=pool)
        assert second.conn.info.backend_pid == backend  # lent again, not a new connection per job
        second.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("update ordermon_schema set version = 99")  # a newer ordermon migrated meanwhile
        with pytest.raises(StoreError, match="newer than this ordermon"):
            PostgresStore(postgres_url, pool=pool)
        assert pool.get_stats()["pool_available"] == 1  # the refused store gave its connection back


def test_the_fleets_queue_is_made_beside_ordermons_tables(empty_url):
    open_store(empty_url).close()
    assert {"procrastinate_jobs", "procrastinate_workers", "orders", "ordermon_schema"} <= tables(empty_url)
    open_store(empty_url, read_only=True).close()  # Procrastinate's tables are no other program's


def test_one_monitor_at_a_time_on_a_database(postgres_url):
    first = monitor_lock(postgres_url)
    first.acquire()
    with pytest.raises(DatabaseBusy, match="another ordermon monitor"):
        monitor_lock(postgres_url).acquire()
    first.release()
    again = monitor_lock(postgres_url)
    again.acquire()
    again.release()


def test_a_password_in_the_url_never_shows(postgres_server):
    url = postgres_server.url("nowhere").replace("ordermon@", "ordermon:s3cret-pass@")
    assert redacted(url) == url.replace("s3cret-pass", "***")
    with pytest.raises(StoreError) as refused:
        open_store(url)
    assert "s3cret-pass" not in str(refused.value)


def test_a_fleets_store_defers_one_deliver_job_per_delivery_with_the_poll(postgres_url):
    """In the poll's transaction: the workers' `deliver` jobs exist exactly when the alerts do."""
    from test_outbox import TARGETS, finding, record

    store = PostgresStore(postgres_url, deliver_jobs=True)
    (alert,) = record(store, [finding()], TARGETS)
    store.close()
    with psycopg.connect(postgres_url) as conn:
        jobs = conn.execute(
            "select task_name, queue_name, args, queueing_lock, status from procrastinate_jobs order by id"
        ).fetchall()
    assert jobs == [
        ("deliver", "deliver", {"alert_id": alert.id, "target": key}, f"deliver:{alert.id}:{key}", "todo")
        for key, _ in TARGETS
    ]


def test_a_store_whose_job_was_handed_on_writes_nothing(postgres_url):
    """A worker that wakes after its job ran elsewhere (stopped, or cut off, past the heartbeat limit)
    cannot record what it read before: its store's writes need the job still under way."""
    from test_outbox import TARGETS, finding, record

    queue = PostgresStore(postgres_url)
    job = queue.defer_job("poll_account", "poll", {"account": "a"})
    queue.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("update procrastinate_jobs set status = 'doing' where id = %s", [job])
        store = PostgresStore(postgres_url, job=job)
        assert len(record(store, [finding()], TARGETS)) == 1  # its job, under way: recorded
        conn.execute("update procrastinate_jobs set status = 'failed' where id = %s", [job])  # handed on
        with pytest.raises(LeaseLost, match=f"job {job} is no longer this worker's"):
            record(store, [finding(order_id="8100000000000002")], TARGETS)
        store.close()
        assert conn.execute("select count(*) from polls").fetchone() == (1,)
        assert conn.execute("select count(*) from alerts").fetchone() == (1,)


def test_the_dispatcher_queues_one_poll_per_due_account_in_one_transaction(postgres_url):
    """Due accounts get a poll job each (a little apart) and their next poll an interval on; one
    already waiting is not queued twice; an account not due gets nothing."""
    import datetime as dt

    from monitor.store.postgres import account_lock, poll_lock

    store = PostgresStore(postgres_url)
    for name in ("a", "b", "c"):
        store.add_account(
            name, storefront_url="http://shop.example", email=f"{name}@x", password="sealed", windows="{}"
        )
    now = dt.datetime(2026, 12, 21, 10, tzinfo=dt.UTC)
    store.schedule_poll("c", now + dt.timedelta(minutes=5))
    assert store.dispatch(now, interval=60, jitter=lambda: 2.0) == ["a", "b"]
    assert store.dispatch(now, interval=60, jitter=lambda: 2.0) == []  # their next poll is a minute on
    store.schedule_poll("a", now)  # due again while its poll still waits
    assert store.dispatch(now, interval=60, jitter=lambda: 2.0) == ["a"]
    store.close()
    with psycopg.connect(postgres_url) as conn:
        jobs = conn.execute(
            "select args->>'account', lock, queueing_lock, scheduled_at from procrastinate_jobs order by id"
        ).fetchall()
        nexts = dict(conn.execute("select name, next_poll from accounts").fetchall())
    at = now + dt.timedelta(seconds=2)
    assert jobs == [(n, account_lock(n), poll_lock(n), at) for n in ("a", "b")]
    assert nexts["b"] == (now + dt.timedelta(seconds=60)).isoformat()


def test_a_readers_connection_refuses_writes_itself(empty_url):
    """The read commands and `ordermon serve` open the database read-only at the server, not only
    by writing nothing."""
    open_store(empty_url).close()  # made
    reader = open_store(empty_url, read_only=True)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader._execute("delete from polls")
    finally:
        reader.close()
