"""Each figure: a ratio (or a size) measured in one run against the same storefront; a ratio is
the median of its repetitions, each a pair measured back to back, with their min and max."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from flows import pages
from flows.browser import Browser
from flows.cancel import cancel_order
from flows.fetch import PageTransport
from flows.http import HttpTransport
from flows.pages import OrderDetailPage
from flows.reading import SiteReader, Transport
from flows.session import AccountSession, sign_in, sign_in_with_browser
from flows.site import SITE
from monitor.poller import Poller
from monitor.settings import AccountSettings, MonitorSettings
from monitor.store import SqliteStore, everywhere

from .env import (
    BareClient,
    Result,
    TreeSampler,
    account,
    cores,
    monitor_env,
    polls,
    ratio_result,
    rss,
    settings,
    sign_in_first,
    start_monitor,
    storefronts,
    timed,
    workdir,
)

MB = 2**20


@contextmanager
def poller_on(urls: list[str], tmp: Path, via: str = "http"):
    """A Poller with its database for these storefronts, every account signed in first."""
    accounts = [account(url, name=f"account-{i}") for i, url in enumerate(urls)]
    ms = MonitorSettings(
        _env_file=None,
        db=tmp / "ordermon.db",
        data_dir=tmp / "data",
        timeout=120,
        poll_via=via,
        accounts=[
            AccountSettings(name=a.name, storefront_url=a.storefront_url, email=a.email, password=a.password)
            for a in accounts
        ],
    )
    with Browser(ms) as browser:
        for a in accounts:
            sign_in(browser.browser, ms, a)
        transport: Transport
        if via == "browser":
            transport = PageTransport({a.label: AccountSession(browser, a) for a in accounts})
        else:
            browser.close()
            transport = HttpTransport(ms, accounts, sign_in=lambda a: sign_in_with_browser(ms, a))
        reader = SiteReader(ms, transport)
        store = SqliteStore(ms.db)
        try:
            yield Poller(ms, store, reader, accounts, route=everywhere([])), accounts, store
        finally:
            store.close()


def _poll(poller: Poller, accounts) -> None:
    errors = [r.error for r in poller.poll_all(accounts) if r.error]
    if errors:
        raise RuntimeError(f"poll failed: {errors[0]}")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} ms [{min(values) * 1000:,.0f}–{max(values) * 1000:,.0f}]"


# ---------------------------------------------------------------------- polls
def poll_vs_http(orders: int, repeat: int, via: str = "http") -> Result:
    with storefronts(orders) as [shop], workdir() as tmp, poller_on([shop.url], tmp, via) as (poller, accounts, _):
        _poll(poller, accounts)  # the first poll learns every order
        bare = BareClient(shop.url, tmp / "data")
        assert len(bare.read_all()) == orders
        _poll(poller, accounts)
        polled, read = [], []
        for index in range(repeat):  # pairs, in alternating order
            first, second = (lambda: _poll(poller, accounts)), bare.read_all
            times = [timed(first), timed(second)] if index % 2 == 0 else list(reversed([timed(second), timed(first)]))
            polled.append(times[0])
            read.append(times[1])
    suffix, target = ("", 1.3) if via == "http" else ("_browser", 3)
    return ratio_result(
        f"poll_{orders}_vs_http{suffix}",
        [p / r for p, r in zip(polled, read, strict=True)],
        target,
        f"{via} poll {_ms(polled)}; the same pages with a concurrent httpx client {_ms(read)}",
    )


def poll_vs_naive(orders: int, repeat: int) -> Result:
    """Context, not a target a user would set: every detail page opened in the browser."""
    with storefronts(orders) as [shop], workdir() as tmp, poller_on([shop.url], tmp) as (poller, accounts, _):
        _poll(poller, accounts)
        polled = [timed(lambda: _poll(poller, accounts)) for _ in range(repeat)]
        ids = [o["id"] for o in shop.admin.state()["orders"]]
        with Browser(settings(shop.url, tmp / "data")) as browser:
            session = AccountSession(browser, accounts[0])
            detail = OrderDetailPage(session.page)

            def naive() -> None:
                for order_id in ids:
                    session.goto(SITE.order_page(order_id))
                    detail.status()

            naive_time = timed(naive)
    ratio = naive_time / statistics.median(polled)
    return Result(
        f"poll_{orders}_vs_naive",
        ratio,
        "x faster",
        "context",
        True,
        f"poll {_ms(polled)}; every detail page opened in the browser once: {naive_time:.1f} s",
        naive_time / max(polled),
        naive_time / min(polled),
        repeat,
    )


def many_accounts(accounts_count: int, orders: int, repeat: int) -> Result:
    with (
        storefronts(*[orders] * accounts_count) as shops,
        workdir() as tmp,
        poller_on([s.url for s in shops], tmp) as (poller, accounts, _),
    ):
        _poll(poller, accounts)
        singles = sum(statistics.median(timed(partial(_poll, poller, [a])) for _ in range(repeat)) for a in accounts)
        cycles = [timed(lambda: _poll(poller, accounts)) for _ in range(repeat)]
    n = cores()
    return ratio_result(
        f"accounts_{accounts_count}x{orders}_cycle",
        [c / (singles / n) for c in cycles],
        1.2,
        f"cycle {_ms(cycles)}; single-account polls sum {singles * 1000:,.0f} ms over {n} cores",
    )


# ---------------------------------------------------------------------- the cancel flow
PROFILED = {
    pages.OrdersPage: ["wait_loaded", "has_card", "open_card"],
    pages.OrderDetailPage: ["check_loaded", "status", "can_cancel", "cancellation_pending", "start_cancel"],
    pages.RefundPage: ["open_reasons", "choose", "submit"],
    pages.CancelResultPage: ["status"],
}


@contextmanager
def profiled(spent: dict[str, list[float]]):
    """Time every step the flow takes through the page objects."""
    saved = []
    for cls, names in PROFILED.items():
        for name in names:
            original = getattr(cls, name)

            def wrapper(*args, _original=original, _key=f"{cls.__name__}.{name}", **kwargs):
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent.setdefault(_key, []).append(time.perf_counter() - start)

            saved.append((cls, name, original))
            setattr(cls, name, wrapper)
    try:
        yield
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def plain_cancel(page, base_url: str, order_id: str, reason: str) -> None:
    """The same clicks as the cancel flow, as a user would write them in a plain Playwright script:
    no page objects, no reading of the order's state, no checks, no retries."""
    page.goto(f"{base_url}/p/order/index.html?tab=all")
    page.get_by_role("link", name=f"Order details {order_id}", exact=True).click()
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("combobox", name="Refund information").click()
    page.get_by_role("option", name=reason, exact=True).click()
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").first.wait_for()


def cancel_figures(samples: int) -> list[Result]:
    """The cancel flow against the same clicks as a plain script (the target), and against the
    bare loads of its four pages (context); each pair measured back to back, warm."""
    spent: dict[str, list[float]] = {}
    reason = "I ordered the wrong product(s)"
    with storefronts(10) as [shop], workdir() as tmp, Browser(settings(shop.url, tmp / "data")) as browser:
        session = AccountSession(browser, account(shop.url))
        session.ensure_signed_in()
        admin = shop.admin
        admin.settings(complaint_prompt=False)
        flows, plain, bare = [], [], []

        def silent() -> str:
            return admin.create_order(status="awaiting_shipment", seller="silent")["id"]

        for index in range(samples + 1):
            ours, theirs, other = silent(), silent(), silent()
            with profiled(spent) if index else contextlib_null():
                elapsed = timed(partial(_cancelled, session, ours))
            script = timed(partial(plain_cancel, session.page, shop.url, theirs, reason))
            assert admin.order(theirs)["cancel_requests"] == 1
            paths = (SITE.orders_page(), SITE.order_page(other), f"/p/order/cancel.html?orderId={other}",
                     f"/p/order/cancel-result.html?orderId={other}")  # fmt: skip
            loads = timed(partial(_load_all, session, paths))
            if index:  # the first run warms up
                flows.append(elapsed)
                plain.append(script)
                bare.append(loads)
    profile = ", ".join(
        f"{name.split('.', 1)[1] if name.count('.') else name} {statistics.median(v) * 1000:.0f}"
        for name, v in spent.items()
    )
    return [
        ratio_result(
            "cancel_vs_plain_script",
            [f / p for f, p in zip(flows, plain, strict=True)],
            1.2,
            f"warm cancel {_ms(flows)}; the same clicks as a plain Playwright script {_ms(plain)}",
        ),
        _context(
            "cancel_vs_page_loads",
            [f / b for f, b in zip(flows, bare, strict=True)],
            f"its 4 bare page loads {_ms(bare)}; per step (ms): {profile}",
        ),
    ]


def _context(name: str, ratios: list[float], detail: str) -> Result:
    """A ratio shown for context: no target."""
    value = statistics.median(ratios)
    return Result(name, value, "x", "context", True, detail, min(ratios), max(ratios), len(ratios))


def _cancelled(session: AccountSession, order_id: str) -> None:
    _assert_requested(cancel_order(session, order_id, "wrong"))


def _load_all(session: AccountSession, paths: tuple[str, ...]) -> None:
    for path in paths:
        session.page.goto(session.url(path))


def _assert_requested(result) -> None:
    assert result.outcome == "requested", result


@contextmanager
def contextlib_null():
    yield


# ---------------------------------------------------------------------- memory (the monitor as its own process)
def monitor_memory(orders: int) -> list[Result]:
    """``ordermon monitor`` (http mode) against ``orders``: the peak of its first poll (every detail
    read), and what it holds while it waits for the next; every process of it, from /proc."""
    with storefronts(orders) as [shop], workdir() as tmp:
        sign_in_first(shop.url, tmp)
        proc = start_monitor(monitor_env(shop.url, tmp), "--interval", "3600")
        with TreeSampler(proc.pid) as sampler:
            started = time.monotonic()
            ended, first = next(polls(proc))
            time.sleep(3)  # the poll's aftermath: deliveries, the scheduler settling
            idle_from = time.monotonic()
            time.sleep(3)
        members = len(_tree_now(proc.pid))
        proc.terminate()
        proc.wait(timeout=30)
    peak = max(sampler.between(started, ended)) / MB
    idle = statistics.median(sampler.between(idle_from, idle_from + 3)) / MB
    return [
        Result(
            f"peak_memory_{orders}_poll",
            peak,
            "MB",
            "<= 200",
            peak <= 200,
            f"RSS of every process of `ordermon monitor` (http mode), summed, sampled at {sampler.rate:.0f} Hz "
            f"from /proc during its first poll ({first['details_read']:,} details read, {ended - started:.1f} s)",
        ),
        Result(
            "idle_memory_between_polls",
            idle,
            "MB",
            "<= 100",
            idle <= 100,
            f"the same, median over 3 s while it waits for the next poll: {members} process(es), no browser",
        ),
    ]


def _tree_now(pid: int) -> list[int]:
    from .env import tree

    return tree(pid)


def memory_growth(orders: int, count: int) -> Result:
    warmup = 10
    with storefronts(orders) as [shop], workdir() as tmp:
        sign_in_first(shop.url, tmp)
        proc = start_monitor(monitor_env(shop.url, tmp), "--interval", "0.1")
        samples = []
        for index, (_, result) in enumerate(polls(proc)):
            if result["error"]:
                raise RuntimeError(f"poll failed: {result['error']}")
            if index >= warmup:
                samples.append(rss(proc.pid))
            if len(samples) >= count:
                break
        proc.terminate()
        proc.wait(timeout=30)
    window = max(5, count // 10)
    first, last = statistics.median(samples[:window]), statistics.median(samples[-window:])
    growth = (last - first) / first * 100
    return Result(
        f"memory_growth_{count}_polls",
        growth,
        "%",
        "<= 2",
        growth <= 2,
        f"{first / MB:.0f} MB -> {last / MB:.0f} MB: medians of the first and last {window} of {count} "
        f"polls after {warmup} to warm up ({orders} orders, `ordermon monitor`, http mode)",
    )


# ---------------------------------------------------------------------- the database
def db_growth(orders: int, count: int) -> list[Result]:
    with storefronts(orders) as [shop], workdir() as tmp, poller_on([shop.url], tmp) as (poller, accounts, store):
        shop.admin.clock(freeze=True)  # nothing changes: every poll is unchanged
        _poll(poller, accounts)
        _poll(poller, accounts)

        def size() -> int:
            store.checkpoint()
            return sum(p.stat().st_size for p in tmp.glob("ordermon.db*") if p.suffix != ".lock")

        before, history = size(), store.counts()["history"]
        for _ in range(count):
            _poll(poller, accounts)
        per_poll = (size() - before) / count
        new_history = store.counts()["history"] - history
    return [
        Result(
            f"db_history_rows_per_unchanged_poll_{orders}",
            new_history / count,
            "rows",
            "0",
            new_history == 0,
            f"over {count} polls of {orders} orders that did not change",
        ),
        Result(
            f"db_bytes_per_unchanged_poll_{orders}",
            per_poll,
            "bytes",
            "<= 1024",
            per_poll <= 1024,
            f"file size after a checkpoint, averaged over {count} polls (each records one row in polls)",
        ),
    ]


# ---------------------------------------------------------------------- the harness
HARNESS_TESTS = """
import pytest


@pytest.mark.parametrize("n", range({count}))
def test_a_bare_page(page, n):
    page.goto("about:blank")


@pytest.mark.parametrize("n", range({count}))
def test_a_shopper(shopper, n):
    shopper.page.goto("about:blank")
"""

TIMING_PLUGIN = """
import json, os

TIMES = {}


def pytest_runtest_logreport(report):
    TIMES[report.nodeid] = TIMES.get(report.nodeid, 0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["ORDERMON_BENCH_TIMES"], "w") as out:
        json.dump(TIMES, out)
"""


def harness_shopper_vs_page(count: int) -> Result:
    """Per-test time (setup, call, teardown) of a ``shopper`` test over a bare pytest-playwright
    ``page`` test, in one pytest run of a new project."""
    with workdir() as tmp:
        (tmp / "test_timing.py").write_text(HARNESS_TESTS.format(count=count + 1))
        (tmp / "timing_plugin.py").write_text(TIMING_PLUGIN)
        env = monitor_env("http://127.0.0.1:1", tmp) | {
            "ORDERMON_BENCH_TIMES": str(tmp / "times.json"),
            "PYTHONPATH": str(tmp),
        }
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "timing_plugin"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode:
            raise RuntimeError(result.stdout[-2000:])
        times = json.loads((tmp / "times.json").read_text())
    page = [t for k, t in sorted(times.items()) if "test_a_bare_page" in k][1:]  # the first of each warms up
    shopper = [t for k, t in sorted(times.items()) if "test_a_shopper" in k][1:]
    return ratio_result(
        "harness_shopper_vs_page",
        [s / p for s, p in zip(shopper, page, strict=True)],
        1.5,
        f"a shopper test {_ms(shopper)}, a bare page test {_ms(page)} (setup, call and teardown)",
    )
