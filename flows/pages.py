"""Page objects: each owns its locators, in the site's own words (by role and label).

No other module of ordermon locates anything on the site's pages.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .domain import STATUS_BY_LABEL, TAB_LABELS, Status, Tab
from .errors import CaptchaRequired, OrderNotFound, SignInFailed, SiteUnavailable, UnexpectedPage, check_available
from .site import SITE
from .text import printable

DETAILS_LINK = re.compile(r"^Order details")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


class SignInPage:
    def __init__(self, page: Page):
        self.page = page
        self.email = page.get_by_label("Email")
        self.password = page.get_by_label("Password")
        self.submit = page.get_by_role("button", name="Sign in")
        self.error = page.get_by_role("alert")
        self.captcha = page.get_by_role("heading", name="Security verification")

    def sign_in(self, email: str, password: str, *, origin: str) -> None:
        """Sign in on the site at ``origin`` (the storefront URL's scheme, host and port): a sign-in
        page anywhere else (the site redirected there) gets nothing typed."""
        response = self.page.goto(SITE.SIGN_IN, wait_until="domcontentloaded")
        check_available(response.status if response else None, "the sign-in page")
        if _origin(self.page.url) != _origin(origin):
            raise SignInFailed(
                f"sign-in refused: the sign-in page is on {_origin(self.page.url)}, not {_origin(origin)} "
                "(nothing typed)"
            )
        if not SITE.is_sign_in(self.page.url):
            return  # already signed in
        self.email.fill(email)
        self.password.fill(password)
        with self.page.expect_navigation(wait_until="domcontentloaded") as navigation:
            self.submit.click()
        response = navigation.value
        check_available(response.status if response else None, "sign-in")
        if self.captcha.count():
            raise CaptchaRequired("sign-in failed: the site shows a captcha (security verification)")
        if SITE.is_sign_in(self.page.url):
            # ordermon's words, never the site's: its text could carry anything (the password echoed).
            said = (
                "the site says the e-mail or password is incorrect"
                if self.error.count()
                else "still on the sign-in page"
            )
            raise SignInFailed(f"sign-in failed: {said}")


class OrdersPage:
    def __init__(self, page: Page):
        self.page = page
        self.heading = page.get_by_role("heading", name="My orders")
        self.view_more = page.get_by_role("button", name="View orders")
        self.details_links = page.get_by_role("link", name=DETAILS_LINK)
        self.load_error = page.get_by_role("alert")

    def tab(self, tab: Tab):
        return self.page.get_by_role("tab", name=TAB_LABELS[tab], exact=True)

    def wait_loaded(self) -> None:
        expect(self.heading).to_be_visible()

    def details_link(self, order_id: str):
        return self.page.get_by_role("link", name=f"Order details {order_id}", exact=True)

    def has_card(self, order_id: str) -> bool:
        return self.details_link(order_id).count() > 0

    def open_card(self, order_id: str):
        """Click the order's "Order details"; returns the response of the page it opens."""
        with self.page.expect_navigation(wait_until="domcontentloaded") as navigation:
            self.details_link(order_id).click()
        return navigation.value

    def load_all(self) -> None:
        """Click "View orders" until there is no more."""
        while self.view_more.is_visible():
            count = self.details_links.count()
            self.view_more.click()
            try:
                expect(self.details_links).not_to_have_count(count)
            except AssertionError:
                if self.load_error.is_visible():
                    raise SiteUnavailable("View orders failed: " + self.load_error.inner_text()) from None
                raise UnexpectedPage("View orders loaded nothing") from None

    def order_ids(self) -> list[str]:
        labels = [link.get_attribute("aria-label") or "" for link in self.details_links.all()]
        return [label.rsplit(" ", 1)[-1] for label in labels]


class OrderDetailPage:
    def __init__(self, page: Page):
        self.page = page
        self.heading = page.get_by_role("heading", name="Order details")
        self.status_region = page.get_by_role("region", name="Status")
        self.cancel_button = page.get_by_role("button", name="Cancel order")
        self.not_found = page.get_by_role("heading", name="Not found")

    def check_loaded(self, order_id: str, response) -> None:
        if response is not None and response.status == 404:
            raise OrderNotFound(f"order {order_id} not found")
        try:
            expect(self.heading).to_be_visible()
        except AssertionError:
            raise UnexpectedPage(f"the page for order {order_id} is not an order page") from None

    def status(self) -> Status:
        for line in self.status_region.inner_text().splitlines():
            if line.strip() in STATUS_BY_LABEL:
                return STATUS_BY_LABEL[line.strip()]
        raise UnexpectedPage("no status label on the order page")

    def can_cancel(self) -> bool:
        return self.cancel_button.count() > 0

    def cancellation_pending(self) -> bool:
        """The page says a cancellation was requested and has not happened yet."""
        return self.status_region.get_by_text("Cancellation requested").count() > 0

    def start_cancel(self) -> RefundPage:
        """Cancel order: a server error on the refund page is the site unavailable (retried: nothing
        was submitted yet), not an unexpected page."""
        with self.page.expect_navigation(wait_until="domcontentloaded") as navigation:
            self.cancel_button.click()
        check_available(navigation.value.status if navigation.value else None, "the refund page")
        refund = RefundPage(self.page)
        refund.wait_loaded()
        return refund


class RefundPage:
    """The refund (Cancel order) page: the Refund information drop-down and Submit."""

    def __init__(self, page: Page):
        self.page = page
        self.heading = page.get_by_role("heading", name="Cancel order")
        self.reason = page.get_by_role("combobox", name="Refund information")
        self.options = page.get_by_role("option")
        self.submit_button = page.get_by_role("button", name="Submit")
        self.error = page.get_by_role("alert")

    def wait_loaded(self) -> None:
        try:
            expect(self.heading).to_be_visible()
        except AssertionError:
            raise UnexpectedPage("Cancel order did not open the refund page") from None

    def open_reasons(self) -> list[str]:
        """Open the drop-down; the reasons it offers."""
        self.reason.click()
        texts = self.options.all_text_contents()
        if not texts:
            raise UnexpectedPage("the Refund information drop-down offers no reasons")
        return [printable(text).strip() for text in texts]

    def choose(self, reason: str) -> None:
        """Pick a reason in the open drop-down, and check the drop-down shows it."""
        self.page.get_by_role("option", name=reason, exact=True).click()
        expect(self.reason).to_have_text(reason)

    def submit(self):
        """Submit once; returns the response of the page it leads to."""
        with self.page.expect_navigation(wait_until="domcontentloaded") as navigation:
            self.submit_button.click()
        return navigation.value

    def error_text(self) -> str:
        """The site's message on the page Submit led to (a refusal)."""
        return self.error.first.inner_text() if self.error.count() else "no message"


class CancelResultPage:
    def __init__(self, page: Page):
        self.page = page
        self.confirmation = page.get_by_role("status")
        self.complaint = page.get_by_role("heading", name="File a complaint against the seller?")

    def status(self) -> Status:
        """The order's status as the confirmation states it."""
        try:
            text = self.confirmation.first.inner_text()
        except PlaywrightTimeout:
            raise UnexpectedPage("no confirmation after Submit") from None
        labels = [label for label in STATUS_BY_LABEL if label in text]
        if len(labels) != 1:
            raise UnexpectedPage(f"the confirmation does not state one status: {text!r}")
        return STATUS_BY_LABEL[labels[0]]

    def complaint_offered(self) -> bool:
        return self.complaint.count() > 0


__all__ = [
    "CancelResultPage",
    "OrderDetailPage",
    "OrdersPage",
    "PlaywrightTimeout",
    "RefundPage",
    "SignInPage",
]
