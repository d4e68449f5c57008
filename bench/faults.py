"""`python -m bench.faults [--faults N] [--json]`: the monitor and the cancel flow under fire.

Faults come through the storefront's admin API (HTTP 500s, latency beyond the
timeouts, session expiry, the captcha page, the layout variant) and the OS
(kill -9 of `ordermon monitor` in the middle of a poll, and of `ordermon
cancel` in the middle of a Submit). Meanwhile the storefront's clock moves on,
so sellers answer, the platform cancels, refunds arrive and deadlines pass.

At the end, with every fault cleared and one clean poll, it counts:
- transitions lost: orders whose state in the monitor's database differs from
  the storefront's own, plus breaks in an order's recorded history;
- duplicate alerts: notifications the Apprise receiver got more than once (each
  carries its alert's id in the title);
- double cancellation requests: orders with a Submit the site refused (`cancel_submits` > `cancel_requests`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from fixtures.receiver import AlertReceiver
from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD
from flows.browser import Browser
from flows.cancel import cancel_order
from flows.errors import FlowError
from monitor.service import Monitor
from monitor.settings import MonitorSettings
from monitor.store import Store

from .env import Storefront, workdir

KINDS = ("http_500", "latency", "session_expiry", "captcha", "layout_variant", "kill_monitor", "kill_cancel")
WEIGHTS = (5, 2, 2, 1, 2, 1, 1)  # kills are slow (a process each): rarer
TIMEOUT = 3.0  # seconds: the monitor's and flows' timeout during the campaign


def _env(shop: Storefront, tmp: Path, receiver: AlertReceiver) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
    return base | {
        "ORDERMON_STOREFRONT_URL": shop.url, "ORDERMON_EMAIL": DEFAULT_EMAIL,
        "ORDERMON_PASSWORD": DEFAULT_PASSWORD, "ORDERMON_DB": str(tmp / "ordermon.db"),
        "ORDERMON_DATA_DIR": str(tmp / "data"), "ORDERMON_ALERT_URLS": receiver.url,
        "ORDERMON_TIMEOUT": str(TIMEOUT), "ORDERMON_RETRIES": "2", "ORDERMON_RETRY_BACKOFF": "0.05",
        "ORDERMON_POLL_JITTER": "0", "ORDERMON_FAILURE_THRESHOLD": "2", "ORDERMON_ALERT_RETRY_BACKOFF": "0.1",
    }


def _settings(env: dict) -> MonitorSettings:
    os_env = {k: v for k, v in env.items() if k.startswith("ORDERMON_")}
    saved = {k: os.environ.get(k) for k in os_env}
    os.environ.update(os_env)
    try:
        return MonitorSettings(_env_file=None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_until(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)  # watching another process's progress through the admin API
    return False


class Campaign:
    def __init__(self, target: int, seed: int = 1, echo=lambda line: None, poll_via: str = "http"):
        self.poll_via = poll_via  # how the monitor reads: ORDERMON_POLL_VIA
        self.target = target
        self.rng = random.Random(seed)
        self.echo = echo
        self.kills: Counter[str] = Counter()
        self.flow_outcomes: Counter[str] = Counter()
        # Orders the campaign has asked to cancel: never asked again, so that a second
        # request on the storefront can only be a flow's double submit (a seller's
        # refusal would otherwise make a second, legitimate request possible).
        self.attempted: set[str] = set()
        self._browser = None

    # ---------------------------------------------------------------- bookkeeping
    def injected(self) -> Counter:
        counts = Counter(self.admin.state()["fault_counts"])
        counts.update(self.kills)
        return counts

    def _poll_count(self) -> int:
        if self.monitor is None:
            return -1
        return len(self.monitor.store.polls())

    def requests(self, key: str) -> int:
        return self.admin.state()["requests"].get(key, 0)

    # ---------------------------------------------------------------- the world moving on
    def _new_orders(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            status = self.rng.choice(["awaiting_shipment", "awaiting_shipment", "awaiting_payment",
                                      "awaiting_delivery", "payment_verifying"])
            seller = self.rng.choice(["prompt", "refuses", "silent", "late_shipper"])
            refund = self.rng.choice([None, 3, 10])
            self.admin.create_order(status=status, seller=seller, refund_business_days=refund)

    def _cancel_one(self) -> None:
        candidates = [o for o in self.admin.state()["orders"]
                      if o["status"] in ("awaiting_shipment", "awaiting_payment") and o["id"] not in self.attempted
                      and o["cancel_requests"] == 0]
        if not candidates or self.monitor is None:
            return
        order = self.rng.choice(candidates)
        self.attempted.add(order["id"])
        try:
            result = cancel_order(self.session(), order["id"], self.rng.choice(["wrong", "duplicate", "shipping"]))
            self.flow_outcomes[result.outcome] += 1
        except FlowError as exc:
            self.flow_outcomes[exc.outcome] += 1

    def browser(self) -> Browser:
        """The campaign's browser: for the cancel flows, and the monitor's sign-ins (one Playwright
        driver per thread)."""
        if self._browser is None:
            self._browser = Browser(self.settings)
        return self._browser

    def session(self):
        return self.browser().session(self.settings.account_list()[0])

    def _poll(self) -> None:
        if self.monitor is not None:
            self.monitor.poll_once()

    # ---------------------------------------------------------------- faults
    def _inject(self, kind: str) -> None:
        admin = self.admin
        if kind == "http_500":
            admin.faults(error_rate=self.rng.choice([0.2, 0.5, 1.0]))
            self._cancel_one()
            self._poll()
            self._poll()
        elif kind == "latency":
            admin.faults(latency_ms=int((TIMEOUT + 0.5) * 1000), target=self.rng.choice(
                ["GET /p/order/list.json", "GET /p/order/detail.json", "GET /p/order/detail.html"]))
            self._poll()
            self._cancel_one()
        elif kind == "session_expiry":
            admin.faults(expire_sessions=True)
            self._cancel_one()
            admin.faults(expire_sessions=True)
            self._poll()
        elif kind == "captcha":
            admin.faults(captcha=True, expire_sessions=True)
            self._poll()
            self._poll()
        elif kind == "layout_variant":
            admin.faults(layout="variant")
            self._cancel_one()
            self._cancel_one()
            self._poll()
        elif kind == "kill_monitor":
            self._kill_monitor()
        elif kind == "kill_cancel":
            self._kill_cancel()
        admin.faults(clear=True)

    def _close_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None

    def _open_monitor(self) -> None:
        self.monitor = Monitor(self.settings, browser=self.browser().browser).open()

    def _kill_monitor(self) -> None:
        self._close_monitor()  # it holds the database lock
        self.admin.faults(latency_ms=150, target="GET /p/order/detail.json")
        self.admin.clock(advance=self.rng.randint(2, 6) * 86400)  # plenty to read
        details = self.requests("GET /p/order/detail.json")
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Mid-poll: it has started reading the details of what changed.
        _wait_until(lambda: self.requests("GET /p/order/detail.json") > details or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills["kill_monitor"] += 1
        self.admin.faults(clear=True)
        self._open_monitor()

    def _kill_cancel(self) -> None:
        order = self.admin.create_order(status="awaiting_shipment", seller=self.rng.choice(["silent", "refuses"]))
        self.attempted.add(order["id"])
        self.admin.faults(latency_ms=2000, latency_after=True, target="POST /p/order/cancel")
        start = self.requests("POST /p/order/cancel")
        self._close_monitor()  # the CLI and the monitor share the storage state; keep it simple
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "cancel", order["id"], "--reason", "wrong",
                                 "--json"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(lambda: self.requests("POST /p/order/cancel") > start or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills["kill_cancel"] += 1
        self.admin.faults(clear=True)
        self._open_monitor()
        try:  # the same cancel again: must not send a second request
            self.flow_outcomes[cancel_order(self.session(), order["id"], "wrong").outcome] += 1
        except FlowError as exc:
            self.flow_outcomes[exc.outcome] += 1

    # ---------------------------------------------------------------- the run
    def run(self) -> dict:
        started = time.perf_counter()
        with workdir() as tmp, AlertReceiver() as receiver:
            shop = Storefront(orders=30, seed=3).wait()
            try:
                self.admin = shop.admin
                self.admin.clock(freeze=True)
                self.env = _env(shop, tmp, receiver) | {"ORDERMON_POLL_VIA": self.poll_via}
                self.settings = _settings(self.env)
                self.monitor = None
                self._open_monitor()
                self._poll()
                rounds = 0
                forced = ["kill_monitor", "kill_cancel"]  # every kind at least once
                while sum(self.injected().values()) < self.target or forced:
                    kind = forced.pop() if forced and rounds % 5 == 4 else self.rng.choices(KINDS, WEIGHTS)[0]
                    self._inject(kind)
                    self.admin.clock(advance=self.rng.randint(2, 30) * 3600)
                    if self.rng.random() < 0.5:
                        self._new_orders()
                    rounds += 1
                    self.echo(f"round {rounds}: {kind}; {sum(self.injected().values())} faults so far; "
                              f"{self._poll_count()} polls")
                result = self._verify(tmp, receiver, rounds)
            finally:
                self._close_monitor()
                if self._browser is not None:
                    self._browser.close()
                shop.stop()
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result

    def _verify(self, tmp: Path, receiver: AlertReceiver, rounds: int) -> dict:
        self.admin.faults(clear=True)
        for _ in range(5):  # a clean poll, then every pending alert delivered
            if all(not r.error for r in self.monitor.poll_once()):
                break
        for _ in range(50):
            self.monitor.deliver()
            if not self.monitor.store.due_deliveries(dt.datetime.max.replace(tzinfo=dt.UTC)):
                break
            time.sleep(0.1)  # the outbox's retry backoff
        store = Store(tmp / "ordermon.db")
        site_orders = {o["id"]: o for o in self.admin.state()["orders"]}
        known = {o["order_id"]: o for o in store.orders()}
        lost = [i for i, o in site_orders.items()
                if i not in known or (known[i]["status"], known[i]["refund_status"]) != (o["status"], o["refund_status"])]
        broken = 0
        for order_id in known:
            rows = store.history(order_id)
            broken += sum(1 for a, b in zip(rows, rows[1:])
                          if (a["status_to"], a["refund_to"]) != (b["status_from"], b["refund_from"]))
        received = Counter((item.get("title"), item.get("message")) for item in receiver.received)
        duplicates = sum(count - 1 for count in received.values() if count > 1)
        # A flow submits only after reading a cancellable state, so every Submit it sends is accepted
        # (after a seller's refusal too); one the site refused was a second Submit.
        double_cancels = [i for i, o in site_orders.items() if o["cancel_submits"] > o["cancel_requests"]]
        polls = store.polls()
        failed = sum(1 for p in polls if p["error"])
        recovered = sum(1 for a, b in zip(polls, polls[1:]) if a["error"] and not b["error"])
        injected = self.injected()
        alerts = store.counts()["alerts"]
        store.close()
        return {
            "poll_via": self.poll_via, "faults": sum(injected.values()), "by_kind": dict(sorted(injected.items())), "rounds": rounds,
            "lost": len(lost) + broken, "duplicates": duplicates, "double_cancels": len(double_cancels),
            "polls": len(polls), "polls_failed": failed, "polls_recovered": recovered,
            "alerts": alerts, "alerts_received": len(receiver.received),
            "orders": len(site_orders), "transitions": store_transitions(tmp),
            "cancel_outcomes": dict(sorted(self.flow_outcomes.items())),
        }


def store_transitions(tmp: Path) -> int:
    store = Store(tmp / "ordermon.db")
    try:
        return store.counts()["history"]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=1000, help="faults to inject (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--poll-via", choices=("http", "browser"), default="http",
                        help="how the monitor reads the site (ORDERMON_POLL_VIA; default http)")
    args = parser.parse_args(argv)
    echo = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    result = Campaign(args.faults, args.seed, echo, poll_via=args.poll_via).run()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:16} {value}")
    ok = result["lost"] == result["duplicates"] == result["double_cancels"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
