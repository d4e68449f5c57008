"""`python -m bench.faults --fleet`: the fault campaign against a fleet of workers on PostgreSQL.

Three workers (`ordermon worker`, every queue, two jobs each) watch a few buyers of one
storefront, on a PostgreSQL cluster of the campaign's own. The campaign goes in rounds: it
makes every account due, waits until each has been polled (the workers' dispatcher sends the
polls), lets the polls and sign-ins end, then moves the site's clock on and changes orders. A
round carries one injection:

- the site's and the receiver's faults of the single monitor's campaign (bench/faults.py);
- ``polling``, ``signing_in``, ``delivering``: a worker killed (-9, its whole process group)
  while the evidence shows it in that phase: one of its requests held by the storefront (its
  User-Agent names its process), its Chromium waiting on a held sign-in, its connection to the
  receiver while the receiver holds an alert; a new worker takes its place;
- ``stopped``: a worker stopped (SIGSTOP) while it polls, past the heartbeat limit, until another
  worker has polled that account; then resumed (what it read meanwhile must not be recorded);
- ``pg_restart``: PostgreSQL restarted while polls are under way.

Judged by the same oracle (bench/oracle.py) per account: 0 missed, 0 false, 0 duplicate
deliveries, 0 unexplained uncertain ones, 0 lost states; and from the storefront's access log,
0 moments when two workers' requests for one buyer were in flight at once; 0 accounts not polled
again within the round's limit (two intervals of the dispatcher's, and a stalled job's retry).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from fixtures.postgres import LocalPostgres
from fixtures.receiver import AlertReceiver

from . import oracle
from .env import Storefront, workdir
from .faults import FLEET_WEIGHTS, RECEIVER_FAULTS, TIMEOUT, _env, receiver_trouble

KILLS = ("polling", "signing_in", "delivering", "cancelling", "stopped", "pg_restart")
KILL_SHARE = 0.14
ACCOUNTS = 4
WORKERS = 3
STALLED = 4  # seconds without a heartbeat before a worker's jobs run elsewhere
HELD = 3_000  # ms a request is held for a kill: longer than the stop and the evidence take
# A frozen worker cannot hang up: its request lasts as long as the site takes to answer it. A job
# runs elsewhere no sooner than the heartbeat limit after its worker's last heartbeat, which came at
# most a heartbeat interval (STALLED / 3) before the freeze; a site that answers within that keeps
# the two runs apart, one slower could not be kept apart by any client.
HELD_FROZEN = 2_000
ROUND = 30.0  # seconds a round may take: the dispatcher's second, a stalled job's retry, sign-ins
FAILS = (
    "missed_alerts",
    "false_alerts",
    "duplicate_deliveries",
    "uncertain_unexplained",
    "lost_states",
    "overlapping_polls",
    "late_accounts",
    "double_submits",
    "unfinished_cancels",
)
PID = re.compile(r"^ordermon/\S+ \(pid (\d+)\)$")


def _group(pid: int) -> list[psutil.Process]:
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _talks_to(pid: int, port: int) -> bool:
    """Whether the process (or one of its children) has a TCP connection to ``port`` on loopback."""
    for proc in _group(pid):
        try:
            if any(c.raddr and c.raddr.port == port for c in proc.net_connections(kind="tcp")):
                return True
        except psutil.Error:
            continue
    return False


def _runs_chromium(pid: int) -> bool:
    return any("chrom" in p.name().lower() for p in _group(pid) if p.is_running())


def overlapping(visits: list[dict]) -> list[tuple[str, str, str]]:
    """(buyer, agent, agent): two ordermon processes' requests for one buyer in flight at once, each
    while its client waited for it (a request held past its client's timeout, or its death, goes
    on at the site but is no longer anyone's poll)."""
    found = []
    by_buyer: dict[str, list[dict]] = {}
    for v in visits:
        if v["buyer"] and PID.match(v["agent"] or ""):
            by_buyer.setdefault(v["buyer"], []).append(v)
    for buyer, seen in by_buyer.items():
        seen.sort(key=lambda v: v["started"])
        latest: dict[str, float] = {}  # agent -> the end of its latest request so far
        for v in seen:
            others = [a for a, end in latest.items() if a != v["agent"] and end > v["started"]]
            found += [(buyer, a, v["agent"]) for a in others]
            latest[v["agent"]] = max(latest.get(v["agent"], 0), v["client_until"])
    return found


class FleetCampaign:
    def __init__(self, target: int, seed: int = 1, echo=lambda line: None, plan: list[str] | None = None):
        self.target, self.echo, self.plan = target, echo, plan
        self.rng = random.Random(seed)
        self.injections: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()
        self.sending_at_kills: set[tuple[int, str]] = set()
        self.kills_while_sending = 0
        self.late: Counter[str] = Counter()  # accounts not polled within a round, by the round's injection
        self.kind = "start"
        self.procs: list[subprocess.Popen] = []
        self.cancels: list[str] = []  # the orders whose cancel was asked of the fleet, once each
        self.rounds: list[tuple[float, str]] = []  # when each injection's round began (wall clock), its kind

    # ---------------------------------------------------------------- the fleet
    def _start_worker(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "worker", "--concurrency", "2"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def _kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        self.procs.remove(proc)
        self._start_worker()  # the fleet keeps its size

    def _stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # ---------------------------------------------------------------- the database
    def _jobs_under_way(self) -> int:
        (n,) = oracle.rows(
            self.db,
            "select count(*) from procrastinate_jobs where task_name in ('poll_account', 'sign_in') "
            "and status in ('todo', 'doing')",
        )[0]
        return int(n)

    def _polled_since(self, moment: dt.datetime) -> set[str]:
        """The accounts with a poll recorded (failed ones too) that started after ``moment``."""
        found = oracle.rows(self.db, "select distinct account from polls where started > ?", moment.isoformat())
        return {a for (a,) in found}

    def _sql(self, statement: str, *params) -> None:
        """A change to the fleet's database, as an operator would make it."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute(statement, params)

    def _schedule(self, at: dt.datetime) -> None:
        """Every account's next poll at ``at`` (as `ordermon` keeps it: ISO text)."""
        self._sql("update accounts set next_poll = %s", at.isoformat())

    def _round(self, during: Callable[[], None] = lambda: None) -> None:
        """Every account due now, ``during()`` while the polls run, every account polled (or counted
        late), then nothing under way: the clock may move."""
        moment = self.round_began = dt.datetime.now(dt.UTC)
        self._schedule(moment - dt.timedelta(seconds=1))
        during()
        deadline = time.monotonic() + ROUND
        while (missing := set(self.names) - self._polled_since(moment)) and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers are other processes: watched through the database
        self.late[self.kind] += len(missing)
        self._schedule(moment + dt.timedelta(days=365))
        while self._jobs_under_way() and time.monotonic() < deadline + ROUND:
            time.sleep(0.05)

    # ---------------------------------------------------------------- faults
    def _inject(self, kind: str) -> None:
        self.injections[kind] += 1
        self.kind = kind
        self.rounds.append((time.time(), kind))
        admin, receiver = self.admin, self.receiver
        if kind == "http_500":
            admin.faults(error_rate=self.rng.choice([0.2, 0.5, 1.0]))
            self._round()
        elif kind == "latency":
            admin.faults(
                latency_ms=int((TIMEOUT + 0.5) * 1000),
                target=self.rng.choice(["GET /p/order/list.json", "GET /p/order/detail"]),
            )
            self._round()
        elif kind == "session_expiry":
            admin.faults(expire_sessions=True)
            self._round()
        elif kind in RECEIVER_FAULTS:
            receiver_trouble(kind, receiver, self.rng, self._round)
        elif kind in KILLS:
            getattr(self, f"_{kind}")()
        admin.faults(clear=True)
        receiver.fail_next(0)
        receiver.accept()
        receiver.release()
        self._round()  # the accounts read again, the alerts due go out

    def _worker_where(self, holds: Callable[[int], bool], limit: float = 15) -> subprocess.Popen | None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for proc in list(self.procs):
                if proc.poll() is None and holds(proc.pid):
                    return proc
            time.sleep(0.01)  # watching other processes
        return None

    def _in_flight_from(self, prefix: str) -> set[int]:
        """The processes (by their User-Agent) with a site request starting with ``prefix`` in flight."""
        agents = self.admin.requests()["in_flight_agents"]
        return {int(m.group(1)) for a in agents if a["request"].startswith(prefix) and (m := PID.match(a["agent"]))}

    def _kill_in(self, phase: str, holds: Callable[[int], bool]) -> None:
        """Stop the first worker that ``holds``, read the evidence again while it cannot move, kill it."""
        proc = self._worker_where(holds)
        if proc is None:
            self.kills["unproven"] += 1
            return
        os.killpg(proc.pid, signal.SIGSTOP)
        proven = holds(proc.pid)
        self._note_sending()
        self._kill(proc)
        self.kills[phase if proven else "unproven"] += 1
        self.echo(f"killed {proc.pid} {phase} proven={proven}")

    def _polling(self) -> None:
        self.admin.faults(latency_ms=HELD, target="GET /p/order/")
        self._round(lambda: self._kill_in("polling", lambda pid: pid in self._in_flight_from("GET /p/order/")))

    def _signing_in(self) -> None:
        # One account's kept session gone (as for an account just added): its poll hands it to a sign-in.
        self._sql("delete from sessions where account = %s", self.rng.choice(self.names))
        self.admin.faults(latency_ms=HELD, target="POST /login")
        held = lambda pid: _runs_chromium(pid) and bool(self.admin.requests()["in_flight"].get("POST /login"))  # noqa: E731
        self._round(lambda: self._kill_in("signing_in", held))

    def _delivering(self) -> None:
        # A refund long overdue: an alert on the account's next poll, whatever the weekday.
        started = (self.admin.now() - dt.timedelta(days=60)).isoformat()
        buyer = self.rng.choice(self.emails)
        self.admin.create_order(status="closed", refund_started_at=started, refund_business_days=None, buyer=buyer)
        self.receiver.hold()
        port = urlsplit(self.receiver.url).port or 0
        sending = lambda pid: self.receiver.in_flight > 0 and _talks_to(pid, port)  # noqa: E731
        self._round(lambda: self._kill_in("delivering", sending))

    def _cancelling(self) -> None:
        """A cancel asked of the fleet; its worker killed while the site holds its Submit. The job
        runs again elsewhere and must not submit again."""
        from monitor.store.postgres import PostgresStore

        buyer = self.rng.choice(self.emails)
        order = self.admin.create_order(status="awaiting_shipment", seller="silent", buyer=buyer)
        self.admin.faults(latency_ms=HELD, target="POST /p/order/cancel")
        store = PostgresStore(self.db)
        try:
            store.request_cancel(self.owner[buyer], order["id"], "wrong", dry_run=False)
        finally:
            store.close()
        self.cancels.append(order["id"])
        held = lambda pid: _runs_chromium(pid) and bool(self.admin.requests()["in_flight"].get("POST /p/order/cancel"))  # noqa: E731
        self._round(lambda: self._kill_in("cancelling", held))

    def _stopped(self) -> None:
        """A worker frozen mid-poll past the heartbeat limit: its poll runs elsewhere; then it wakes."""
        self.admin.faults(latency_ms=HELD_FROZEN, target="GET /p/order/")

        def freeze() -> None:
            proc = self._worker_where(lambda pid: pid in self._in_flight_from("GET /p/order/"))
            if proc is None:
                self.kills["unproven"] += 1
                return
            os.killpg(proc.pid, signal.SIGSTOP)
            self.echo(f"froze {proc.pid}")
            self.admin.faults(clear=True)
            deadline = time.monotonic() + ROUND
            # Every account of the round polled by the others: the frozen one's too, once its job is
            # retried (it cannot record its own while frozen).
            while (missing := set(self.names) - self._polled_since(self.round_began)) and time.monotonic() < deadline:
                time.sleep(0.05)
            # Polled only once it wakes is late: its jobs were never handed on.
            self.late[self.kind] += len(missing)
            self.kills["stopped"] += 1
            os.killpg(proc.pid, signal.SIGCONT)

        self._round(freeze)

    def _pg_restart(self) -> None:
        def restart() -> None:
            self._worker_where(lambda pid: bool(self._in_flight_from("GET /p/order/")), limit=5)
            self.pg.restart()
            self.kills["pg_restart"] += 1

        self.admin.faults(latency_ms=500, target="GET /p/order/")  # polls under way when the server goes
        self._round(restart)

    def _note_sending(self) -> None:
        sending = {(a, t) for a, t, _, _ in oracle.deliveries_in(self.db, "sending")}
        self.kills_while_sending += bool(sending)
        self.sending_at_kills |= sending

    # ---------------------------------------------------------------- the world moving on
    def _move_on(self) -> None:
        self.admin.clock(advance=self.rng.randint(2, 30) * 3600)
        if self.rng.random() < 0.5:
            self.admin.clock(advance=1)
            for _ in range(self.rng.randint(1, 3)):
                self.admin.create_order(
                    status=self.rng.choice(
                        ["awaiting_shipment", "awaiting_shipment", "awaiting_payment", "awaiting_delivery"]
                    ),
                    seller=self.rng.choice(["prompt", "refuses", "silent", "late_shipper"]),
                    refund_business_days=self.rng.choice([None, 3, 10]),
                    buyer=self.rng.choice(self.emails),
                )

    def _schedule_plan(self) -> list[str]:
        kills = max(len(KILLS), round(self.target * KILL_SHARE))
        kinds = list(FLEET_WEIGHTS)
        plan = self.rng.choices(kinds, [FLEET_WEIGHTS[k] for k in kinds], k=self.target - kills)
        for n in range(kills):
            plan.insert(round((n + 0.5) * self.target / kills), KILLS[n % len(KILLS)])
        return plan[: self.target]

    # ---------------------------------------------------------------- the run
    def run(self) -> dict:
        from monitor.fleet_demo import fill_accounts
        from monitor.store.postgres import PostgresStore
        from monitor.vault import Vault, new_key

        started = time.perf_counter()
        with workdir() as tmp, AlertReceiver() as receiver, LocalPostgres() as pg:
            shop = Storefront(orders=0, seed=5).wait()
            try:
                self.pg, self.receiver, self.admin = pg, receiver, shop.admin
                self.admin.clock(freeze=True)
                self.admin.clock(set=oracle.first_night(self.admin.now()))
                buyers = self.admin.add_buyers(ACCOUNTS, orders=6, signed_in=True)
                self.db = pg.create_database("fleet")
                key = new_key()
                store = PostgresStore(self.db)
                self.names = fill_accounts(store, Vault(key), shop.url, buyers, sign_ins=0)
                store.close()
                self.emails = [b["email"] for b in buyers]
                self.owner = dict(zip(self.emails, self.names, strict=True))
                self.env = _env(shop, tmp, receiver, "http") | {
                    "ORDERMON_DB": self.db, "ORDERMON_SECRET_KEY": key, "ORDERMON_DISPATCH_SECONDS": "1",
                    "ORDERMON_POLL_INTERVAL": "3600", "ORDERMON_STALLED_SECONDS": str(STALLED),
                }  # fmt: skip
                self.log = (tmp / "workers.log").open("a")
                for _ in range(WORKERS):
                    self._start_worker()
                self._round()
                plan = list(self.plan) if self.plan else self._schedule_plan()
                while plan:
                    kind = plan.pop(0)
                    proven = self.kills[kind]
                    self._inject(kind)
                    if kind in KILLS and self.kills[kind] == proven and self.kills["unproven"] <= 4 * len(KILLS):
                        plan.insert(self.rng.randrange(len(plan) + 1), kind)
                    self._move_on()
                    self.echo(f"{sum(self.injections.values())} injections ({kind}); kills {dict(self.kills)}")
                result = self._verify(tmp)
            finally:
                self._stop_all()
                shop.stop()
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result

    def _verify(self, tmp: Path) -> dict:
        self.admin.faults(clear=True)
        if (morning := oracle.quiet_until(self.admin.now())) is not None:
            self.admin.clock(set=morning)  # what the night held goes out at the next polls
        self._round()
        deadline = time.monotonic() + 60
        while (oracle.deliveries_in(self.db, "pending") or oracle.deliveries_in(self.db, "sending")) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)  # the deliver jobs' retries
        state = self.admin.state()
        orders = [o for o in state["orders"] if o["account"] in self.owner]
        owner = lambda order: self.owner[order["account"]]  # noqa: E731
        judged = oracle.judge(orders, self.db, self.receiver.taken(), owner)
        moments = judged.pop("moments")
        unexplained = {(a, t) for a, t, _, _ in oracle.deliveries_in(self.db, "uncertain")} - self.sending_at_kills
        why: dict[str, dict] = {}
        lost = oracle.lost_states(orders, self.db, moments, owner, why)
        visits = self.admin.visits()
        overlaps = overlapping(visits)
        overlaps_by_kind: Counter[str] = Counter()
        for (begun, kind), (ended, _) in zip(self.rounds, [*self.rounds[1:], (math.inf, "")], strict=True):
            overlaps_by_kind[kind] += len(overlapping([v for v in visits if begun <= v["started"] < ended]))
        # A Submit beyond the one cancel asked of each order (the site counts every one that reached it).
        double = [o["id"] for o in orders if o["id"] in self.cancels and o["cancel_submits"] > 1]
        unfinished = oracle.rows(self.db, "select order_id from cancels where finished is null")
        cancels = oracle.rows(self.db, "select code, count(*) from cancels group by code")
        if os.environ.get("ORDERMON_BENCH_KEEP"):
            import shutil

            shutil.copy(tmp / "workers.log", os.environ["ORDERMON_BENCH_KEEP"])
        polls = oracle.rows(self.db, "select count(*), count(error) from polls")[0]
        judged["examples"] |= {"lost_states": lost[:5], "overlapping_polls": overlaps[:5], "double_submits": double[:5]}
        judged["examples"]["lost_states_why"] = {order: why[order] for order in lost[:3]}
        return {
            "fleet": {"workers": WORKERS, "accounts": ACCOUNTS, "stalled_seconds": STALLED},
            "injections": sum(self.injections.values()),
            "by_kind": dict(sorted(self.injections.items())),
            "requests_affected": sum(state["fault_counts"].values())
            + sum(self.receiver.troubles.values())
            - self.receiver.troubles["refused"],
            "kills": {p: self.kills[p] for p in (*KILLS, "unproven")},
            "kills_while_sending": self.kills_while_sending,
            **judged,
            "uncertain_unexplained": len(unexplained),
            "lost_states": len(lost),
            "overlapping_polls": len(overlaps),
            "overlaps_by_kind": {kind: n for kind, n in overlaps_by_kind.items() if n},
            "late_accounts": sum(self.late.values()),
            "late_by_kind": dict(self.late),
            "double_submits": len(double),
            "unfinished_cancels": len(unfinished),
            "cancels_by_exit": {str(code): n for code, n in cancels},
            "polls": polls[0],
            "polls_failed": polls[1],
            "orders": len(orders),
        }


def ok(result: dict) -> bool:
    return all(result[name] == 0 for name in FAILS)
