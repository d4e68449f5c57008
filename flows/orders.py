"""Reading orders: the list (every tab, every page) and orders' details.

The fast way reads the JSON that the orders page itself fetches, with the
page's own ``fetch`` in the signed-in browser page: one call from Python
fetches every page of the list (or a batch of details) concurrently, retrying
a failed request in the page. The UI way clicks "View orders" until there is
no more.

Reads come in two halves, ``start_*`` and ``collect``, so that the monitor can
have every account's browser page fetching at once.
"""

from __future__ import annotations

from pydantic import BaseModel

from .domain import Tab
from .errors import OrderNotFound, UnexpectedPage
from .models import OrderDetail, OrderSummary
from .pages import OrdersPage
from .session import AccountSession, PendingFetch

LIST_JSON = "/p/order/list.json"
DETAIL_JSON = "/p/order/detail.json"
PAGE_SIZE = 100  # the most the endpoint gives per request
CONCURRENCY = 6  # Chromium's connections per host


class ListPage(BaseModel):
    orders: list[OrderSummary]
    total: int
    has_more: bool


# Fetch page 1, then every other page at once; retry a page that fails (5xx or
# network) a few times. Returns {status, date, text} per page.
LIST_JS = """
async ({url, tab, size, retries, backoff, timeout}) => {
  const get = async (page) => {
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await fetch(`${url}?tab=${tab}&page=${page}&pageSize=${size}`,
                        {credentials: "same-origin", headers: {Accept: "application/json"},
                         signal: AbortSignal.timeout(timeout)});
      } catch (e) {
        if (attempt >= retries) return {status: 0, date: null, text: String(e)};
        await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
        continue;
      }
      if (r.status >= 500 && attempt < retries) {
        await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
        continue;
      }
      return {status: r.status, date: r.headers.get("date"), text: await r.text()};
    }
  };
  const first = await get(1);
  if (first.status !== 200) return [first];
  let total;
  try { total = JSON.parse(first.text).total; } catch (e) { return [first]; }
  const pages = Math.ceil(total / size);
  const rest = [];
  for (let start = 2; start <= pages; start += 24) {
    const chunk = [];
    for (let p = start; p < Math.min(start + 24, pages + 1); p++) chunk.push(get(p));
    rest.push(...await Promise.all(chunk));
  }
  return [first, ...rest];
}
"""

# Fetch each order's detail, ``limit`` at a time, retrying failures.
DETAILS_JS = """
async ({url, ids, limit, retries, backoff, timeout}) => {
  const out = new Array(ids.length);
  let next = 0;
  const one = async (id) => {
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await fetch(`${url}?orderId=${id}`, {credentials: "same-origin", headers: {Accept: "application/json"},
                                                    signal: AbortSignal.timeout(timeout)});
      } catch (e) {
        if (attempt >= retries) return {id, status: 0, date: null, text: String(e)};
        await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
        continue;
      }
      if (r.status >= 500 && attempt < retries) {
        await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
        continue;
      }
      return {id, status: r.status, date: r.headers.get("date"), text: await r.text()};
    }
  };
  const worker = async () => { while (next < ids.length) { const i = next++; out[i] = await one(ids[i]); } };
  await Promise.all(Array.from({length: Math.min(limit, ids.length)}, worker));
  return out;
}
"""


def _retry_args(session: AccountSession) -> dict:
    settings = session.settings
    return {"retries": settings.retries, "backoff": settings.retry_backoff * 1000, "timeout": settings.timeout * 1000}


def start_read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> PendingFetch:
    return session.start_fetch(LIST_JS, {"url": LIST_JSON, "tab": tab.value, "size": PAGE_SIZE,
                                         **_retry_args(session)})


def collect_orders(pending: PendingFetch) -> list[OrderSummary]:
    responses = pending.collect()
    pages = [ListPage.model_validate_json(r["text"]) for r in responses]
    seen: dict[str, OrderSummary] = {}
    for page in pages:
        for order in page.orders:
            seen.setdefault(order.id, order)
    if len(seen) != pages[0].total:
        # Orders came or went while the pages were read: the caller reads again.
        raise UnexpectedPage(f"the order list changed while it was read ({len(seen)} of {pages[0].total})")
    return list(seen.values())


def read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> list[OrderSummary]:
    try:
        return collect_orders(start_read_orders(session, tab))
    except UnexpectedPage:
        return collect_orders(start_read_orders(session, tab))


def start_read_details(session: AccountSession, order_ids: list[str]) -> PendingFetch:
    return session.start_fetch(DETAILS_JS, {"url": DETAIL_JSON, "ids": list(order_ids),
                                            "limit": CONCURRENCY, **_retry_args(session)})


def collect_details(pending: PendingFetch) -> dict[str, OrderDetail]:
    details = {}
    for response in pending.collect(allow={404}):
        if response["status"] == 404:
            raise OrderNotFound(f"order {response['id']} not found")
        details[response["id"]] = OrderDetail.model_validate_json(response["text"])
    return details


DETAIL_CHUNK = 500  # details per call: bounds the memory one call needs


def read_details(session: AccountSession, order_ids: list[str]) -> dict[str, OrderDetail]:
    details: dict[str, OrderDetail] = {}
    for start in range(0, len(order_ids), DETAIL_CHUNK):
        details.update(collect_details(start_read_details(session, order_ids[start:start + DETAIL_CHUNK])))
    return details


def read_detail(session: AccountSession, order_id: str) -> OrderDetail:
    """One order's detail, through the signed-in context."""
    status, data = session.get_json(DETAIL_JSON, {"orderId": order_id})
    if status in (400, 404):
        raise OrderNotFound(f"order {order_id} not found")
    if status != 200:
        raise UnexpectedPage(f"{DETAIL_JSON} answered HTTP {status}")
    return OrderDetail.model_validate(data)


def read_order_ids_ui(session: AccountSession, tab: Tab = Tab.ALL) -> list[str]:
    """The ids on the orders page, after clicking "View orders" until there is no more."""
    orders_page = OrdersPage(session.page)
    session.goto(orders_page.path(tab))
    orders_page.wait_loaded()
    orders_page.load_all()
    return orders_page.order_ids()
