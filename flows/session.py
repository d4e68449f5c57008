"""A signed-in browser context for one buyer account, kept between flows.

Sign-in happens in a separate, short-lived context that is never traced, so a
typed password can reach no trace; the signed-in cookies are then handed to
the account's context and kept (mode 0600) for the next run.
"""

from __future__ import annotations

import contextlib
import re

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from .account import Account, keeper
from .browser import Browser
from .domain import Tab
from .errors import LocalStateError, SignInFailed, SiteUnavailable, check_available, first_line
from .fetch import ContextTransport
from .pages import OrdersPage, SignInPage
from .reading import SiteReader
from .settings import FlowSettings
from .site import SITE

# Pages need no images, fonts or media to be read or clicked.
BLOCKED_RESOURCE_TYPES = ("Image", "Font", "Media")
HEAVY = ("png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "svg", "woff", "woff2", "ttf", "otf", "mp4", "webm", "mp3")
BLOCKED = re.compile(r"\.(" + "|".join(HEAVY) + r")(\?.*)?$", re.I)  # fallback without CDP


class AccountSession:
    """A signed-in browser context for one account, with its own page.

    ``context``/``page``: use ones made elsewhere (e.g. pytest-playwright's, which
    may trace them itself: then ``own_tracing=False``).
    """

    def __init__(
        self,
        browser: Browser,
        account: Account,
        *,
        context: BrowserContext | None = None,
        page: Page | None = None,
        own_tracing: bool = True,
    ):
        self.browser = browser
        self.settings = browser.settings
        self.account = account
        self.base_url = account.storefront_url
        self.own_tracing = own_tracing
        self.state_file = keeper(self.settings, account)
        state = self.state_file.load()
        try:
            if context is None:
                context = browser.browser.new_context(
                    base_url=self.base_url, storage_state=state, service_workers="block", proxy=account.browser_proxy()
                )
            elif state:
                context.add_cookies(state["cookies"])
        except PlaywrightError as exc:  # cookies the browser will not take
            raise LocalStateError(
                f"the kept session of {account.label} is unusable ({first_line(exc)}); delete it to sign in again"
            ) from None
        self.context = context
        context.set_default_timeout(self.settings.timeout * 1000)
        context.set_default_navigation_timeout(self.settings.timeout * 1000)
        self._page: Page | None = page
        self.sign_ins = 0
        if page is not None:
            self._block_heavy(page)

    def _block_heavy(self, page: Page) -> None:
        """No images, fonts or media. Chromium pauses only those (by resource type) and
        we fail them; a Playwright route would pass every request, the JSON included,
        through the driver."""
        try:
            cdp = page.context.new_cdp_session(page)

            def fail(event: dict) -> None:
                cdp.send("Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"})

            cdp.on("Fetch.requestPaused", fail)
            cdp.send(
                "Fetch.enable",
                {
                    "patterns": [
                        {"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
                        for kind in BLOCKED_RESOURCE_TYPES
                    ]
                },
            )
        except PlaywrightError:  # not Chromium, or no CDP through this connection
            page.route(BLOCKED, lambda route: route.abort())

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    @property
    def page(self) -> Page:
        if self._page is None or self._page.is_closed():
            self._page = self.context.new_page()
            self._block_heavy(self._page)
        return self._page

    def drop_page(self) -> None:
        if self._page is not None:
            with contextlib.suppress(PlaywrightError):
                self._page.close()
            self._page = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()

    # ---------------------------------------------------------------- sign-in
    def sign_in(self) -> None:
        """Sign in in a separate, untraced context and hand the cookies over."""
        state = sign_in(self.browser.browser, self.settings, self.account)
        self.context.clear_cookies()
        self.context.add_cookies(state["cookies"])
        self.sign_ins += 1

    def ensure_signed_in(self) -> None:
        """Sign in now if the kept session is no longer valid (one small read of the list's JSON)."""
        SiteReader(self.settings, ContextTransport({self.account.label: self})).check(self.account.label)

    # ---------------------------------------------------------------- navigation
    def goto(self, path: str):
        """Open a page, signing in again if the session has expired."""
        for attempt in range(2):
            try:
                response = self.page.goto(self.url(path), wait_until="domcontentloaded")
            except PlaywrightError as exc:
                raise SiteUnavailable(f"{self.base_url}{path} unavailable: {first_line(exc)}") from None
            check_available(response.status if response else None, self.url(path))
            if SITE.is_sign_in(self.page.url) and attempt == 0:
                self.sign_in()
                continue
            return response
        raise SignInFailed("signed in, but the site keeps asking to sign in")

    def open_orders(self, tab: Tab = Tab.ALL) -> OrdersPage:
        orders_page = OrdersPage(self.page)
        self.goto(SITE.orders_page(tab))
        orders_page.wait_loaded()
        return orders_page


def sign_in(pw_browser, settings: FlowSettings, account: Account) -> dict:
    """Sign in in a separate, short-lived context that is never traced (a typed password can reach
    no trace); keep its cookies in the storage state (mode 0600); return that state."""
    context = pw_browser.new_context(
        base_url=account.storefront_url, service_workers="block", proxy=account.browser_proxy()
    )
    context.set_default_timeout(settings.timeout * 1000)
    try:
        page = context.new_page()
        SignInPage(page).sign_in(account.email, account.password.get_secret_value(), origin=account.storefront_url)
        state = context.storage_state()
    except PlaywrightError as exc:
        raise SiteUnavailable(f"sign-in page unavailable: {first_line(exc)}") from None
    finally:
        context.close()
    keeper(settings, account).save(state)
    return state


def sign_in_with_browser(settings: FlowSettings, account: Account, browser=None) -> None:
    """Start the browser (or use ``browser``) only to sign in, then close it."""
    with Browser(settings, browser=browser) as own:
        sign_in(own.browser, settings, account)
