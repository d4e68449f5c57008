"""Reading one account's orders in its signed-in browser session: the list (every page of a tab)
and orders' details, through the one reader (flows/reading.py) and the session's context (no page
needs to be open on the site); or the UI way, clicking "View orders" until there is no more."""

from __future__ import annotations

from .domain import Tab
from .fetch import ContextTransport
from .models import OrderDetail, OrderSummary
from .reading import SiteReader, listed_orders
from .session import AccountSession


def reader(session: AccountSession) -> SiteReader:
    """The reader of this session's account, in its page."""
    return SiteReader(session.settings, ContextTransport({session.account.label: session}))


def _one(found):
    if isinstance(found, Exception):
        raise found
    return found


def read_orders(session: AccountSession, tab: Tab = Tab.ALL) -> list[OrderSummary]:
    return listed_orders(_one(reader(session).lists([session.account.label], tab)[session.account.label]))


def read_details(session: AccountSession, order_ids: list[str]) -> dict[str, OrderDetail]:
    if not order_ids:
        return {}
    return dict(_one(reader(session).details({session.account.label: order_ids})[session.account.label]))


def read_detail(session: AccountSession, order_id: str) -> OrderDetail:
    """One order's detail."""
    return read_details(session, [order_id])[order_id]


def read_order_ids_ui(session: AccountSession, tab: Tab = Tab.ALL) -> list[str]:
    """The ids on the orders page, after clicking "View orders" until there is no more."""
    orders_page = session.open_orders(tab)
    orders_page.load_all()
    return orders_page.order_ids()
