"""Each figure: a ratio (or a size) measured in one run against the same storefront."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from pathlib import Path

from flows.cancel import cancel_order
from flows.pages import OrderDetailPage, OrdersPage
from monitor.poller import Poller
from monitor.settings import AccountSettings, MonitorSettings
from monitor.store import Store

from .env import (
    MemorySampler, Result, account, browser, cores, http_read_all, median_time, plain_client, settings,
    storefronts, workdir,
)


@contextmanager
def monitor_on(urls: list[str], tmp: Path):
    """A browser, a signed-in session per storefront, and a Poller with its database."""
    flow_settings = settings(urls[0], tmp / "data")
    accounts = [account(url, name=f"account-{i}") for i, url in enumerate(urls)]
    monitor_settings = MonitorSettings(
        _env_file=None, db=tmp / "ordermon.db", data_dir=tmp / "data", timeout=60,
        accounts=[AccountSettings(name=a.name, storefront_url=a.storefront_url, email=a.email,
                                  password=a.password) for a in accounts],
    )
    with browser(flow_settings) as b:
        sessions = {a.label: b.session(a) for a in accounts}
        for session in sessions.values():
            session.ensure_signed_in()
        store = Store(monitor_settings.db)
        try:
            yield Poller(monitor_settings, store, sessions, targets=[]), accounts, sessions, store
        finally:
            store.close()


def _poll(poller: Poller, accounts) -> None:
    results = poller.poll_all(accounts)
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"poll failed: {errors[0]}")


def poll_vs_http(orders: int, repeat: int) -> Result:
    with storefronts(orders) as [shop], workdir() as tmp, monitor_on([shop.url], tmp) as (poller, accounts, sessions, _):
        _poll(poller, accounts)  # the first poll learns every order
        poll = median_time(lambda: _poll(poller, accounts), repeat)
        with plain_client(sessions[accounts[0].label]) as client:
            assert len(http_read_all(client)) == orders
            http = median_time(lambda: http_read_all(client), repeat)
    ratio = poll / http
    return Result(f"poll_{orders}_vs_http", ratio, "x", "<= 3", ratio <= 3,
                  f"poll {poll * 1000:.0f} ms, plain HTTP {http * 1000:.0f} ms (median of {repeat})")


def poll_vs_naive(orders: int) -> Result:
    with storefronts(orders) as [shop], workdir() as tmp, monitor_on([shop.url], tmp) as (poller, accounts, sessions, _):
        _poll(poller, accounts)
        poll = median_time(lambda: _poll(poller, accounts), 5)
        session = sessions[accounts[0].label]
        ids = [o["id"] for o in shop.admin.state()["orders"]]
        page = session.page
        detail = OrderDetailPage(page)

        def naive() -> None:
            for order_id in ids:
                session.goto(detail.path(order_id))
                detail.status()

        naive_time = median_time(naive, 1)
    ratio = naive_time / poll
    return Result(f"poll_{orders}_vs_naive", ratio, "x faster", ">= 20", ratio >= 20,
                  f"poll {poll * 1000:.0f} ms, every detail page opened {naive_time:.1f} s")


def cancel_vs_page_loads(samples: int) -> Result:
    with storefronts(10) as [shop], workdir() as tmp, browser(settings(shop.url, tmp / "data")) as b:
        session = b.session(account(shop.url))
        session.ensure_signed_in()
        admin = shop.admin
        admin.settings(complaint_prompt=False)
        flows_times, bare_times = [], []
        for index in range(samples + 1):
            order = admin.create_order(status="awaiting_shipment", seller="silent")["id"]
            start = time.perf_counter()
            result = cancel_order(session, order, "wrong")
            elapsed = time.perf_counter() - start
            assert result.outcome == "requested", result
            if index:  # the first run warms up
                flows_times.append(elapsed)
            other = admin.create_order(status="awaiting_shipment", seller="silent")["id"]
            page = session.page
            start = time.perf_counter()
            for path in (OrdersPage(page).path(), OrderDetailPage.path(other),
                         f"/p/order/cancel.html?orderId={other}", f"/p/order/cancel-result.html?orderId={other}"):
                page.goto(session.url(path))
            if index:
                bare_times.append(time.perf_counter() - start)
    flow, bare = statistics.median(flows_times), statistics.median(bare_times)
    ratio = flow / bare
    return Result("cancel_vs_page_loads", ratio, "x", "<= 1.5", ratio <= 1.5,
                  f"warm cancel {flow * 1000:.0f} ms, its 4 bare page loads {bare * 1000:.0f} ms (median of {samples})")


def peak_memory(orders: int) -> Result:
    with storefronts(orders) as [shop], workdir() as tmp:
        with MemorySampler(exclude=[shop.proc.pid]) as sampler, \
                monitor_on([shop.url], tmp) as (poller, accounts, _, _):
            _poll(poller, accounts)  # the first poll reads every order's detail: the heaviest
            _poll(poller, accounts)
    megabytes = sampler.peak / 2**20
    return Result(f"peak_memory_{orders}_poll", megabytes, "MB", "<= 350", megabytes <= 350,
                  "RSS of the monitor, Playwright's driver and every Chromium process, summed "
                  f"(PSS, shared pages counted once: {sampler.peak_pss / 2**20:.0f} MB)")


def memory_growth(orders: int, polls: int) -> Result:
    with storefronts(orders) as [shop], workdir() as tmp:
        sampler = MemorySampler(exclude=[shop.proc.pid])
        with monitor_on([shop.url], tmp) as (poller, accounts, _, _):
            for _ in range(10):
                _poll(poller, accounts)
            window = max(5, polls // 10)
            samples = []
            for _ in range(polls):
                _poll(poller, accounts)
                samples.append(sampler.rss())
    first, last = statistics.median(samples[:window]), statistics.median(samples[-window:])
    growth = (last - first) / first * 100
    return Result(f"memory_growth_{polls}_polls", growth, "%", "<= 5", growth <= 5,
                  f"{first / 2**20:.0f} MB -> {last / 2**20:.0f} MB (medians of the first and last {window} polls, "
                  f"{orders} orders)")


def db_growth(orders: int, polls: int) -> list[Result]:
    with storefronts(orders) as [shop], workdir() as tmp, monitor_on([shop.url], tmp) as (poller, accounts, _, store):
        shop.admin.clock(freeze=True)  # nothing changes: every poll is unchanged
        _poll(poller, accounts)
        _poll(poller, accounts)

        def size() -> int:
            store.checkpoint()
            return sum(p.stat().st_size for p in tmp.glob("ordermon.db*") if p.suffix != ".lock")

        before, history = size(), store.counts()["history"]
        for _ in range(polls):
            _poll(poller, accounts)
        per_poll = (size() - before) / polls
        new_history = store.counts()["history"] - history
    return [
        Result(f"db_history_rows_per_unchanged_poll_{orders}", new_history / polls, "rows", "0", new_history == 0),
        Result(f"db_bytes_per_unchanged_poll_{orders}", per_poll, "bytes", "<= 1024", per_poll <= 1024,
               f"file size after a checkpoint, averaged over {polls} polls (one polls row each)"),
    ]


def many_accounts(accounts_count: int, orders: int) -> Result:
    with storefronts(*[orders] * accounts_count) as shops, workdir() as tmp, \
            monitor_on([s.url for s in shops], tmp) as (poller, accounts, _, _):
        _poll(poller, accounts)
        singles = sum(median_time(lambda a=a: _poll(poller, [a]), 3) for a in accounts)
        cycle = median_time(lambda: _poll(poller, accounts), 3)
        memory = MemorySampler(exclude=[s.proc.pid for s in shops]).pss()
    n = cores()
    ratio = cycle / (singles / n)
    return Result(f"accounts_{accounts_count}x{orders}_cycle", ratio, "x", "<= 1.2", ratio <= 1.2,
                  f"cycle {cycle * 1000:.0f} ms; single-account polls sum {singles * 1000:.0f} ms over {n} cores; "
                  f"{memory / 2**20:.0f} MB PSS for {accounts_count} accounts")
