"""One-shot operations the CLI (and scripts) call: open a browser, do one thing, close."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_settings import SettingsError as PydanticSettingsError

from .account import Account
from .browser import Browser
from .domain import Tab
from .errors import BrowserUnavailable, FlowError, LocalStateError, SettingsError, SignInFailed
from .models import CancelResult, OrderDetail, OrderSummary
from .reading import Progress, SiteReader, listed_orders
from .settings import FlowSettings

# Playwright is imported only where a browser is needed: reading over HTTP needs none until the
# site asks to sign in again.


def load_settings(cls: type[FlowSettings] = FlowSettings, **overrides) -> FlowSettings:
    """Settings from the environment and .env, with CLI flags (not None) on top."""
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
    except PydanticSettingsError as exc:  # a value that is not even JSON, e.g. ORDERMON_ACCOUNTS
        raise SettingsError(describe_source_error(exc)) from None


def describe_settings_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"])
    return f"bad setting ORDERMON_{name.upper()}: {err['msg'].removeprefix('Value error, ')}"


def describe_source_error(exc: PydanticSettingsError) -> str:
    # pydantic-settings says: error parsing value for field "accounts" from source "EnvSettingsSource"
    text = str(exc)
    field = text.split('field "', 1)[1].split('"', 1)[0] if 'field "' in text else ""
    return f"bad setting ORDERMON_{field.upper()}: not valid JSON" if field else f"bad setting: {text}"


def list_orders(settings: FlowSettings, tab: Tab = Tab.ALL, *, progress: Progress | None = None) -> list[OrderSummary]:
    """Every order of the tab; ``progress(account, done, total, "pages")`` as the pages come."""
    account = Account.from_settings(settings)
    if settings.poll_via == "http":  # the browser only to sign in, when the site asks
        return listed_orders(
            _answer(_http_reader(settings, account, progress).lists([account.label], tab)[account.label])
        )
    from .orders import read_orders
    from .session import AccountSession

    with Browser(settings) as browser:
        return read_orders(AccountSession(browser, account), tab)


def order_detail(settings: FlowSettings, order_id: str) -> OrderDetail:
    account = Account.from_settings(settings)
    if settings.poll_via == "http":
        found = _answer(_http_reader(settings, account).details({account.label: [order_id]})[account.label])
        return found[order_id]
    from .orders import read_detail
    from .session import AccountSession

    with Browser(settings) as browser:
        return read_detail(AccountSession(browser, account), order_id)


def _http_reader(settings: FlowSettings, account: Account, progress: Progress | None = None) -> SiteReader:
    from .http import HttpTransport

    transport = HttpTransport(settings, [account], sign_in=lambda a: sign_in_with_browser(settings, a))
    return SiteReader(settings, transport, progress=progress)


def sign_in_with_browser(settings: FlowSettings, account: Account) -> None:
    """Start the browser only to sign in (untraced, in its own context), then close it."""
    from .session import sign_in_with_browser as sign_in

    sign_in(settings, account)


def _answer(found):
    if isinstance(found, Exception):
        raise found
    return found


#: Errors that concern the account or this machine, not one order: a batch stops at them.
BATCH_STOPPERS = (SignInFailed, BrowserUnavailable, LocalStateError)


def cancel_many(
    settings: FlowSettings, order_ids: list[str], reason: str, *, dry_run: bool = False
) -> Iterator[tuple[str, CancelResult | FlowError]]:
    """Cancel each order in turn in one browser, yielding ``(order id, result or error)``.

    A failure on one order goes on to the next; an error that concerns the account (sign-in,
    captcha, the browser, the kept session) ends the batch after it is yielded. Each order is
    one ``cancel_order``, which never submits twice."""
    from .cancel import cancel_order
    from .session import AccountSession

    account = Account.from_settings(settings)
    with Browser(settings) as browser:
        session = AccountSession(browser, account)
        for order_id in order_ids:
            try:
                yield order_id, cancel_order(session, order_id, reason, dry_run=dry_run)
            except BATCH_STOPPERS as exc:
                yield order_id, exc
                return
            except FlowError as exc:
                yield order_id, exc


def cancel(
    settings: FlowSettings, order_id: str, reason: str, *, dry_run: bool = False, account: Account | None = None
) -> CancelResult:
    """``account``: the settings' by default (a fleet's worker passes one from its database)."""
    from .cancel import cancel_order
    from .session import AccountSession

    account = account or Account.from_settings(settings)
    with Browser(settings) as browser:
        session = AccountSession(browser, account)
        return cancel_order(session, order_id, reason, dry_run=dry_run)
