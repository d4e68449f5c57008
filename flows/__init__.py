"""Playwright flows for an AliExpress-style buyer site: read orders, cancel one."""

import logging

from .account import Account
from .api import cancel, cancel_many, list_orders, load_settings, order_detail
from .browser import Browser
from .cancel import cancel_order
from .domain import Status, Tab
from .errors import (
    BadReason, CaptchaRequired, FlowError, NotCancellable, OrderNotFound, SignInFailed, SiteUnavailable,
    SubmitUnconfirmed, UnexpectedPage,
)
from .models import CancelResult, OrderDetail, OrderSummary
from .orders import read_detail, read_details, read_order_ids_ui, read_orders
from .reasons import match_reason
from .retry import retrying
from .session import AccountSession
from .settings import FlowSettings

# A library logs; the application decides where (``ordermon monitor`` prints to the console).
logging.getLogger("ordermon").addHandler(logging.NullHandler())

__all__ = [
    "Account", "AccountSession", "BadReason", "Browser", "CancelResult", "CaptchaRequired",
    "FlowError", "FlowSettings", "NotCancellable", "OrderDetail", "OrderNotFound", "OrderSummary",
    "SignInFailed", "SiteUnavailable", "Status", "SubmitUnconfirmed", "Tab", "UnexpectedPage", "cancel",
    "cancel_many", "cancel_order", "list_orders", "load_settings", "match_reason", "order_detail", "read_detail",
    "read_details", "read_order_ids_ui", "read_orders", "retrying",
]
