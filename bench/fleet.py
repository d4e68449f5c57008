"""`python -m bench.fleet [--quick] [--json]`: the fleet's figures on this machine, each with its target.

On a PostgreSQL cluster of its own and one storefront process (its buyers made by its admin API,
each with a session, so that no figure counts sign-ins):

- ``fleet_scaling_2_workers``: accounts polled per second by two workers over one, the same accounts
  and storefront in one run, rounds alternating (median [min–max]); target >= 1.6. The detail gives
  the rates of 1, 2 and 4 workers.
- ``fleet_cpu_per_poll_1000`` / ``_10000``: the workers' CPU per account poll while every account is
  polled once per interval (two workers), measured over a whole interval after the first;
  ``fleet_cpu_growth``: the second over the first, target <= 1.2 (a poll costs the same in a big fleet).
- ``fleet_worker_rss``: the largest worker's peak RSS at 10,000 accounts, target <= 150 MB.
- ``fleet_pg_bytes_per_account``: the database's size over its accounts (context).
- ``fleet_late_accounts``: accounts not polled again within two intervals, target 0.

The workers are other processes: watched through the database and /proc, as an operator would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fixtures.postgres import LocalPostgres
from monitor.fleet_demo import fill_accounts
from monitor.store.postgres import PostgresStore
from monitor.vault import Vault, new_key

from .env import Result, Storefront, cores, workdir

TICKS = os.sysconf("SC_CLK_TCK")
ORDERS = 5  # per account


def cpu_seconds(pid: int) -> float:
    """User and system CPU of one process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent so far, every process (user, nice, system)."""
    import psutil

    spent = psutil.cpu_times()
    return spent.user + spent.nice + spent.system


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Bench:
    """The cluster, the storefront, the accounts, and workers started and stopped on demand."""

    def __init__(self, pg: LocalPostgres, shop: Storefront, folder: Path):
        self.db = pg.create_database("fleet")
        self.shop, self.folder = shop, folder
        self.key = new_key()
        self.store = PostgresStore(self.db)
        self.names: list[str] = []

    def grow(self, count: int) -> None:
        """``count`` more accounts, each with its session (as after a sign-in)."""
        admin = self.shop.admin
        while count > 0:
            batch = min(count, 5000)
            buyers = admin.add_buyers(batch, orders=ORDERS, signed_in=True)
            self.names += fill_accounts(self.store, Vault(self.key), self.shop.url, buyers, sign_ins=0)
            count -= batch
        admin.close()

    def workers(self, count: int, *, interval: float, jitter: float) -> list[subprocess.Popen]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
            "ORDERMON_DB": self.db, "ORDERMON_SECRET_KEY": self.key, "ORDERMON_DISPATCH_SECONDS": "1",
            "ORDERMON_POLL_INTERVAL": str(interval), "ORDERMON_POLL_JITTER": str(jitter),
            "ORDERMON_STALLED_SECONDS": "30", "ORDERMON_TIMEOUT": "60", "ORDERMON_DATA_DIR": str(self.folder / "data"),
        }  # fmt: skip
        log = (self.folder / "workers.log").open("a")
        return [
            subprocess.Popen([sys.executable, "-m", "monitor.cli", "worker", "--queues", "poll", "--concurrency", "4"],
                             env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for _ in range(count)
        ]  # fmt: skip

    @staticmethod
    def stop(procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=120)

    def polls_since(self, moment: str) -> list[dict]:
        """The successful polls that started at ``moment`` or later (only those: the table grows with
        every round, and reading all of it twice a second took a core's share from the workers)."""
        from psycopg.rows import dict_row

        with self.store.conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(
                "select account, started, finished from polls where started >= %s and error is null", [moment]
            ).fetchall()

    def wait_polled(self, names: set[str], moment: str, timeout: float, every: float = 0.5) -> list[dict]:
        """Until every one of ``names`` has a poll that started after ``moment``; those polls."""
        deadline = time.monotonic() + timeout
        while True:
            polls = [p for p in self.polls_since(moment) if p["account"] in names]
            if {p["account"] for p in polls} >= names or time.monotonic() > deadline:
                return polls
            time.sleep(every)  # other processes: watched through the database

    def wait_running(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` workers have registered with Procrastinate (the ones stopped before
        unregistered: a worker stopped with SIGTERM takes its row with it)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.store.conn.cursor() as cursor:
                row = cursor.execute("select count(*) from procrastinate_workers").fetchone()
            if row and row[0] >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} workers did not start within {timeout:g} s")
            time.sleep(0.1)  # other processes: watched through the database

    def due_now(self, names: list[str]) -> str:
        """Make ``names`` due at once; the moment from which their next polls count."""
        now = dt.datetime.now(dt.UTC)
        for name in names:
            self.store.schedule_poll(name, now - dt.timedelta(seconds=1))
        return now.isoformat()

    def size(self) -> int:
        import psycopg

        with psycopg.connect(self.db) as conn:
            row = conn.execute("select pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


def scaling(bench: Bench, accounts: int, rounds: int) -> Result:
    """Accounts polled per second by 1, 2 and 4 workers: every account due at once, first poll's
    start to last poll's end."""
    names = bench.names[:accounts]
    rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
    busy: dict[int, list[float]] = {1: [], 2: [], 4: []}  # the machine's cores in use, every process
    # A round first, not counted: a buyer's first visit costs the storefront more than the next
    # (each run's first round paid it: its rate was about half the next ones').
    plan = [(2, False)] + [(count, True) for _ in range(rounds) for count in rates]
    for count, counted in plan:
        # The workers first, every one of them running, then the accounts due: a round of a second
        # or two would otherwise count one worker's start-up as the fleet's rate.
        procs = bench.workers(count, interval=3600, jitter=0)
        bench.wait_running(count)
        moment = bench.due_now(names)
        cpu, began = machine_cpu(), time.monotonic()
        try:
            # Looked at every 0.1 s: the cores busy are the machine's CPU over the round's time, and a
            # round of 300 accounts lasts a second or two (a 0.5 s look counted up to a third idle).
            polls = bench.wait_polled(set(names), moment, timeout=600, every=0.1)
            cpu, took = machine_cpu() - cpu, time.monotonic() - began
        finally:
            bench.stop(procs)
        if {p["account"] for p in polls} != set(names):  # a round is every account, else no rate
            raise RuntimeError(f"{count} worker(s) polled {len(polls)} of {len(names)} accounts within 600 s")
        if counted:
            busy[count].append(cpu / took)
            first = min(dt.datetime.fromisoformat(p["started"]) for p in polls)
            last = max(dt.datetime.fromisoformat(p["finished"]) for p in polls)
            rates[count].append(len({p["account"] for p in polls}) / (last - first).total_seconds())
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    shown = ", ".join(
        f"{n} worker(s) {statistics.median(r):.0f}/s ({statistics.median(busy[n]):.2f} cores busy)"
        for n, r in rates.items()
    )
    value = statistics.median(ratios)
    return Result("fleet_scaling_2_workers", value, "x", ">= 1.6", value >= 1.6,
                  f"{accounts} accounts, {ORDERS} orders each, {rounds} rounds: {shown}; {cores()} cores",
                  min(ratios), max(ratios), len(ratios))  # fmt: skip


def steady(bench: Bench, interval: float) -> dict:
    """Two workers polling every account once per ``interval``: after the first round, one more
    round measured (the workers' CPU per poll, late accounts, peak RSS)."""
    names = set(bench.names)
    start = bench.due_now(bench.names)
    procs = bench.workers(2, interval=interval, jitter=interval * 0.8)
    try:
        bench.wait_polled(names, start, timeout=interval * 3, every=2)  # the first round (new orders, or the scaling's)
        moment = dt.datetime.now(dt.UTC).isoformat()
        cpu = sum(cpu_seconds(p.pid) for p in procs)
        began = time.monotonic()
        polls = bench.wait_polled(names, moment, timeout=interval * 2, every=2)
        took = time.monotonic() - began
        spent = sum(cpu_seconds(p.pid) for p in procs) - cpu
        done = len(bench.polls_since(moment))
        rss = max(peak_rss(p.pid) for p in procs)
    finally:
        bench.stop(procs)
    return {
        "cpu_ms": spent / max(done, 1) * 1000,
        "late": len(names - {p["account"] for p in polls}),
        "rss": rss,
        "seconds": took,
        "polls": done,
    }


def measure(quick: bool) -> list[Result]:
    small, big = (200, 1000) if quick else (1000, 10_000)
    results = []
    with workdir() as folder, LocalPostgres() as pg:
        shop = Storefront(orders=0).wait()
        try:
            bench = Bench(pg, shop, folder)
            bench.grow(small)
            results.append(scaling(bench, accounts=min(small, 300), rounds=2 if quick else 3))
            # An interval the two workers keep up with (about 60 polls/s here), jitter spreading the polls.
            first = steady(bench, max(20.0, small / 40))
            bench.grow(big - small)
            second = steady(bench, max(20.0, big / 40))
            per_account = bench.size() / big
            bench.store.close()
        finally:
            shop.stop()
    growth = second["cpu_ms"] / first["cpu_ms"]
    results += [
        Result(f"fleet_cpu_per_poll_{small}", first["cpu_ms"], "ms", "context", True,
               f"{first['polls']} polls in {first['seconds']:.0f} s, two workers"),
        Result(f"fleet_cpu_per_poll_{big}", second["cpu_ms"], "ms", "context", True,
               f"{second['polls']} polls in {second['seconds']:.0f} s, two workers"),
        Result("fleet_cpu_growth", growth, "x", "<= 1.2", growth <= 1.2, f"CPU per poll, {big} over {small} accounts"),
        Result("fleet_worker_rss", second["rss"] / 2**20, "MB", "<= 150", second["rss"] <= 150 * 2**20,
               f"the largest worker's peak at {big} accounts"),
        Result("fleet_pg_bytes_per_account", per_account / 1024, "KB", "context", True,
               f"the database at {big} accounts ({ORDERS} orders, their history and polls)"),
        Result("fleet_late_accounts", first["late"] + second["late"], "accounts", "= 0",
               first["late"] + second["late"] == 0, "not polled again within two intervals"),
    ]  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 accounts instead of 1,000 and 10,000")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = measure(args.quick)
    if args.json:
        print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "cores": cores(),
                          "results": [r.to_dict() for r in results]}, indent=1))  # fmt: skip
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            met = "context" if r.target == "context" else ("yes" if r.met else "NO")
            print(f"{r.name:{width}}  {r.shown:28}  {r.target:8}  {met:7}  {r.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
