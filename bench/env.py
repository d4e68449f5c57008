"""What the benchmarks run against: storefront processes, the monitor as a process, a bare
HTTP client (the baseline a user would write), repetitions, and memory from /proc."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from fixtures.admin_client import AdminClient
from fixtures.storefront import DEFAULT_EMAIL, DEFAULT_PASSWORD
from flows.account import Account, StateFile
from flows.http import own_loop
from flows.settings import FlowSettings

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Result:
    name: str
    value: float  # the median
    unit: str
    target: str
    met: bool
    detail: str = ""
    low: float | None = None  # min and max over the repetitions
    high: float | None = None
    repeats: int = 1

    def to_dict(self) -> dict:
        spread = (
            {} if self.low is None or self.high is None else {"min": round(self.low, 3), "max": round(self.high, 3)}
        )
        return {
            "name": self.name,
            "value": round(self.value, 3),
            **spread,
            "repeats": self.repeats,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "detail": self.detail,
        }

    @property
    def shown(self) -> str:
        spread = f" [{self.low:,.2f}–{self.high:,.2f}]" if self.low is not None and self.repeats > 1 else ""
        return f"{self.value:,.2f}{spread} {self.unit}"


def ratio_result(name: str, ratios: list[float], target: float, detail: str) -> Result:
    """A ratio as the median of its repetitions, with their min and max."""
    value = statistics.median(ratios)
    return Result(name, value, "x", f"<= {target}", value <= target, detail, min(ratios), max(ratios), len(ratios))


class Storefront:
    """`ordermon storefront` in its own process, so its CPU and memory are not the monitor's."""

    def __init__(self, orders: int, seed: int = 1, password: str | None = None):
        self.token = secrets.token_urlsafe(12)
        self.password = password or DEFAULT_PASSWORD
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "storefront",
                "--port",
                "0",
                "--orders",
                str(orders),
                "--seed",
                str(seed),
                "--admin-token",
                self.token,
                "--password",
                self.password,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = ""

    def wait(self) -> Storefront:
        assert self.proc.stdout is not None  # stdout=PIPE
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
    return FlowSettings(
        _env_file=None,
        storefront_url=url,
        email=DEFAULT_EMAIL,
        password=DEFAULT_PASSWORD,
        data_dir=data_dir,
        timeout=120,
        **more,
    )


def account(url: str, name: str | None = None) -> Account:
    return Account(url, DEFAULT_EMAIL, SecretStr(DEFAULT_PASSWORD), name=name)


@contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="ordermon-bench-") as folder:
        yield Path(folder)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# ---------------------------------------------------------------------- the baseline
class BareClient:
    """What a user's own script would do: the orders JSON with a concurrent httpx client and the
    signed-in cookie, every page after the first at once (the concurrency of a careful script)."""

    def __init__(self, url: str, data_dir: Path, concurrency: int = 8):
        state = StateFile(settings(url, data_dir), account(url)).load() or {"cookies": []}
        self.url = url
        self.cookies = {c["name"]: c["value"] for c in state["cookies"]}
        self.concurrency = concurrency

    def read_all(self) -> list[dict]:
        return own_loop(self._read_all())

    async def _read_all(self) -> list[dict]:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.url, cookies=self.cookies, limits=limits, timeout=120) as client:
            params: dict[str, str | int] = {"tab": "all", "pageSize": 100}
            first = (await client.get("/p/order/list.json", params=params | {"page": 1})).json()
            pages = -(-first["total"] // 100)
            rest = await asyncio.gather(
                *(client.get("/p/order/list.json", params=params | {"page": p}) for p in range(2, pages + 1))
            )
            return first["orders"] + [o for r in rest for o in r.json()["orders"]]


# ---------------------------------------------------------------------- memory, from /proc
def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def tree(pid: int) -> list[int]:
    """The process and every descendant (the browser and its driver, when there are)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def rss(pid: int) -> int:
    """Resident memory of the process tree, summed: each process's RSS from /proc/<pid>/statm."""
    total = 0
    for member in tree(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


@dataclass
class TreeSampler:
    """RSS of a process tree sampled ``hz`` times a second; ``peak``, the samples and the rate achieved."""

    pid: int
    hz: float = 50
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        period = 1 / self.hz
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss(self.pid)))
            self._stop.wait(period)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max((value for _, value in self.samples), default=0)

    @property
    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        return (len(self.samples) - 1) / (self.samples[-1][0] - self.samples[0][0])

    def between(self, start: float, end: float) -> list[int]:
        return [value for at, value in self.samples if start <= at <= end]


# ---------------------------------------------------------------------- the monitor as a process
def monitor_env(url: str, tmp: Path, **more: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
    return (
        base
        | {
            "ORDERMON_STOREFRONT_URL": url,
            "ORDERMON_EMAIL": DEFAULT_EMAIL,
            "ORDERMON_PASSWORD": DEFAULT_PASSWORD,
            "ORDERMON_DATA_DIR": str(tmp / "data"),
            "ORDERMON_DB": str(tmp / "ordermon.db"),
            "ORDERMON_TIMEOUT": "120",
            "ORDERMON_POLL_JITTER": "0",
        }
        | more
    )


def sign_in_first(url: str, tmp: Path) -> None:
    """A kept session, so that a measured poll needs no browser to sign in."""
    from flows.session import sign_in_with_browser

    sign_in_with_browser(settings(url, tmp / "data"), account(url))


def start_monitor(env: dict, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--json", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def polls(proc: subprocess.Popen[str]) -> Iterator[tuple[float, dict]]:
    """The monitor's polls as they end (one JSON object each), with the moment each ended."""
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        if line.startswith("{"):
            yield time.monotonic(), json.loads(line)
