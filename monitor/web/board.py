"""What the dashboard shows, from the database: the rules' judgement of every order, as
``ordermon status`` makes it (``monitor.views``: ``judge``, ``status_row``, ``by_need``,
``alert_rows``), never its own.

Cheap to leave running over many orders: the board keeps of each order only what places and
filters it (an ``Entry``: what it needs, its rank, the findings that hold), and judges an order
again only when its stored row changed, its account's site time went back, or the time passed
the next moment at which the rules may say something new of it (``rules.next_moment``). The
rows a page or the API shows are judged afresh when they are shown. The store is used from one
thread only (a SQLite connection belongs to the thread that opened it), never from the server's
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from flows.domain import STATUS_LABELS, Status

from .. import ics, rules
from ..accounts import config_of, order_urls
from ..html_report import order_view
from ..memory import hand_back_pages
from ..order import COLUMNS, Order
from ..settings import MonitorSettings
from ..store import Store, open_store
from ..views import alert_rows, by_need, held, judge, judged_orders, status_row, unreadable_row
from ..windows import RuleConfig

T = TypeVar("T")

#: The "needs" facet of an order, in the judgement's words: its attention, else whether a
#: deadline still binds it. Each order has exactly one.
NEEDS = {
    "overdue": "Overdue",
    "warning": "Needs attention",
    "on_track": "On track",
    "no_deadline": "No deadline",
    "unreadable": "Unreadable",
}
PAGE_SIZE = 100
_ACCOUNT, _ORDER_ID = COLUMNS.index("account"), COLUMNS.index("order_id")


def needs(row: dict[str, Any]) -> str:
    """A status row's need (``ordermon status --json``'s attention and next deadline)."""
    if row["attention"] in ("overdue", "warning", "unreadable"):
        return row["attention"]
    return "on_track" if row["next_deadline"] else "no_deadline"


@dataclass(frozen=True, slots=True)
class Entry:
    """One order as the lists need it, judged at ``now``; the same until ``until`` (None: until
    it changes)."""

    account: str
    order_id: str
    status: str
    store: str
    need: str
    rank: tuple
    holding: frozenset[tuple[str, str, str]]
    stored: int  # the hash of its stored row
    now: dt.datetime | None
    until: dt.datetime | None
    config: str  # the windows it was judged with (``rules.judged_with``)

    def still(self, stored: int, now: dt.datetime | None, config: str) -> bool:
        if (stored, config) != (self.stored, self.config) or (now is None) != (self.now is None):
            return False
        return now is None or self.now is None or (self.now <= now and (self.until is None or now < self.until))


@dataclass(frozen=True)
class Snapshot:
    """Every order placed and filtered at one stamp of the database, and its alerts."""

    stamp: str
    entries: list[Entry]  # by what they need, then by next deadline
    unreadable: list[dict[str, Any]]  # status rows of the orders the site answered out of bounds
    alerts: list[dict[str, Any]]
    accounts: list[str]
    statuses: list[str]

    @property
    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(NEEDS, 0)
        for entry in self.entries:
            found[entry.need] += 1
        found["unreadable"] = len(self.unreadable)
        return found | {"open_alerts": sum(1 for a in self.alerts if a["open"])}

    def select(self, *, need: str = "", status: str = "", account: str = "", q: str = "") -> list[Entry | dict]:
        """The orders a filter keeps (what they need, status, account, a search in id or store), in
        ``ordermon status``'s order: judged ones as entries, then unreadable ones as rows."""
        term = q.strip().casefold()

        def kept(account_: str, order_id: str, status_: str, store: str, need_: str) -> bool:
            return (
                (not need or need_ == need)
                and (not status or status_ == status)
                and (not account or account_ == account)
                and (not term or term in order_id.casefold() or term in store.casefold())
            )

        return [e for e in self.entries if kept(e.account, e.order_id, e.status, e.store, e.need)] + [
            u for u in self.unreadable if kept(u["account"], u["order_id"], "", "", "unreadable")
        ]


class Board:
    """The dashboard's one reader of the database."""

    def __init__(self, settings: MonitorSettings, db: str | Path):
        self.settings = settings
        self.db = db
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordermon-board")
        self._store: Store = self._thread.submit(open_store, db, read_only=True).result()
        self._entries: dict[tuple[str, str], Entry] = {}
        self._snapshot: Snapshot | None = None
        self._calendar: tuple[str, bytes] | None = None
        self.call(self.snapshot)  # the first judgement, before the first page asks

    def close(self) -> None:
        self._thread.submit(self._store.close).result()
        self._thread.shutdown()

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` on the store's thread, the event loop free meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(self._reconnecting, work))

    def call(self, work: Callable[[], T]) -> T:
        """``work`` on the store's thread, waited for (outside the server's event loop)."""
        return self._thread.submit(self._reconnecting, work).result()

    def _reconnecting(self, work: Callable[[], T]) -> T:
        """``work``, once more on a new connection if the database dropped this one (PostgreSQL
        restarted): the dashboard outlives its database's restarts. Unreachable still: StoreUnreachable."""
        try:
            return work()
        except Exception as exc:
            psycopg = sys.modules.get("psycopg")
            if psycopg is None or not isinstance(exc, psycopg.OperationalError):
                raise
        with contextlib.suppress(Exception):
            self._store.close()
        self._store = open_store(self.db, read_only=True)
        return work()

    # ------------------------------------------------------------ on the store's thread
    def stamp(self) -> str:
        return ".".join(str(n or 0) for n in self._store.stamp())

    def snapshot(self) -> Snapshot:
        stamp = self.stamp()
        if self._snapshot is None or self._snapshot.stamp != stamp:
            self._snapshot = None  # the last one's memory free for this one's
            with _no_collection():
                self._snapshot = self._judge(stamp)
            hand_back_pages()
        return self._snapshot

    def _judge(self, stamp: str) -> Snapshot:
        nows: dict[str, dt.datetime | None] = {}
        configs: dict[str, tuple[RuleConfig, str]] = {}
        config = config_of(self.settings, self._store)
        entries: dict[tuple[str, str], Entry] = {}
        for row in self._store.order_rows():
            account = row[_ACCOUNT]
            key = (account, row[_ORDER_ID])
            if account not in nows:
                windows = config(account)
                nows[account], configs[account] = self._store.site_now(account), (windows, rules.judged_with(windows))
            now, (windows, fingerprint), stored = nows[account], configs[account], hash(row)
            known = self._entries.get(key)
            if known is not None and known.still(stored, now, fingerprint):
                entries[key] = known
            else:
                order = Order.from_row(dict(zip(COLUMNS, row, strict=True)))
                entries[key] = _entry(order, now, windows, stored=stored, config=fingerprint)
        self._entries = entries
        unreadable = [unreadable_row(u) for u in self._store.unreadable()]
        statuses = {e.status for e in entries.values()}
        return Snapshot(
            stamp=stamp,
            entries=sorted(entries.values(), key=lambda e: e.rank),
            unreadable=unreadable,
            alerts=alert_rows(self._store, holding={key: set(e.holding) for key, e in entries.items()}),
            accounts=sorted({e.account for e in entries.values()} | {u["account"] for u in unreadable}),
            statuses=[s.value for s in Status if s.value in statuses],
        )

    def rows(self, chosen: list[Entry | dict]) -> list[dict[str, Any]]:
        """The status rows of these orders (``ordermon status --json``'s), judged now."""
        wanted: dict[str, list[str]] = {}
        for item in chosen:
            if isinstance(item, Entry):
                wanted.setdefault(item.account, []).append(item.order_id)
        judged = {}
        config = config_of(self.settings, self._store)
        for account, ids in wanted.items():
            now, windows = self._store.site_now(account), config(account)
            for order in self._store.orders_by_id(account, ids):
                judged[(account, order.order_id)] = status_row(judge(order, now, windows))
        # An order gone since the snapshot (an account forgotten) is not shown rather than guessed.
        return [
            judged[(i.account, i.order_id)] if isinstance(i, Entry) else i
            for i in chosen
            if not isinstance(i, Entry) or (i.account, i.order_id) in judged
        ]

    def health(self) -> dict[str, Any]:
        """The ``status --check`` judgement, now; with a fleet's workers where the store has them."""
        from ..views import health

        configured = [a.label for a in self.settings.account_list()] if self.settings.accounts else None
        kept = [row["name"] for row in self._store.accounts()]
        found = health(self._store, self.settings.poll_interval, configured or kept or None)
        workers = getattr(self._store, "workers", None)
        return found | ({"workers": workers()} if workers else {})

    def order(self, order_id: str, account: str | None = None) -> list[dict[str, Any]]:
        """Every order of that id (in ``account``, if given): its status row, its report view
        (timeline, deadlines), its history, its alerts with their deliveries, its page on the site."""
        snap = self.snapshot()
        config = config_of(self.settings, self._store)
        found = []
        for label in sorted({e.account for e in snap.entries if e.order_id == order_id}):
            if account and label != account:
                continue
            orders = self._store.orders_by_id(label, [order_id])
            if not orders:  # gone since the snapshot
                continue
            j = judge(orders[0], self._store.site_now(label), config(label))
            alerts = [a for a in snap.alerts if a["account"] == label and a["order_id"] == order_id]
            found.append(
                {
                    "row": status_row(j),
                    "view": order_view(j),
                    "history": self._store.history(order_id, label),
                    "alerts": alerts,
                    "url": self._order_url(label, order_id, alerts),
                }
            )
        return found

    def _order_url(self, account: str, order_id: str, alerts: list[dict[str, Any]]) -> str | None:
        """The order's page on the site: as its alerts link it, else from its account's site."""
        linked = next((a["url"] for a in alerts if a["url"]), None)
        return linked or order_urls(self.settings, self._store)(account, order_id)

    def calendar(self) -> bytes:
        """Every binding deadline as an iCalendar file (``monitor.ics``), made once per stamp."""
        stamp = self.stamp()
        if self._calendar is None or self._calendar[0] != stamp:
            with _no_collection():
                judged = judged_orders(self._store, config_of(self.settings, self._store))
                made = ics.calendar(judged, order_url=order_urls(self.settings, self._store))
            self._calendar = (stamp, made)
            hand_back_pages()
        return self._calendar[1]


def _entry(order: Order, now: dt.datetime | None, windows: RuleConfig, *, stored: int, config: str) -> Entry:
    j = judge(order, now, windows)
    row_need = j.attention.value if j.attention.value in ("overdue", "warning") else None
    return Entry(
        account=order.account,
        order_id=order.order_id,
        status=order.status.value,
        store=order.store or "",
        need=row_need or ("on_track" if j.next_deadline else "no_deadline"),
        rank=by_need(j),
        holding=frozenset(held(j)),
        stored=stored,
        now=now,
        until=rules.judgement_changes(order, now, windows) if now is not None else None,
        config=config,
    )


@contextmanager
def _no_collection() -> Iterator[None]:
    """Judging thousands of orders makes short-lived objects by the million: the cyclic collector,
    run hundreds of times meanwhile, would take a third of the time and free nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def status_label(status: str | None) -> str:
    """A status in the site's words (a status this ordermon does not know, as the site named it)."""
    try:
        return STATUS_LABELS[Status(status or "")]
    except ValueError:
        return status or ""
