"""What the benchmarks run against: storefront processes, a signed-in browser, memory sampling."""

from __future__ import annotations

import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from fixtures.admin_client import AdminClient
from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD
from flows.account import Account
from flows.browser import Browser
from flows.session import AccountSession
from flows.settings import FlowSettings


@dataclass
class Result:
    name: str
    value: float
    unit: str
    target: str
    met: bool
    detail: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "value": round(self.value, 3), "unit": self.unit, "target": self.target,
                "met": self.met, "detail": self.detail}


class Storefront:
    """`ordermon storefront` in its own process, so its CPU and memory are not the monitor's."""

    def __init__(self, orders: int, seed: int = 1, password: str | None = None):
        self.token = secrets.token_urlsafe(12)
        self.password = password or DEFAULT_PASSWORD
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "storefront", "--port", "0", "--orders", str(orders),
             "--seed", str(seed), "--admin-token", self.token, "--password", self.password],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.url = ""

    def wait(self) -> Storefront:
        for line in self.proc.stdout:
            match = re.match(r"Storefront:\s+(http://\S+?)/p/order", line)
            if match:
                self.url = match.group(1)
            if line.startswith("Orders:"):
                return self
        raise RuntimeError("the storefront did not start")

    @property
    def admin(self) -> AdminClient:
        return AdminClient(self.url, self.token, timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@contextmanager
def storefronts(*sizes: int):
    """Start several storefronts at once (their start-up overlaps)."""
    started = [Storefront(n, seed=i + 1) for i, n in enumerate(sizes)]
    try:
        yield [s.wait() for s in started]
    finally:
        for s in started:
            s.stop()


def settings(url: str, data_dir: Path, **more) -> FlowSettings:
    return FlowSettings(_env_file=None, storefront_url=url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD,
                        data_dir=data_dir, timeout=60, **more)


def account(url: str, name: str | None = None) -> Account:
    from pydantic import SecretStr

    return Account(url, DEFAULT_EMAIL, SecretStr(DEFAULT_PASSWORD), name=name)


def plain_client(session: AccountSession) -> httpx.Client:
    """httpx with the signed-in session's cookies: the raw-HTTP limit."""
    cookies = {c["name"]: c["value"] for c in session.context.cookies()}
    return httpx.Client(base_url=session.base_url, cookies=cookies, timeout=60)


def http_read_all(client: httpx.Client, page_size: int = 100) -> list[dict]:
    orders, page = [], 1
    while True:
        data = client.get("/p/order/list.json", params={"page": page, "pageSize": page_size}).json()
        orders.extend(data["orders"])
        if not data["has_more"]:
            return orders
        page += 1


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class MemorySampler:
    """Peak RSS of this process and its children (Playwright's driver and Chromium),
    leaving out the storefront processes."""

    def __init__(self, exclude: list[int] = (), interval: float = 0.02):
        self.exclude = set(exclude)
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        me = psutil.Process()
        return [proc for proc in [me, *me.children(recursive=True)]
                if proc.pid not in self.exclude and not any(p.pid in self.exclude for p in _parents(proc))]

    def rss(self) -> int:
        total = 0
        for proc in self._processes():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def pss(self) -> int:
        """Proportional set size: shared pages split between the processes sharing them."""
        total = 0
        for proc in self._processes():
            try:
                total += proc.memory_full_info().pss
            except (psutil.Error, AttributeError):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.peak_pss = max(self.peak_pss, self.pss())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def _parents(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.parents()
    except psutil.Error:
        return []


@contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="ordermon-bench-") as folder:
        yield Path(folder)


@contextmanager
def browser(flow_settings: FlowSettings):
    with Browser(flow_settings) as b:
        yield b


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
