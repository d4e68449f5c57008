"""Reading orders: the list (every tab, every page) and one order's details.

The fast way reads the JSON the orders page itself fetches, through the
signed-in browser context (cookies, headers and all, as the page would); the
UI way clicks "View orders" until there is no more.
"""

from __future__ import annotations

from .domain import Tab
from .errors import OrderNotFound, UnexpectedPage
from .models import OrderDetail, OrderSummary
from .pages import OrdersPage
from .session import AccountSession

LIST_JSON = "/p/order/list.json"
DETAIL_JSON = "/p/order/detail.json"
PAGE_SIZE = 100  # the most the endpoint gives per request


def read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> list[OrderSummary]:
    orders: list[OrderSummary] = []
    page = 1
    while True:
        status, data = session.get_json(LIST_JSON, {"tab": tab.value, "page": page, "pageSize": PAGE_SIZE})
        if status != 200:
            raise UnexpectedPage(f"{LIST_JSON} answered HTTP {status}: {data.get('error', '')}")
        orders.extend(OrderSummary.model_validate(card) for card in data["orders"])
        if not data["has_more"]:
            return orders
        page += 1


def read_detail(session: AccountSession, order_id: str) -> OrderDetail:
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
