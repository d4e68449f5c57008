"""Reading orders: the list (every tab, every page) and orders' details.

The fast way reads the JSON that the orders page itself fetches (``list.json``,
``detail.json``), with the page's own ``fetch`` (flows/fetch.py); the answers
are checked and typed here, whatever fetched them. The UI way clicks "View
orders" until there is no more.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ValidationError

from .domain import Tab
from .errors import ListChanged, OrderNotFound, UnexpectedPage
from .fetch import MANY_JS, PAGED_JS, PendingFetch
from .models import OrderDetail, OrderSummary, Planner, Reading
from .session import AccountSession
from .text import cleaned, needs_cleaning

LIST_JSON = "/p/order/list.json"
DETAIL_JSON = "/p/order/detail.json"
PAGE_SIZE = 100  # the most the endpoint gives per request
CONCURRENCY = 6  # Chromium's connections per host
DETAIL_CHUNK = 500  # details per call: bounds the memory one call needs


class ListPage(BaseModel):
    orders: list[OrderSummary]
    total: int
    has_more: bool


def list_prefix(tab: Tab) -> str:
    """The list's URL, but for the page number at its end."""
    return f"{LIST_JSON}?tab={tab.value}&pageSize={PAGE_SIZE}&page="


def detail_url(order_id: str) -> str:
    return f"{DETAIL_JSON}?orderId={order_id}"


def detail_page(order_id: str) -> str:
    return f"/p/order/detail.html?orderId={order_id}"


# ---------------------------------------------------------------------- the answers, typed
def _printable(record, raw: str):
    """Site text reaches ordermon without control characters (a store named with escape sequences
    must not reach a terminal); the scan of the raw text keeps the common case free."""
    return cleaned(record) if needs_cleaning(raw) else record


def orders_from_pages(responses: list[dict]) -> list[OrderSummary]:
    """Every page's ``{status, text}`` answer (status 200) as one list of orders."""
    try:
        pages = [_printable(ListPage.model_validate_json(r["text"]), r["text"]) for r in responses]
    except ValidationError as exc:
        raise UnexpectedPage(
            f"{LIST_JSON} answered something else than an order list: {exc.errors()[0]['msg']}"
        ) from None
    seen: dict[str, OrderSummary] = {}
    for page in pages:
        for order in page.orders:
            seen.setdefault(order.id, order)
    if len(seen) != pages[0].total:
        raise ListChanged(f"the order list changed while it was read ({len(seen)} of {pages[0].total})")
    return list(seen.values())


def details_from_responses(responses: list[dict]) -> dict[str, OrderDetail]:
    """Each ``{key: order id, status, text}`` answer as an order's detail."""
    details = {}
    for response in responses:
        if response["status"] == 404:
            raise OrderNotFound(f"order {response['key']} not found")
        try:
            details[response["key"]] = _printable(OrderDetail.model_validate_json(response["text"]), response["text"])
        except ValidationError as exc:
            raise UnexpectedPage(
                f"{DETAIL_JSON} answered something else than an order: {exc.errors()[0]['msg']}"
            ) from None
    return details


# ---------------------------------------------------------------------- in the browser page
def start_read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> PendingFetch:
    return session.fetcher.start(PAGED_JS, {"prefix": list_prefix(tab), "size": PAGE_SIZE})


def collect_orders(pending: PendingFetch) -> list[OrderSummary]:
    return orders_from_pages(pending.collect())


def read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> list[OrderSummary]:
    try:
        return collect_orders(start_read_orders(session, tab))
    except ListChanged:  # an order came or went meanwhile: once more
        return collect_orders(start_read_orders(session, tab))


def start_read_details(session: AccountSession, order_ids: list[str]) -> PendingFetch:
    return session.fetcher.start(
        MANY_JS, {"urls": [detail_url(i) for i in order_ids], "keys": list(order_ids), "limit": CONCURRENCY}
    )


def collect_details(pending: PendingFetch) -> dict[str, OrderDetail]:
    return details_from_responses(pending.collect(allow=frozenset({404})))


def read_details(session: AccountSession, order_ids: list[str]) -> dict[str, OrderDetail]:
    details: dict[str, OrderDetail] = {}
    for start in range(0, len(order_ids), DETAIL_CHUNK):
        details.update(collect_details(start_read_details(session, order_ids[start : start + DETAIL_CHUNK])))
    return details


def read_planned(reader, plans: dict[str, Planner]) -> dict[str, Reading | Exception]:
    """Every account's list, then the details each planner asks for once its list is read."""
    lists = reader.lists(list(plans))
    wanted: dict[str, list[str]] = {}
    for label, found in lists.items():
        if not isinstance(found, Exception):
            wanted[label] = plans[label](found, reader.site_now(label) or dt.datetime.now(dt.UTC))
    details = reader.details(wanted)
    out: dict[str, Reading | Exception] = {}
    for label, found in lists.items():
        got = details.get(label, {})
        if isinstance(found, Exception) or isinstance(got, Exception):
            out[label] = found if isinstance(found, Exception) else got
        else:
            out[label] = Reading(found, got, reader.site_now(label))
    return out


class BrowserReader:
    """The poller's reads in each account's signed-in browser page, with the page's own fetch:
    every account's page fetching at the same time."""

    def __init__(self, sessions: dict[str, AccountSession], progress=None):
        self.sessions = sessions
        self.progress = progress

    def site_now(self, label: str):
        return self.sessions[label].site_now

    def read(self, plans: dict[str, Planner]) -> dict[str, Reading | Exception]:
        return read_planned(self, plans)

    def order_url(self, label: str, order_id: str) -> str:
        return self.sessions[label].base_url + detail_page(order_id)

    def lists(self, labels: list[str], tab: Tab = Tab.ALL) -> dict[str, list[OrderSummary] | Exception]:
        started, results = {}, {}
        for label in labels:
            try:
                started[label] = start_read_orders(self.sessions[label], tab)
            except Exception as exc:  # the poller records it (and logs a surprise)
                results[label] = exc
        for label, pending in started.items():
            try:
                try:
                    results[label] = collect_orders(pending)
                except ListChanged:  # an order came or went meanwhile: once more
                    results[label] = read_orders(self.sessions[label], tab)
            except Exception as exc:
                results[label] = exc
        return results

    def details(self, wanted: dict[str, list[str]]) -> dict[str, dict[str, OrderDetail] | Exception]:
        started, results = {}, {}
        for label, ids in wanted.items():
            if ids and len(ids) <= DETAIL_CHUNK:  # many (a first poll) are read in chunks, after the others
                try:
                    started[label] = start_read_details(self.sessions[label], ids)
                except Exception as exc:
                    results[label] = exc
        for label, ids in wanted.items():
            if not ids or label in results:
                continue
            try:
                if label in started:
                    results[label] = collect_details(started[label])
                else:
                    results[label] = {}
                    for start in range(0, len(ids), DETAIL_CHUNK):
                        results[label] |= collect_details(
                            start_read_details(self.sessions[label], ids[start : start + DETAIL_CHUNK])
                        )
                        if self.progress:
                            self.progress(label, len(results[label]), len(ids), "details")
            except Exception as exc:
                results[label] = exc
        return results


def read_detail(session: AccountSession, order_id: str) -> OrderDetail:
    """One order's detail, through the signed-in context."""
    status, data = session.get_json(DETAIL_JSON, {"orderId": order_id})
    if status in (400, 404):
        raise OrderNotFound(f"order {order_id} not found")
    if status != 200:
        raise UnexpectedPage(f"{DETAIL_JSON} answered HTTP {status}")
    return cleaned(OrderDetail.model_validate(data))


def read_order_ids_ui(session: AccountSession, tab: Tab = Tab.ALL) -> list[str]:
    """The ids on the orders page, after clicking "View orders" until there is no more."""
    orders_page = session.open_orders(tab)
    orders_page.load_all()
    return orders_page.order_ids()
