"""Cancel an order the way the buyer would, according to its state.

It never submits twice: every attempt (a retry after a timeout or an HTTP 500
included) opens the order's page afresh and reads its state there before it
goes on to Submit; a Submit that went through is found as "Awaiting
cancellation" (or "Closed") and reported, not repeated.
"""

from __future__ import annotations

from enum import Enum

from playwright.sync_api import Error as PlaywrightError

from . import artifacts
from .domain import NEXT_STEPS, STATUS_LABELS, Status
from .errors import NotCancellable, SiteUnavailable, UnexpectedPage, check_available, first_line
from .models import CancelResult
from .orders import read_detail
from .pages import CancelResultPage, OrderDetailPage
from .reasons import match_reason
from .retry import retrying
from .session import AccountSession

CANCELLABLE = frozenset({Status.AWAITING_PAYMENT, Status.AWAITING_SHIPMENT, Status.PAYMENT_VERIFYING})

MESSAGES = {
    "cancelled": "order cancelled",
    "requested": "cancellation requested; the seller must answer",
    "already_requested": "a cancellation was already requested; nothing submitted",
}


class Step(Enum):
    """What to do with an order found in a state, on a first attempt or a retry."""

    SUBMIT = "submit"
    REQUESTED = "requested"  # our own Submit went through (found on a retry)
    CANCELLED = "cancelled"  # our own Submit closed an unpaid order (found on a retry)
    ALREADY_REQUESTED = "already_requested"  # someone else asked before us
    REFUSE = "refuse"


def next_step(status: Status, can_cancel: bool, submitted: bool, pending: bool = False) -> Step:
    """The cancel flow's decision: ``submitted``, whether this run already pressed Submit;
    ``pending``, whether the page says a cancellation is requested (one asked while the
    payment is verified keeps the order's status)."""
    if status is Status.AWAITING_CANCELLATION or pending:
        return Step.REQUESTED if submitted else Step.ALREADY_REQUESTED
    if status is Status.CLOSED and submitted:
        return Step.CANCELLED
    if status in CANCELLABLE and can_cancel:  # a Submit that failed before the site acted: again
        return Step.SUBMIT
    return Step.REFUSE


class _Attempt:
    """State that must survive retries: whether this run already pressed Submit."""

    def __init__(self) -> None:
        self.submitted_reason: str | None = None
        self.status_before: Status | None = None


def cancel_order(session: AccountSession, order_id: str, reason: str, *, dry_run: bool = False) -> CancelResult:
    """Sign-in, when the session has expired, happens in a separate untraced context."""
    attempt = _Attempt()
    with artifacts.kept_on_failure(session, f"cancel-{order_id}"):
        return retrying(session.settings, _cancel_once, session, order_id, reason, dry_run, attempt)


def _open_order(session: AccountSession, order_id: str) -> OrderDetailPage:
    """The seed's steps: the orders list, then the order's card; an older order, pages
    deep in the list, is opened at the URL its card links to."""
    orders_page = session.open_orders()
    detail = OrderDetailPage(session.page)
    if orders_page.has_card(order_id):
        try:
            response = orders_page.open_card(order_id)
        except PlaywrightError as exc:
            raise SiteUnavailable(f"opening order {order_id} failed: {first_line(exc)}") from None
        check_available(response.status if response else None, f"the page of order {order_id}")
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
    step = next_step(status, detail.can_cancel(), attempt.submitted_reason is not None, detail.cancellation_pending())
    if step is Step.ALREADY_REQUESTED:
        return _result(order_id, attempt, status, "already_requested", read_detail(session, order_id).cancel_reason)
    if step in (Step.REQUESTED, Step.CANCELLED):
        return _result(order_id, attempt, status, step.value, attempt.submitted_reason)
    if step is Step.REFUSE:
        raise NotCancellable(f"order {order_id} cannot be cancelled while {STATUS_LABELS[status]}: "
                             f"{NEXT_STEPS.get(status, '')}")

    refund = detail.start_cancel()
    reason = match_reason(wanted, refund.open_reasons())
    refund.choose(reason)
    if dry_run:
        return CancelResult(
            order_id=order_id, status_before=attempt.status_before, status_after=status, outcome="dry_run",
            reason=reason, message="dry run: everything but Submit",
            artifacts=[artifacts.screenshot(session, f"dry-run-{order_id}")],
        )
    attempt.submitted_reason = reason
    try:
        response = refund.submit()
    except PlaywrightError as exc:
        # The request may or may not have gone through: the retry re-reads the state.
        raise SiteUnavailable(f"no answer to Submit: {first_line(exc)}") from None
    check_available(response.status if response else None, "Submit")
    if response is not None and response.status == 409:
        raise NotCancellable(f"the site refused: {refund.error_text()}")
    after = CancelResultPage(session.page).status()
    if after in (Status.AWAITING_CANCELLATION, Status.PAYMENT_VERIFYING):  # verifying: cancelled once verified
        return _result(order_id, attempt, after, "requested", reason)
    if after is Status.CLOSED:
        return _result(order_id, attempt, after, "cancelled", reason)
    raise UnexpectedPage(f"after Submit, order {order_id} is {STATUS_LABELS[after]}")


def _result(order_id: str, attempt: _Attempt, after: Status, outcome: str, reason: str | None) -> CancelResult:
    return CancelResult(order_id=order_id, status_before=attempt.status_before, status_after=after,
                        outcome=outcome, reason=reason, message=MESSAGES[outcome])
