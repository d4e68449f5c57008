"""`python -m bench.faults [--faults N] [--poll-via http,browser] [--json] [--self-test]`: ordermon under fire.

Faults come one event at a time (an *injection*): through the storefront's admin API (HTTP
500s, latency beyond the timeouts, session expiry, the captcha page, the layout variant), the
alert receiver (500s, refused connections, answers slower than the sender's timeout) and the
OS (kill -9 of `ordermon monitor` or `ordermon cancel` in a chosen phase, proven from evidence:
bench/kills.py). Meanwhile the storefront's clock moves on, so sellers answer, the platform
cancels, refunds arrive and deadlines pass.

At the end, with every fault cleared, one clean poll and every due alert delivered, it judges
against the storefront's own record (bench/oracle.py, which imports nothing of ordermon's):
alerts owed and missed, alerts sent for nothing, alerts received twice, deliveries left
uncertain, cancellation Submits beyond those asked for, and order states the history lost.
The README's "Reliability" section defines every field.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from fixtures.receiver import AlertReceiver
from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD
from flows.browser import Browser
from flows.cancel import cancel_order
from flows.errors import FlowError
from flows.session import AccountSession
from monitor.service import Monitor
from monitor.settings import MonitorSettings

from . import oracle
from .env import Storefront, workdir
from .kills import PHASES, holds_write_lock, kill_in_phase

SITE_FAULTS = ("http_500", "latency", "session_expiry", "captcha", "layout_variant")
RECEIVER_FAULTS = ("receiver_500", "receiver_refused", "receiver_slow")
WEIGHTS = {
    "http_500": 4,
    "latency": 2,
    "session_expiry": 2,
    "captcha": 1,
    "layout_variant": 2,
    "receiver_500": 2,
    "receiver_refused": 2,
    "receiver_slow": 1,
}
KILL_SHARE = 0.13  # of the injections: kills are slow (a process each)
FLEET_WEIGHTS = {k: v for k, v in WEIGHTS.items() if k not in ("layout_variant", "captcha")}  # a fleet reads HTTP
TIMEOUT = 1.5  # seconds: the monitor's and flows' timeout during the campaign
RECEIVER_TIMEOUT = 1  # seconds Apprise waits for the receiver (its rto)
MONITOR = [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"]
FAILS = (
    "missed_alerts",
    "false_alerts",
    "duplicate_deliveries",
    "uncertain_unexplained",
    "double_submits",
    "lost_states",
)


def receiver_trouble(kind: str, receiver: AlertReceiver, rng: random.Random, look: Callable[[], None]) -> None:
    """One of RECEIVER_FAULTS armed, then ``look()`` (the polls that deliver); a closed port opens again."""
    if kind == "receiver_500":
        receiver.fail_next(rng.randint(1, 4))
        look()
    elif kind == "receiver_refused":
        receiver.refuse()
        look()
        receiver.accept()
    elif kind == "receiver_slow":
        receiver.stall_next(rng.randint(1, 2), RECEIVER_TIMEOUT + 0.5)
        look()


def _env(shop: Storefront, tmp: Path, receiver: AlertReceiver, poll_via: str) -> dict:
    # The run's own settings only; a planted bug (bench/planted/) goes to every process of the run.
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_") or k == "ORDERMON_BENCH_PLANT"}
    w = oracle.WINDOWS
    at = receiver.url.removesuffix("/alerts")  # one receiver, a path per target
    return base | {
        "ORDERMON_STOREFRONT_URL": shop.url,
        "ORDERMON_EMAIL": DEFAULT_EMAIL,
        "ORDERMON_PASSWORD": DEFAULT_PASSWORD,
        "ORDERMON_DB": str(tmp / "ordermon.db"),
        "ORDERMON_DATA_DIR": str(tmp / "data"),
        "ORDERMON_POLL_VIA": poll_via,
        "ORDERMON_ALERT_URLS": json.dumps(
            [
                {"url": f"{at}{path}?rto={RECEIVER_TIMEOUT}&cto={RECEIVER_TIMEOUT}", "tags": [path.strip("/")]}
                for path in (oracle.PHONE, oracle.MAILBOX)
            ]
        ),
        "ORDERMON_ROUTES": json.dumps(oracle.ROUTES),
        "ORDERMON_QUIET_HOURS": "{:02}:00-{:02}:00".format(*oracle.QUIET),
        "ORDERMON_REMIND_HOURS": str(oracle.REMIND_HOURS),
        "ORDERMON_TIMEOUT": str(TIMEOUT),
        "ORDERMON_RETRIES": "2",
        "ORDERMON_RETRY_BACKOFF": "0.05",
        "ORDERMON_POLL_JITTER": "0",
        "ORDERMON_MAX_CLOCK_SKEW": "inf",  # the storefront travels in time
        "ORDERMON_FAILURE_THRESHOLD": "2",
        "ORDERMON_ALERT_RETRY_BACKOFF": "0.05",
        "ORDERMON_ALERT_MAX_ATTEMPTS": "1000",
        "ORDERMON_DIGEST_OVER": "1000",
        "ORDERMON_GRACE_MINUTES": str(w["grace_minutes"]),
        "ORDERMON_RECENT_DAYS": str(w["recent_days"]),
        "ORDERMON_UNPAID_WARNING_DAYS": str(w["unpaid_warning_days"]),
        "ORDERMON_PROTECTION_WARNING_DAYS": json.dumps(list(w["protection_warning_days"])),
    }


def _settings(env: dict) -> MonitorSettings:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return MonitorSettings(_env_file=None)
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Campaign:
    def __init__(
        self, target: int, seed: int = 1, echo=lambda line: None, poll_via: str = "http", plan: list[str] | None = None
    ):
        self.poll_via, self.target, self.echo, self.plan = poll_via, target, echo, plan
        self.rng = random.Random(seed)
        self.injections: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()
        self.flow_outcomes: Counter[str] = Counter()
        self.asked: Counter[str] = Counter()  # cancellation flows run, per order
        self.sending_at_kills: set[tuple[int, str]] = set()  # deliveries mid-send when a process died
        self.kills_while_sending = 0
        self.flow_errors: list[str] = []  # the first cancel flows that ended "error", why
        self.monitor: Monitor | None = None
        self._browser: Browser | None = None

    # ---------------------------------------------------------------- the world moving on
    def _tick(self) -> None:
        """A second on: the campaign changes orders only at seconds no poll has seen (the Date
        header the monitor goes by has whole seconds), so the record says what each poll saw."""
        self.admin.clock(advance=1)

    def _new_orders(self) -> None:
        self._tick()
        for _ in range(self.rng.randint(1, 3)):
            status = self.rng.choice(
                ["awaiting_shipment", "awaiting_shipment", "awaiting_payment", "awaiting_delivery", "payment_verifying"]
            )
            self.admin.create_order(
                status=status,
                seller=self.rng.choice(["prompt", "refuses", "silent", "late_shipper"]),
                refund_business_days=self.rng.choice([None, 3, 10]),
            )

    def _cancel_one(self) -> None:
        """A cancellation flow on an order the site lets the buyer cancel, asked at most once per
        cancellable spell (again after a seller refused: then a second Submit is legitimate)."""
        candidates = [
            o for o in self.admin.state()["orders"] if o["can_cancel"] and self.asked[o["id"]] == o["cancel_submits"]
        ]
        if candidates and self.monitor is not None:
            self._cancel(self.rng.choice(candidates)["id"])

    def _cancel(self, order_id: str) -> None:
        self._tick()
        self.asked[order_id] += 1
        try:
            outcome = cancel_order(
                self.session(), order_id, self.rng.choice(["wrong", "duplicate", "shipping"])
            ).outcome
        except FlowError as exc:
            outcome = exc.outcome
            if outcome == "error" and len(self.flow_errors) < 5:
                self.flow_errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        self.flow_outcomes[outcome] += 1
        self._landed()

    def _landed(self, limit: float = 30) -> None:
        """Wait until no Submit is on its way (one that got no answer may land later): the clock
        jumps hours between events, where a real network holds a request for seconds, so a late
        Submit must not meet an order hours older than the one it was sent for."""
        deadline = time.monotonic() + limit
        while (
            any(k.startswith("POST /p/order/cancel") for k in self.admin.requests()["in_flight"])
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)  # watching the storefront through its admin API

    def browser(self) -> Browser:
        if self._browser is None:
            self._browser = Browser(self.settings)
        return self._browser

    def session(self):
        return AccountSession(self.browser(), self.settings.account_list()[0])

    def _poll(self, times: int = 1) -> None:
        for _ in range(times):
            if self.monitor is not None:
                self.monitor.poll_once()

    # ---------------------------------------------------------------- faults
    def _inject(self, kind: str) -> None:
        self.injections[kind] += 1
        admin, receiver = self.admin, self.receiver
        if kind == "http_500":
            admin.faults(error_rate=self.rng.choice([0.2, 0.5, 1.0]))
            self._cancel_one()
            self._poll(2)
        elif kind == "latency":
            admin.faults(
                latency_ms=int((TIMEOUT + 0.5) * 1000),
                target=self.rng.choice(
                    ["GET /p/order/list.json", "GET /p/order/detail", "GET /p/order/index.html", "POST /p/order/cancel"]
                ),
            )
            self._poll()
            self._cancel_one()
        elif kind == "session_expiry":
            admin.faults(expire_sessions=True)
            self._cancel_one() if self.rng.random() < 0.5 else self._poll()
        elif kind == "captcha":
            admin.faults(captcha=True, expire_sessions=True)
            self._poll(2)
        elif kind == "layout_variant":
            admin.faults(layout="variant")
            self._cancel_one()
            self._poll()
        elif kind in RECEIVER_FAULTS:
            receiver_trouble(kind, receiver, self.rng, self._poll)
        elif kind in PHASES:
            self._kill(kind)
        admin.faults(clear=True)
        receiver.fail_next(0)
        receiver.accept()
        self._poll()  # the alerts due go out, or wait for their retry

    # ---------------------------------------------------------------- kills
    def _in_flight(self, prefix: str) -> Callable:
        return lambda pid: any(k.startswith(prefix) for k in self.admin.requests()["in_flight"])

    def _kill(self, phase: str) -> None:
        self._close_monitor()  # it holds the database's lock
        self._tick()
        cmd, busy = MONITOR, False
        held = 3_000  # ms: longer than the stop and the evidence take (a miss is retried); a late Submit is awaited
        if phase == "signing_in":
            self.admin.faults(expire_sessions=True, latency_ms=held, target="POST /login")
            trigger = self._in_flight("POST /login")
        elif phase == "reading":
            self.admin.faults(latency_ms=held, target="GET /p/order/")
            trigger = self._in_flight("GET /p/order/")
        elif phase == "writing":
            self.admin.create_order(status="awaiting_shipment", checkout_size=10)  # a poll with more to write
            db = Path(self.env["ORDERMON_DB"])
            trigger, busy = (lambda pid: holds_write_lock(pid, db)), True
        elif phase == "delivering":
            # A refund long overdue: an alert on the first poll, whatever the weekday (an unpaid order
            # "closing tomorrow" closes on Monday when tomorrow is a Saturday: no alert, no delivery).
            started = (self.admin.now() - dt.timedelta(days=60)).isoformat()
            self.admin.create_order(status="closed", refund_started_at=started, refund_business_days=None)
            self.receiver.hold()
            trigger = lambda pid: self.receiver.in_flight > 0  # noqa: E731
        else:  # submitting
            order = self.admin.create_order(status="awaiting_shipment", seller=self.rng.choice(["silent", "refuses"]))
            self.asked[order["id"]] += 1
            self.admin.faults(latency_ms=held, latency_after=True, target="POST /p/order/cancel")
            cmd = [sys.executable, "-m", "monitor.cli", "cancel", order["id"], "--reason", "wrong", "--json"]
            trigger = self._in_flight("POST /p/order/cancel")
        # A phase missed (a write lasts milliseconds) leaves the monitor idle until its next poll, an
        # hour away: the wait ends once its poll is recorded with nothing left to deliver, or after
        # 30 s (past any phase's start, even beside a loaded suite); a missed phase runs again later.
        proven, _ = kill_in_phase(cmd, self.env, trigger, timeout=30, busy=busy, missed=self._idle_after(cmd))
        self._note_sending()  # read once it is dead: a reader beside a writer stopped mid-write can fail
        self.kills[phase if proven else "unproven"] += 1
        self.receiver.release()
        self.admin.faults(clear=True)
        self._open_monitor()
        if phase == "submitting":
            self._cancel(order["id"])  # the same cancellation again: no second Submit may reach the site

    def _idle_after(self, cmd: list[str]) -> Callable[[], bool]:
        """For the monitor: whether it has recorded a poll since now and has no delivery waiting,
        so that nothing is left for the phase to happen in. (A cancel ends: its exit ends the wait.)"""
        if cmd is not MONITOR:
            return lambda: False
        db = Path(self.env["ORDERMON_DB"])
        before = oracle.polls_in(db)

        def idle() -> bool:
            try:
                return (
                    oracle.polls_in(db) > before
                    and not oracle.deliveries_in(db, "pending")
                    and not oracle.deliveries_in(db, "sending")
                )
            except sqlite3.OperationalError:  # the monitor mid-write (SQLite's "locking protocol"): not yet
                return False

        return idle

    def _note_sending(self) -> None:
        """The deliveries the killed process had marked ``sending`` (as it left them): a kill in any
        phase may catch one (the monitor delivers beside its polls), and only those may end ``uncertain``."""
        sending = {
            (alert_id, target)
            for alert_id, target, _, _ in oracle.deliveries_in(Path(self.env["ORDERMON_DB"]), "sending")
        }
        self.kills_while_sending += bool(sending)
        self.sending_at_kills |= sending

    def _close_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None

    def _open_monitor(self) -> None:
        self.monitor = Monitor(self.settings, browser=self.browser().browser).open()

    def _schedule(self) -> list[str]:
        kills = max(len(PHASES), round(self.target * KILL_SHARE))
        kinds = list(WEIGHTS)
        plan = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds], k=self.target - kills)
        for n in range(kills):  # spread evenly, phases in turn
            plan.insert(round((n + 0.5) * self.target / kills), PHASES[n % len(PHASES)])
        return plan[: self.target]

    # ---------------------------------------------------------------- the run
    def run(self) -> dict:
        started = time.perf_counter()
        with workdir() as tmp, AlertReceiver() as receiver:
            shop = Storefront(orders=30, seed=3).wait()
            try:
                self.admin, self.receiver = shop.admin, receiver
                self.admin.clock(freeze=True)  # then whole seconds, as the Date header the monitor reads
                self.admin.clock(set=oracle.first_night(self.admin.now()))
                self.env = _env(shop, tmp, receiver, self.poll_via)
                self.settings = _settings(self.env)
                # A refund overdue about now that arrives a business day late: reminded, then resolved.
                self.admin.create_order(
                    status="closed", refund_started_at=(self.admin.now() - dt.timedelta(days=29)).isoformat(),
                    refund_business_days=21,
                )  # fmt: skip
                self._open_monitor()
                self._poll()
                plan = list(self.plan) if self.plan else self._schedule()
                while plan:
                    kind = plan.pop(0)
                    proven = self.kills[kind]
                    self._inject(kind)
                    if kind in PHASES and self.kills[kind] == proven and self.kills["unproven"] <= 4 * len(PHASES):
                        plan.insert(self.rng.randrange(len(plan) + 1), kind)  # that phase again, later
                    self.admin.clock(advance=self.rng.randint(2, 30) * 3600)
                    if self.rng.random() < 0.5:
                        self._new_orders()
                    self.echo(f"{sum(self.injections.values())} injections ({kind}); kills {dict(self.kills)}")
                result = self._verify(tmp)
            finally:
                self._close_monitor()
                if self._browser is not None:
                    self._browser.close()
                shop.stop()
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result

    def _verify(self, tmp: Path) -> dict:
        monitor = self.monitor
        assert monitor is not None, "run() opens the monitor before it verifies"
        self.admin.faults(clear=True)
        if (morning := oracle.quiet_until(self.admin.now())) is not None:
            self.admin.clock(set=morning)  # what the night held goes out at the next poll
        for _ in range(5):  # a clean poll, then every pending alert delivered
            if all(not r.error for r in monitor.poll_once()):
                break
        for _ in range(100):
            if not monitor.store.due_deliveries(dt.datetime.max.replace(tzinfo=dt.UTC)):
                break
            time.sleep(0.05)  # the outbox's retry backoff
            monitor.deliver()
        state = self.admin.state()
        orders, db = state["orders"], tmp / "ordermon.db"
        judged = oracle.judge(orders, db, self.receiver.taken())
        moments = judged.pop("moments")
        # More Submits than flows asked, or one the site refused (a flow submits only what it just
        # read as cancellable, so each of its Submits is accepted): a Submit sent twice.
        double = [o["id"] for o in orders if o["cancel_submits"] > min(o["cancel_requests"], self.asked[o["id"]])]
        unexplained = {(a, t) for a, t, _, _ in oracle.deliveries_in(db, "uncertain")} - self.sending_at_kills
        lost = oracle.lost_states(orders, db, moments)
        judged["examples"] |= {"double_submits": double[:5], "lost_states": lost[:5], "flow_errors": self.flow_errors}
        polls = monitor.store.polls()
        return {
            "poll_via": self.poll_via,
            "plant": os.environ.get("ORDERMON_BENCH_PLANT") or None,
            "injections": sum(self.injections.values()),
            "by_kind": dict(sorted(self.injections.items())),
            "requests_affected": sum(state["fault_counts"].values())
            + sum(self.receiver.troubles.values())
            - self.receiver.troubles["refused"],
            "kills": {p: self.kills[p] for p in (*PHASES, "unproven")},
            "kills_while_sending": self.kills_while_sending,
            **judged,
            "uncertain_unexplained": len(unexplained),
            "double_submits": len(double),
            "lost_states": len(lost),
            "polls": len(polls),
            "polls_failed": sum(1 for p in polls if p["error"]),
            "orders": len(orders),
            "cancel_outcomes": dict(sorted(self.flow_outcomes.items())),
        }


def ok(result: dict) -> bool:
    return all(result[name] == 0 for name in FAILS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=520, help="injections per poll mode (default 520)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object per line, per poll mode")
    parser.add_argument(
        "--poll-via", default="http,browser", help="how the monitor reads the site, one run each (default http,browser)"
    )
    parser.add_argument(
        "--plan",
        type=lambda text: text.split(","),
        metavar="KIND,...",
        help="exactly these injections, in this order (kinds: " + ", ".join((*WEIGHTS, *PHASES)) + ")",
    )
    parser.add_argument(
        "--self-test", action="store_true", help="short runs against planted bugs: every counter must catch its own"
    )
    parser.add_argument(
        "--fleet", action="store_true", help="against a fleet: three workers on PostgreSQL (bench/fleet_faults.py)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # stop the storefront on the way out
    unknown = set(args.plan or ()) - {*WEIGHTS, *PHASES}
    if unknown and not args.fleet:
        parser.error(f"--plan: unknown kind {sorted(unknown)[0]!r}")
    echo = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    if args.self_test:
        from .plants import self_test

        return self_test(args.json, echo)
    if args.fleet:
        from .fleet_faults import KILLS, FleetCampaign
        from .fleet_faults import ok as fleet_ok

        unknown = set(args.plan or ()) - {*FLEET_WEIGHTS, *KILLS}
        if unknown:
            parser.error(f"--plan: unknown kind for --fleet {sorted(unknown)[0]!r}")
        result = FleetCampaign(args.faults, args.seed, echo, plan=args.plan).run()
        print(json.dumps(result) if args.json else "\n".join(f"{k:22} {v}" for k, v in result.items()), flush=True)
        return 0 if fleet_ok(result) else 1
    worst = 0
    for via in args.poll_via.split(","):
        result = Campaign(args.faults, args.seed, echo, poll_via=via.strip(), plan=args.plan).run()
        print(json.dumps(result) if args.json else "\n".join(f"{k:22} {v}" for k, v in result.items()), flush=True)
        worst = max(worst, 0 if ok(result) else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
