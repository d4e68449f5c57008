"""The site: every path ordermon uses on it, and every mapping from its answers to ordermon's types.

This is the one seam between ordermon and an AliExpress-style buyer site. The
pages (flows/pages.py), the readers (flows/reading.py, over HTTP or in the
browser page) and the cancel flow take their URLs from here, and the JSON the
orders page itself fetches is typed here, whatever fetched it. A second site
with other JSON or other paths is another ``Site``, not edits across flows/.
Nothing here imports a browser or an HTTP client.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from .domain import Tab
from .errors import BadAnswer, ListChanged, OrderNotFound
from .models import SITE_JSON, Listed, OrderDetail, OrderSummary, Unreadable
from .text import cleaned, needs_cleaning, printable


class Response(NamedTuple):
    """One answer to a GET, however it was fetched: ``status`` 0 when none came (``text`` says why)."""

    key: str
    status: int
    text: str
    date: str | None = None  # the site's Date header: its clock
    location: str | None = None  # where a redirect leads


class ListPage(BaseModel):
    model_config = SITE_JSON

    orders: list[OrderSummary]
    total: int
    has_more: bool


class _LoosePage(BaseModel):
    """A page of the list whose orders are each checked alone (one of them is out of bounds)."""

    model_config = SITE_JSON

    orders: list[Any]
    total: int
    has_more: bool


class Site:
    """The buyer site ordermon knows: its paths and its JSON."""

    SIGN_IN = "/login"
    ORDERS_PAGE = "/p/order/index.html"
    ORDER_PAGE = "/p/order/detail.html"
    LIST_JSON = "/p/order/list.json"
    DETAIL_JSON = "/p/order/detail.json"
    PAGE_SIZE = 100  # the most the list's JSON gives per request

    # ---------------------------------------------------------------- where things are
    def orders_page(self, tab: Tab = Tab.ALL) -> str:
        return f"{self.ORDERS_PAGE}?tab={tab.value}"

    def order_page(self, order_id: str) -> str:
        return f"{self.ORDER_PAGE}?orderId={order_id}"

    def list_json(self, tab: Tab, page: int, size: int | None = None) -> str:
        return f"{self.LIST_JSON}?tab={tab.value}&pageSize={size or self.PAGE_SIZE}&page={page}"

    def detail_json(self, order_id: str) -> str:
        return f"{self.DETAIL_JSON}?orderId={order_id}"

    def is_sign_in(self, url: str) -> bool:
        return urlsplit(url).path == self.SIGN_IN

    # ---------------------------------------------------------------- what its answers say
    def signed_out(self, response: Response) -> bool:
        """The site asks to sign in again: a 401, or a redirect to the sign-in page."""
        return response.status == 401 or (300 <= response.status < 400 and self.is_sign_in(response.location or ""))

    @staticmethod
    def unavailable(response: Response) -> bool:
        """No answer, or a server error: the site is unavailable (tried again)."""
        return response.status == 0 or response.status >= 500

    @staticmethod
    def clock(response: Response) -> dt.datetime | None:
        """The site's own time, from its Date header: every deadline is judged by it."""
        if not response.date:
            return None
        try:
            return email.utils.parsedate_to_datetime(response.date).astimezone(dt.UTC)
        except (TypeError, ValueError, OverflowError):  # year 9999 at -1200 is past datetime's end
            return None

    def pages(self, first: Response, *, most: int) -> int:
        """How many pages of the list there are, from its first page: at most enough for ``most``
        orders, and a first page that holds what its total says (else the site answered badly:
        a claimed total of millions is not read page by page)."""
        if first.status != 200:
            raise BadAnswer(f"the order list answered HTTP {first.status}")
        try:
            page = json.loads(first.text)
            total, held = page["total"], len(page["orders"])
        except (ValueError, KeyError, TypeError, RecursionError):  # a list nested 100,000 deep, too
            raise BadAnswer("the order list answered something else than an order list") from None
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise BadAnswer(f"the order list claims a total of {str(total)[:20]!r} orders")
        if total > most:
            raise BadAnswer(f"the order list claims {total} orders, more than the {most} ordermon reads (max_orders)")
        if held != min(total, self.PAGE_SIZE):
            raise BadAnswer(f"the order list claims {total} orders, but its first page holds {held}")
        return -(-total // self.PAGE_SIZE)

    def orders(self, pages: list[Response]) -> Listed:
        """Every page of the list as one list of orders (the first page's total must hold); an
        order out of bounds is unreadable, and the others are read as usual."""
        parsed = [self._page(r) for r in pages]
        seen: dict[str, OrderSummary] = {}
        unreadable: list[Unreadable] = []
        for orders, bad, _ in parsed:
            for order in orders:
                seen.setdefault(order.id, order)
            unreadable += bad
        total = parsed[0][2]
        if len(seen) + len(unreadable) != total:
            raise ListChanged(f"the order list changed while it was read ({len(seen) + len(unreadable)} of {total})")
        return Listed(list(seen.values()), unreadable)

    def _page(self, response: Response) -> tuple[list[OrderSummary], list[Unreadable], int]:
        try:
            page = _printable(ListPage.model_validate_json(response.text), response.text)
            return page.orders, [], page.total
        except ValidationError:
            pass  # the page as a whole, or one of its orders: each order is then checked alone
        try:
            loose = _LoosePage.model_validate_json(response.text)
        except ValidationError as exc:
            raise BadAnswer(f"{self.LIST_JSON} answered something else than an order list: {_why(exc)}") from None
        orders, bad = [], []
        for raw in loose.orders:
            try:
                orders.append(cleaned(OrderSummary.model_validate(raw)))
            except ValidationError as exc:
                bad.append(Unreadable(_id_of(raw), _why(exc)))
        return orders, bad, loose.total

    def detail(self, response: Response) -> OrderDetail:
        """An order's detail (``key``: its id)."""
        if response.status in (400, 404):
            raise OrderNotFound(f"order {response.key} not found")
        if response.status != 200:
            raise BadAnswer(f"{self.DETAIL_JSON} answered HTTP {response.status}")
        try:
            return _printable(OrderDetail.model_validate_json(response.text), response.text)
        except ValidationError as exc:
            raise BadAnswer(f"{self.DETAIL_JSON} answered something else than an order: {_why(exc)}") from None


def _why(exc: ValidationError) -> str:
    """Pydantic's first complaint, with where it is (``orders.2.placed_at``): never the value."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])[:80]
    return cleaned(f"{where}: {error['msg']}"[:200])


def _id_of(raw: Any) -> str:
    """An unreadable order's id as the site gave it, printable and short (it may be anything)."""
    found = raw.get("id") if isinstance(raw, dict) else None
    return printable(str(found))[:40] if found is not None else "?"


def _printable(record: Any, raw: str) -> Any:
    """Site text reaches ordermon without control characters (a store named with escape sequences
    must not reach a terminal); the scan of the raw text keeps the common case free."""
    return cleaned(record) if needs_cleaning(raw) else record


#: The one site ordermon knows today.
SITE = Site()
