"""`ordermon serve` over a database a real monitor recorded: how fast its pages and API answer and
how much memory it holds. The database: storefronts of ``orders`` orders in all, a week on (some
orders overdue, their alerts recorded), polled over HTTP by the real Poller; the dashboard: its own
process, started as a user starts it; the client: one httpx client, keep-alive, as a script would."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import httpx

from .env import Result, rss, storefronts, timed, tree, workdir
from .figures import MB, _poll, poller_on

TARGET_MS = 200
TARGET_IDLE_MB = 80


class Dashboard:
    """`ordermon serve --db DB --port PORT` in its own process; ``wait`` returns once it answers."""

    def __init__(self, db: Path, tmp: Path):
        self.log = tmp / f"serve-{time.monotonic_ns()}.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "serve", "--db", str(db), "--port", str(self.port)],
                env=env | {"ORDERMON_DATA_DIR": str(tmp / "data")},
                cwd=tmp,  # no .env of the project read
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.started = time.perf_counter()

    def wait(self, client: httpx.Client, timeout: float = 60) -> float:
        """Seconds from the start of the process until it answers (``/api/stamp``: no judgement made)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ordermon serve ended ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if client.get(f"{self.url}/api/stamp").status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"ordermon serve did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def memory(self) -> tuple[float, float, int]:
        """RSS now and its peak so far (VmRSS, VmHWM, MB, summed over the process tree) and its size."""
        members = tree(self.proc.pid)
        peak = 0
        for pid in members:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
            )
            peak += int(status["VmHWM"].split()[0]) * 1024
        return rss(self.proc.pid) / MB, peak / MB, len(members)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return response


def _ms_result(name: str, seconds: list[float], detail: str, target: float | None = TARGET_MS) -> Result:
    """Milliseconds: the median of the samples, with their min and max; ``target`` None: context."""
    ms = [s * 1000 for s in seconds]
    value = statistics.median(ms)
    return Result(
        name,
        value,
        "ms",
        "context" if target is None else f"<= {target}",
        target is None or value <= target,
        detail,
        min(ms),
        max(ms),
        len(ms),
    )


def serve_figures(orders: int, repeat: int, starts: int = 3, polls: int = 5, accounts: int = 1) -> list[Result]:
    """The dashboard over ``orders`` orders (in ``accounts`` storefronts): its first page load after
    each of ``starts`` starts (every order judged while it starts), ``repeat`` warm loads of each page and
    API call, the first page load after each of ``polls`` polls (the orders that changed or came due
    judged again), its memory."""
    per_account = orders // accounts
    with (
        storefronts(*[per_account] * accounts) as shops,
        workdir() as tmp,
        poller_on([s.url for s in shops], tmp) as (poller, signed_in, store),
    ):
        for shop in shops:
            shop.admin.advance(days=7)  # some deadlines passed: overdue orders, their alerts
        built = timed(partial(_poll, poller, signed_in))  # the first poll reads every order
        counts = store.counts()
        assert counts["orders"] == per_account * accounts, counts
        db = tmp / "ordermon.db"
        with httpx.Client(timeout=120) as client:  # keep-alive: one connection per server
            cold, ready = [], []
            for _ in range(starts - 1):  # a fresh process each: it judges every order as it starts
                dashboard = Dashboard(db, tmp)
                try:
                    ready.append(dashboard.wait(client))
                    cold.append(timed(partial(_get, client, f"{dashboard.url}/")))
                finally:
                    dashboard.stop()
            dashboard = Dashboard(db, tmp)  # the last one: measured on
            try:
                ready.append(dashboard.wait(client))
                at_start = dashboard.memory()[0]
                cold.append(timed(partial(_get, client, f"{dashboard.url}/")))
                base = dashboard.url
                overdue = _get(client, f"{base}/api/orders?need=overdue").json()
                if not overdue["orders"]:
                    raise RuntimeError("no overdue order recorded: nothing to measure an order's page on")
                one = overdue["orders"][0]["order_id"]
                page_bytes = len(_get(client, f"{base}/").content)
                api_bytes = len(_get(client, f"{base}/api/orders").content)
                paths = {
                    "page": "/",
                    "api": "/api/orders",
                    "overdue": "/api/orders?need=overdue",
                    "order": f"/orders/{one}",
                }
                warm: dict[str, list[float]] = {key: [] for key in paths}
                for _ in range(repeat):  # each round: every path once, in turn
                    for key, path in paths.items():
                        warm[key].append(timed(partial(_get, client, f"{base}{path}")))
                after, poll_times = [], []
                for _ in range(polls):  # a poll an hour of the site's time later; then the page
                    for shop in shops:
                        shop.admin.advance(hours=1)
                    before = _get(client, f"{base}/api/stamp").json()["stamp"]
                    poll_times.append(timed(partial(_poll, poller, signed_in)))
                    after.append(timed(partial(_get, client, f"{base}/")))
                    if _get(client, f"{base}/api/stamp").json()["stamp"] == before:
                        raise RuntimeError("the poll did not change the database's stamp")
                idle_samples = []
                for _ in range(10):  # a second of idling, sampled
                    time.sleep(0.1)
                    idle_samples.append(dashboard.memory())
                idle = statistics.median(m[0] for m in idle_samples)
                _, peak, members = idle_samples[-1]
            finally:
                dashboard.stop()
    total = counts["orders"]
    where = f"{total:,} orders ({accounts} account(s)), {counts['alerts']:,} alerts, {overdue['total']:,} overdue"
    start = statistics.median(ready)
    return [
        _ms_result(
            f"serve_{total}_first_page_cold",
            cold,
            f"GET / after each of {starts} starts of `ordermon serve` (every order judged as it starts); "
            f"the process answers {start:.2f} s after its start; {where}, recorded by the Poller in {built:.1f} s",
        ),
        _ms_result(
            f"serve_{total}_page_warm",
            warm["page"],
            f"GET / (100 rows of {total:,}, {page_bytes / 1024:,.0f} KiB), one keep-alive httpx client",
        ),
        _ms_result(
            f"serve_{total}_api_orders_warm",
            warm["api"],
            f"GET /api/orders (the first 100 of {total:,}, {api_bytes / 1024:,.0f} KiB of JSON)",
        ),
        _ms_result(
            f"serve_{total}_api_overdue_warm",
            warm["overdue"],
            f"GET /api/orders?need=overdue (first 100 of {overdue['total']:,})",
        ),
        _ms_result(
            f"serve_{total}_order_page_warm",
            warm["order"],
            "GET /orders/<id> of an overdue order (its timeline, history, alerts)",
        ),
        _ms_result(
            f"serve_{total}_page_after_poll",
            after,
            f"GET / just after a poll recorded (the orders it changed or that came due judged again), "
            f"over {polls} polls an hour of site time apart (polls {_ms(poll_times)})",
        ),
        Result(
            "serve_idle_memory",
            idle,
            "MB",
            f"<= {TARGET_IDLE_MB}",
            idle <= TARGET_IDLE_MB,
            f"RSS of `ordermon serve` ({members} process(es), from /proc), median over 1 s idle after "
            f"the loads above over {total:,} orders; {at_start:.0f} MB once it answers",
        ),
        Result(
            "serve_peak_memory",
            peak,
            "MB",
            "context",
            True,
            "its peak RSS (VmHWM)",
        ),
    ]


def _ms(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{statistics.median(ms):,.0f} ms [{min(ms):,.0f}–{max(ms):,.0f}]"
