"""Cancel an order the way the buyer would, according to its state.

It never submits twice: every attempt (a retry after a timeout or an HTTP 500
included) opens the order's page afresh and reads its state there before it
goes on to Submit; a Submit that went through is found as "Awaiting
cancellation" (or "Closed") and reported, not repeated.
"""

from __future__ import annotations

from playwright.sync_api import Error as PlaywrightError

from .domain import NEXT_STEPS, STATUS_LABELS, Status
from .errors import NotCancellable, SiteUnavailable, UnexpectedPage, first_line
from .models import CancelResult
from .orders import read_detail
from .pages import CancelResultPage, OrderDetailPage, OrdersPage
from .reasons import match_reason
from .session import AccountSession, retrying

CANCELLABLE = (Status.AWAITING_PAYMENT, Status.AWAITING_SHIPMENT, Status.PAYMENT_VERIFYING)


class _Attempt:
    """State that must survive retries: whether this run already pressed Submit."""

    def __init__(self) -> None:
        self.submitted_reason: str | None = None
        self.status_before: Status | None = None


def cancel_order(session: AccountSession, order_id: str, reason: str, *, dry_run: bool = False) -> CancelResult:
    """Sign-in, when the session has expired, happens in a separate untraced context."""
    attempt = _Attempt()
    with session.traced(f"cancel-{order_id}"):
        return retrying(session.settings, _cancel_once, session, order_id, reason, dry_run, attempt)


def _open_order(session: AccountSession, order_id: str) -> OrderDetailPage:
    """The seed's steps: the orders list, then the order's card; an older order, pages
    deep in the list, is opened at the URL its card links to."""
    orders_page = OrdersPage(session.page)
    session.goto(orders_page.path())
    orders_page.wait_loaded()
    detail = OrderDetailPage(session.page)
    link = orders_page.details_link(order_id)
    if link.count():
        try:
            with session.page.expect_navigation(wait_until="domcontentloaded") as navigation:
                link.click()
        except PlaywrightError as exc:
            raise SiteUnavailable(f"opening order {order_id} failed: {first_line(exc)}") from None
        response = navigation.value
        if response is not None and response.status >= 500:
            raise SiteUnavailable(f"order page answered HTTP {response.status}")
    else:
        response = session.goto(detail.path(order_id))
    detail.check_loaded(order_id, response)
    return detail


def _cancel_once(session: AccountSession, order_id: str, wanted: str, dry_run: bool,
                 attempt: _Attempt) -> CancelResult:
    detail = _open_order(session, order_id)
    status = detail.status()
    if attempt.status_before is None:
        attempt.status_before = status
    before = attempt.status_before

    if status is Status.AWAITING_CANCELLATION:
        submitted = attempt.submitted_reason is not None
        return CancelResult(
            order_id=order_id, status_before=before, status_after=status,
            outcome="requested" if submitted else "already_requested",
            reason=attempt.submitted_reason or read_detail(session, order_id).cancel_reason,
            message="cancellation requested; the seller must answer"
            if submitted else "a cancellation was already requested; nothing submitted",
        )
    if status is Status.CLOSED and attempt.submitted_reason:
        # A retry after a Submit that went through: report it, do not submit again.
        return _result(order_id, before, status, "cancelled", attempt.submitted_reason)
    if status not in CANCELLABLE or not detail.can_cancel():
        raise NotCancellable(
            f"order {order_id} cannot be cancelled while {STATUS_LABELS[status]}: {NEXT_STEPS.get(status, '')}"
        )

    refund = detail.start_cancel()
    reason = match_reason(wanted, refund.offered_reasons())
    refund.choose(reason)
    if dry_run:
        shot = session.screenshot(f"dry-run-{order_id}")
        return CancelResult(
            order_id=order_id, status_before=before, status_after=status, outcome="dry_run",
            reason=reason, message="dry run: everything but Submit", artifacts=[shot],
        )

    attempt.submitted_reason = reason
    try:
        response = refund.submit()
    except PlaywrightError as exc:
        # The request may or may not have gone through: the retry re-reads the state.
        raise SiteUnavailable(f"no answer to Submit: {first_line(exc)}") from None
    if response is not None and response.status >= 500:
        raise SiteUnavailable(f"Submit answered HTTP {response.status}")
    if response is not None and response.status == 409:
        raise NotCancellable(f"the site refused: {detail.page.get_by_role('alert').first.inner_text()}")
    after = CancelResultPage(session.page).status()
    if after is Status.AWAITING_CANCELLATION:
        return _result(order_id, before, after, "requested", reason)
    if after is Status.CLOSED:
        return _result(order_id, before, after, "cancelled", reason)
    raise UnexpectedPage(f"after Submit, order {order_id} is {STATUS_LABELS[after]}")


def _result(order_id: str, before: Status, after: Status, outcome: str, reason: str) -> CancelResult:
    messages = {
        "cancelled": "order cancelled",
        "requested": "cancellation requested; the seller must answer",
    }
    return CancelResult(order_id=order_id, status_before=before, status_after=after,
                        outcome=outcome, reason=reason, message=messages[outcome])
