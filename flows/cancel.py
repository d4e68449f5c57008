"""Cancel an order the way the buyer would, according to its state.

It never submits twice: every attempt (a retry after a timeout or an HTTP 500
included) opens the order's page afresh and reads its state there before it
goes on to Submit; a Submit that went through is found as "Awaiting
cancellation" (or "Closed") and reported, not repeated. A Submit that got no
answer at all may still be on its way to the site: if the order still shows
no request, the run ends "unconfirmed" rather than send a second one.

The decisions are plain functions of what the pages showed (``next_step``,
``answered``, ``_Attempt``), tested without a browser in
tests/test_cancel_decision.py; ``_open_order`` and ``_cancel_once`` do the clicking.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from playwright.sync_api import Error as PlaywrightError

from . import artifacts
from .domain import NEXT_STEPS, STATUS_LABELS, Status
from .errors import (
    NoAnswer,
    NotCancellable,
    SubmitUnconfirmed,
    UnexpectedPage,
    check_available,
    first_line,
)
from .models import CancelResult
from .orders import read_detail
from .pages import CancelResultPage, OrderDetailPage
from .reasons import match_reason
from .retry import retrying
from .session import AccountSession
from .site import SITE

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


def answered(action: Callable[[], Any], failed: str, where: str) -> Any:
    """The response of a click that opens a page (``action``): no answer (a timeout, a dropped
    connection) or a server error means the site is unavailable, which is retried."""
    try:
        response = action()
    except PlaywrightError as exc:
        raise NoAnswer(f"{failed}: {first_line(exc)}") from None
    check_available(response.status if response else None, where)
    return response


class _Attempt:
    """One run of the flow, across its retries: the status it first found, whether it
    already pressed Submit (and with which reason), and whether a Submit got no answer."""

    def __init__(self) -> None:
        self.submitted_reason: str | None = None
        self.status_before: Status | None = None
        self.unanswered = False

    @property
    def submitted(self) -> bool:
        return self.submitted_reason is not None

    def found(
        self, order_id: str, status: Status, can_cancel: bool, pending: bool, requested_reason: Callable[[], str | None]
    ) -> CancelResult | None:
        """What the order's page shows (``status``, a Cancel order button, a pending request)
        comes to before Submit: a result when there is nothing (more) to submit, a refusal
        (raised), or None: go on to Submit. ``requested_reason`` reads the reason of a
        cancellation someone else requested."""
        if self.status_before is None:
            self.status_before = status
        step = next_step(status, can_cancel, self.submitted, pending)
        if step is Step.ALREADY_REQUESTED:
            return self.result(order_id, status, "already_requested", requested_reason())
        if step in (Step.REQUESTED, Step.CANCELLED):
            return self.result(order_id, status, step.value, self.submitted_reason)
        if step is Step.REFUSE:
            raise NotCancellable(
                f"order {order_id} cannot be cancelled while {STATUS_LABELS[status]}: {NEXT_STEPS.get(status, '')}"
            )
        if self.unanswered:
            raise SubmitUnconfirmed(
                f"Submit got no answer and order {order_id} still shows "
                f"{STATUS_LABELS[status]}; not sent again (run again later)"
            )
        return None

    def after_submit(
        self, order_id: str, http_status: int | None, after: Callable[[], Status], refusal: Callable[[], str]
    ) -> CancelResult:
        """What Submit's answer comes to: HTTP 409 is the site's refusal (``refusal()``, its
        message); else the status the confirmation states (``after()``)."""
        if http_status == 409:
            raise NotCancellable(f"the site refused: {refusal()}")
        status = after()
        if status in (Status.AWAITING_CANCELLATION, Status.PAYMENT_VERIFYING):  # verifying: cancelled once verified
            return self.result(order_id, status, "requested", self.submitted_reason)
        if status is Status.CLOSED:
            return self.result(order_id, status, "cancelled", self.submitted_reason)
        raise UnexpectedPage(f"after Submit, order {order_id} is {STATUS_LABELS[status]}")

    def dry_run(self, order_id: str, status: Status, reason: str, screenshot: str) -> CancelResult:
        return CancelResult(
            order_id=order_id,
            status_before=self.status_before,
            status_after=status,
            outcome="dry_run",
            reason=reason,
            message="dry run: everything but Submit",
            artifacts=[screenshot],
        )

    def result(self, order_id: str, after: Status, outcome: str, reason: str | None) -> CancelResult:
        return CancelResult(
            order_id=order_id,
            status_before=self.status_before,
            status_after=after,
            outcome=outcome,
            reason=reason,
            message=MESSAGES[outcome],
        )


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
        response = answered(
            lambda: orders_page.open_card(order_id), f"opening order {order_id} failed", f"the page of order {order_id}"
        )
    else:
        response = session.goto(SITE.order_page(order_id))
    detail.check_loaded(order_id, response)
    return detail


def _cancel_once(session: AccountSession, order_id: str, wanted: str, dry_run: bool, attempt: _Attempt) -> CancelResult:
    detail = _open_order(session, order_id)
    status = detail.status()
    done = attempt.found(
        order_id,
        status,
        detail.can_cancel(),
        detail.cancellation_pending(),
        lambda: read_detail(session, order_id).cancel_reason,
    )
    if done is not None:
        return done
    refund = detail.start_cancel()
    reason = match_reason(wanted, refund.open_reasons())
    refund.choose(reason)
    if dry_run:
        return attempt.dry_run(order_id, status, reason, artifacts.screenshot(session, f"dry-run-{order_id}"))
    attempt.submitted_reason = reason
    # No answer may or may not mean the request went through: the retry re-reads the state.
    try:
        response = answered(refund.submit, "no answer to Submit", "Submit")
    except NoAnswer:
        attempt.unanswered = True
        raise
    return attempt.after_submit(
        order_id, response.status if response else None, CancelResultPage(session.page).status, refund.error_text
    )
