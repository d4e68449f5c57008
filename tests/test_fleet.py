"""A fleet on PostgreSQL: accounts kept in the database with their secrets sealed, and workers
(Procrastinate) that poll every account, sign in once for all, deliver once, and take over the
jobs of a worker killed with -9."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from click.testing import CliRunner
from conftest import clean_env

from monitor.cli import cli
from monitor.store import open_store
from monitor.vault import new_key

BUYERS = {f"buyer{n}@example.com": f"pass-{n}-{'x' * 8}" for n in range(2)}


@pytest.fixture
def fleet_env(postgres_url, tmp_path) -> dict[str, str]:
    return clean_env() | {
        "ORDERMON_DB": postgres_url,
        "ORDERMON_SECRET_KEY": new_key(),
        "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_MAX_CLOCK_SKEW": "inf",  # the storefront travels in time
    }


def invoke(env: dict, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def add_account(env: dict, name: str, url: str, email: str, password: str, *more: str):
    return invoke(env, "accounts", "add", name, "--storefront-url", url, "--email", email, *more, input=password + "\n")


def dump(postgres_url: str) -> str:
    """Every row of the database, as pg_dump writes it."""
    from fixtures.postgres import server_bin

    done = subprocess.run([str(server_bin() / "pg_dump"), "--data-only", postgres_url], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout


# ---------------------------------------------------------------- accounts
def test_accounts_are_added_listed_and_removed_without_a_secret_in_clear(fleet_env, postgres_url):
    windows = ["--window", "protection_days=90", "--window", 'refund_business_days={"alipay": 10}']
    added = add_account(fleet_env, "de", "http://shop.example", "a@example.com", "hunter2-very-secret", *windows)
    assert added.exit_code == 0, added.output
    listed = invoke(fleet_env, "accounts", "list", "--json")
    (row,) = __import__("json").loads(listed.output)
    assert (row["name"], row["email"], row["session_kept"]) == ("de", "a@example.com", False)
    assert row["windows"]["protection_days"] == 90 and row["windows"]["refund_business_days"]["alipay"] == 10
    assert "hunter2-very-secret" not in listed.output and "hunter2-very-secret" not in dump(postgres_url)
    again = add_account(fleet_env, "de", "http://shop.example", "b@example.com", "x")
    assert again.exit_code == 2 and "already in" in again.output
    assert invoke(fleet_env, "accounts", "remove", "de").exit_code == 0
    assert invoke(fleet_env, "accounts", "remove", "de").exit_code == 7


@pytest.mark.parametrize(
    "change, code, text",
    [
        ({"ORDERMON_SECRET_KEY": ""}, 2, "missing setting ORDERMON_SECRET_KEY"),
        ({"ORDERMON_SECRET_KEY": "not-a-key"}, 2, "bad setting ORDERMON_SECRET_KEY"),
    ],
)
def test_a_missing_or_bad_key_is_refused(fleet_env, change, code, text):
    result = add_account(fleet_env | change, "de", "http://shop.example", "a@example.com", "pw")
    assert result.exit_code == code and text in result.output


def test_another_key_cannot_open_the_secrets(fleet_env):
    assert add_account(fleet_env, "de", "http://shop.example", "a@example.com", "pw").exit_code == 0
    from monitor import accounts
    from monitor.vault import Vault

    store = open_store(fleet_env["ORDERMON_DB"])
    with pytest.raises(Exception, match="does not open the database's secrets"):
        accounts.account(store, Vault(new_key()), "de")
    store.close()


@pytest.fixture
def fleet_settings(fleet_env, storefront, monkeypatch):
    """The settings a worker has, with the storefront's buyer as the account "main"."""
    from monitor.settings import MonitorSettings

    assert add_account(fleet_env, "main", storefront.url, storefront.email, storefront.password).exit_code == 0
    for name, value in fleet_env.items():
        monkeypatch.setenv(name, value)
    return MonitorSettings(_env_file=None, retry_backoff=0.05)


@pytest.mark.e2e
def test_a_worker_past_its_lease_sends_the_site_nothing(fleet_settings, storefront):
    """A worker that wakes late (stopped, or cut off from the database, past the heartbeat limit)
    may have had its job handed on: its poll sends nothing and records nothing."""
    from monitor.fleet import Fleet, HeartbeatLate, Lease

    lease = Lease(fleet_settings.stalled_seconds)
    lease.renewed(lease.clock() - fleet_settings.stalled_seconds)  # its last heartbeat, a limit ago
    before = len(storefront.admin.visits())
    with pytest.raises(HeartbeatLate, match="lease is too short"):
        Fleet(fleet_settings, lease).poll("main")
    assert storefront.admin.visits()[before:] == []
    assert open_store(fleet_settings.db).polls() == []


@pytest.mark.e2e
def test_a_polls_requests_end_inside_its_workers_lease(fleet_settings, storefront):
    """The site holds the poll longer than the lease: the client hangs up before the lease ends (the
    request's bound is the lease, not the timeout), and the poll stops once no request fits."""
    import time

    from monitor.fleet import Fleet, HeartbeatLate, Lease

    storefront.admin.faults(latency_ms=1500, target="GET /p/order/")
    lease, ends = Lease(1.0), time.time() + 1.0
    lease.renewed(lease.clock())
    before = len(storefront.admin.visits())
    with pytest.raises(HeartbeatLate):
        Fleet(fleet_settings, lease).poll("main")
    visits = wait_until(lambda: storefront.admin.visits()[before:])  # logged once the site has answered
    assert all(v["client_until"] < ends for v in visits), (ends, visits)
    assert open_store(fleet_settings.db).polls() == []


def test_a_lease_counts_from_before_its_heartbeat_was_sent():
    from monitor.fleet import LEASE_MARGIN, HeartbeatLate, Lease

    now = [100.0]
    lease = Lease(10, clock=lambda: now[0])
    with pytest.raises(HeartbeatLate, match="no heartbeat yet"):
        lease.budget()
    lease.renewed(99.0)
    lease.renewed(95.0)  # an older heartbeat answered late never shortens it
    assert lease.left() == 9.0 and lease.budget() == 9.0 - LEASE_MARGIN
    now[0] = 108.6
    with pytest.raises(HeartbeatLate, match=r"9\.6 s since its heartbeat"):
        lease.budget()


def test_bad_account_input_is_a_one_line_usage_error(fleet_env):
    bad_window = add_account(
        fleet_env, "de", "http://shop.example", "a@example.com", "pw", "--window", "protection_days=0"
    )
    assert bad_window.exit_code == 2 and "bad window protection_days" in bad_window.output
    bad_url = add_account(fleet_env, "de", "ftp://shop.example", "a@example.com", "pw")
    assert bad_url.exit_code == 2 and "bad storefront URL" in bad_url.output
    sqlite = invoke(fleet_env | {"ORDERMON_DB": "fleet.db"}, "accounts", "list")
    assert sqlite.exit_code == 2 and "PostgreSQL" in sqlite.output


# ---------------------------------------------------------------- workers
def sent_once(receiver, store) -> bool:
    """Every notification the receiver got carries a different alert, and each delivered alert came."""
    import re

    ids = [int(m) for n in receiver.received for m in re.findall(r"alert #(\d+)", n["message"])]
    delivered = {d["alert_id"] for d in store.deliveries() if d["state"] == "delivered" and d["carried_by"] is None}
    return len(ids) == len(set(ids)) and set(ids) == delivered


def jobs(url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "select id, task_name, status, args, lock, worker_id, attempts from procrastinate_jobs "
            "where task_name not in ('dispatch', 'retry_stalled') order by id desc limit 15"
        ).fetchall()


def start_worker(env: dict, log) -> subprocess.Popen:
    """A worker in a session of its own (killed with its children), its output in ``log`` (read on failure).
    Four at once: while the site holds the three accounts' polls, the dispatcher still has a slot."""
    return subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--concurrency", "4"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def wait_until(condition, timeout: float = 60, every: float = 0.2, url: str | None = None):
    """Until ``condition()`` holds (the fleet is another set of processes: watched through its database);
    on failure, the fleet's jobs as Procrastinate has them."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s; jobs: {jobs(url) if url else '?'}")
        time.sleep(every)  # watching other processes through the database
    return found


@pytest.mark.e2e
@pytest.mark.long
@pytest.mark.storefront(orders=3)
def test_workers_poll_every_account_and_take_over_the_jobs_of_one_killed(
    fleet_env, postgres_url, storefront, alert_receiver, tmp_path
):
    for email, password in BUYERS.items():
        storefront.site.add_buyer(email, password, orders=3)
    accounts = {"main": (storefront.email, storefront.password), **{e.split("@")[0]: (e, p) for e, p in BUYERS.items()}}
    for name, (email, password) in accounts.items():
        assert add_account(fleet_env, name, storefront.url, email, password).exit_code == 0
    admin = storefront.admin
    stuck = admin.create_order(status="closed", refund_started_at=admin.now().isoformat(), refund_business_days=None)
    env = fleet_env | {
        "ORDERMON_DISPATCH_SECONDS": "1", "ORDERMON_POLL_INTERVAL": "3", "ORDERMON_POLL_JITTER": "0",
        "ORDERMON_STALLED_SECONDS": "3", "ORDERMON_ALERT_URLS": alert_receiver.url, "ORDERMON_TIMEOUT": "20",
        "ORDERMON_RETRY_BACKOFF": "0.05",
    }  # fmt: skip
    store = open_store(postgres_url)
    log = (tmp_path / "workers.log").open("w")
    workers = [start_worker(env, log), start_worker(env, log)]
    try:

        def polled() -> Counter:
            return Counter(p["account"] for p in store.polls() if not p["error"])

        wait_until(lambda: set(polled()) == set(accounts))
        check = invoke(env, "status", "--check", "--interval", "60")  # every account of the database
        assert check.exit_code == 0 and check.output.count("ok: ") == len(accounts), check.output
        mine = invoke(env, "status", "--json", "--account", "buyer0")
        assert {row["account"] for row in __import__("json").loads(mine.output)} == {"buyer0"}
        assert all(row["session_kept"] for row in __import__("monitor.accounts").accounts.listed(store))
        assert dump(postgres_url).count(storefront.password) == 0  # sealed, as every session's cookie
        # Weeks pass: alerts come due (a refund stuck among them), each delivered once by one worker.
        admin.clock(advance=40 * 86400)
        wait_until(lambda: any(a["order_id"] == stuck["id"] for a in store.alerts("main")))
        wait_until(lambda: all(a["states"] == "delivered" for a in store.alerts()), timeout=30)
        assert sent_once(alert_receiver, store)

        # A cancel asked of the fleet: a browser worker does it, the asker prints its outcome.
        paid = admin.create_order(status="awaiting_shipment", seller="silent")
        first_ask = invoke(env, "cancel", paid["id"], "--reason", "wrong", "--account", "main", "--json")
        assert first_ask.exit_code == 0, first_ask.output
        assert json.loads(first_ask.stdout)["outcome"] == "requested"
        again = invoke(env, "cancel", paid["id"], "--reason", "wrong", "--account", "main")
        assert again.exit_code == 0 and f"{paid['id']}: already_requested" in again.stdout
        assert admin.order(paid["id"])["cancel_requests"] == 1
        missing = invoke(env, "cancel", "8100000000099999", "--reason", "wrong", "--account", "main", "--json")
        assert missing.exit_code == 4 and json.loads(missing.stdout)["outcome"] == "not_found", missing.output

        # One worker stops (SIGTERM: what it does, it finishes); the other is killed with -9 while the
        # site holds its poll; a new one takes the job over once the dead one's heartbeat stops.
        first, second = workers
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(timeout=60) == 0
        admin.faults(latency_ms=8000, target="GET /p/order/list.json")
        busy = wait_until(lambda: [w for w in store.workers() if w["task"] == "poll_account"], timeout=30)[0]
        account = busy["args"]["account"]
        before = polled()[account]
        # Its next poll is queued meanwhile (the hold is longer than the interval): the job of the dead
        # worker cannot run again as such (one waiting per account); it ends, and the waiting one runs.
        wait_until(lambda: any(j[1:3] == ("poll_account", "todo") and j[3] == {"account": account}
                               for j in jobs(postgres_url)), timeout=30)  # fmt: skip
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        admin.faults(clear=True)
        workers.append(start_worker(env, log))
        wait_until(lambda: polled()[account] > before, timeout=150, url=postgres_url)  # its job ran again
        wait_until(lambda: all(a["states"] in ("delivered", "uncertain") for a in store.alerts()), timeout=30)
        assert sent_once(alert_receiver, store)  # nothing sent twice
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
        store.close()
        log.close()
        print((tmp_path / "workers.log").read_text()[-4000:])  # shown when the test fails
    assert workers[-1].returncode == 0


@pytest.mark.e2e
def test_the_fleet_demo_polls_every_account_signs_in_and_delivers(postgres_url):
    """`make fleet-demo`, short, on the tests' PostgreSQL (the demo's own cluster is the same class as theirs)."""
    from monitor.fleet_demo import run_fleet_demo

    lines: list[str] = []
    summary = run_fleet_demo(seconds=10, buyers=12, workers=2, poll_every=4, sign_ins=1, db=postgres_url,
                             echo=lines.append)  # fmt: skip
    assert summary["accounts_polled"] == summary["accounts"] == 12 and summary["signed_in"] == 1
    assert summary["polls"] >= 12 and summary["failed_polls"] == 0 and summary["workers_exit"] == [0, 0]
    assert summary["alerts"] and 1 <= summary["delivered"] <= sum(summary["alerts"].values())
    assert summary["notifications"] >= 1
    assert any("12/12 accounts polled" in line for line in lines) and "Summary" in lines[-1]
