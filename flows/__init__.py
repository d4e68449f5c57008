"""Playwright flows for an AliExpress-style buyer site: read orders, cancel one.

The names below load on first use (PEP 562), so that a command which only needs
``flows.errors`` (say, to report bad input) does not import Playwright, httpx and
pydantic first.
"""

from __future__ import annotations

import importlib
import logging

# A library logs; the application decides where (``ordermon monitor`` prints to the console).
logging.getLogger("ordermon").addHandler(logging.NullHandler())

_HOMES = {
    "account": ("Account",),
    # Not api.cancel: ``flows.cancel`` is the module of the cancel flow.
    "api": ("cancel_many", "list_orders", "load_settings", "order_detail"),
    "browser": ("Browser",),
    "cancel": ("cancel_order",),
    "domain": ("Status", "Tab"),
    "errors": (
        "BadReason",
        "CaptchaRequired",
        "FlowError",
        "NotCancellable",
        "OrderNotFound",
        "SignInFailed",
        "SiteUnavailable",
        "SubmitUnconfirmed",
        "UnexpectedPage",
    ),
    "models": ("CancelResult", "OrderDetail", "OrderSummary"),
    "orders": ("read_detail", "read_details", "read_order_ids_ui", "read_orders"),
    "reasons": ("match_reason",),
    "retry": ("retrying",),
    "session": ("AccountSession",),
    "settings": ("FlowSettings",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_HOME_OF)  # noqa: PLE0605 (the lazy names above, each once)


def __getattr__(name: str):
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
