"""The cancel flow's decisions, without a browser: what an order found in a state comes to, on a
first attempt and on a retry after our own Submit; what Submit's answer comes to; which answers
mean the site is unavailable. tests/test_cancel_flow.py does the same against the storefront."""

import itertools
from dataclasses import dataclass

import pytest
from playwright.sync_api import Error as PlaywrightError

from flows.cancel import MESSAGES, Step, _Attempt, answered, next_step
from flows.domain import Status
from flows.errors import NoAnswer, NotCancellable, SiteUnavailable, SubmitUnconfirmed, UnexpectedPage
from monitor.exits import code_for

ORDER = "8100000000001234"
S = Status


@dataclass
class Response:
    """What the flow reads of a Playwright response: its HTTP status."""

    status: int


def never() -> str:
    raise AssertionError("read when it must not be")


def attempt(status_before=None, submitted_reason=None) -> _Attempt:
    """A run as it starts (``attempt()``), or as a retry finds it after a first attempt."""
    run = _Attempt()
    if status_before is not None:
        run.status_before = status_before
    if submitted_reason is not None:
        run.submitted_reason = submitted_reason
    return run


# ---------------------------------------------------------------- next_step, every case
# What the flow does with an order its page shows in each state, for every combination of: a Cancel
# order button on the page, a Submit this run already pressed, the page saying a cancellation is
# pending. Read down a column: S submit, R our request went through, C our Submit closed it,
# A someone else's request (already requested), X refused.
COMBINATIONS = list(itertools.product([False, True], repeat=3))  # (can_cancel, submitted, pending)
#                         button:  no  no  no  no yes yes yes yes
#                      submitted:  no  no yes yes  no  no yes yes
#                        pending:  no yes  no yes  no yes  no yes
EXPECTED = {
    S.AWAITING_PAYMENT: "            X   A   X   R   S   A   S   R",
    S.PAYMENT_VERIFYING: "           X   A   X   R   S   A   S   R",
    S.AWAITING_SHIPMENT: "           X   A   X   R   S   A   S   R",
    S.AWAITING_CANCELLATION: "       A   A   R   R   A   A   R   R",
    S.AWAITING_DELIVERY: "           X   A   X   R   X   A   X   R",
    S.COMPLETED: "                   X   A   X   R   X   A   X   R",
    S.CLOSED: "                      X   A   C   R   X   A   C   R",
    S.DISPUTE: "                     X   A   X   R   X   A   X   R",
}
STEPS = {"S": Step.SUBMIT, "R": Step.REQUESTED, "C": Step.CANCELLED, "A": Step.ALREADY_REQUESTED, "X": Step.REFUSE}


@pytest.mark.parametrize(
    "status, can_cancel, submitted, pending, step",
    [
        (status, *combination, STEPS[code])
        for status, row in EXPECTED.items()
        for combination, code in zip(COMBINATIONS, row.split(), strict=True)
    ],
)
def test_next_step_in_every_state(status, can_cancel, submitted, pending, step):
    assert next_step(status, can_cancel, submitted, pending) is step


def test_the_table_names_every_status():
    assert set(EXPECTED) == set(Status)


def test_no_pending_request_unless_the_page_says_so():
    assert next_step(S.AWAITING_SHIPMENT, True, False) is Step.SUBMIT
    assert next_step(S.PAYMENT_VERIFYING, True, True) is Step.SUBMIT  # a Submit the site never saw: again


# ---------------------------------------------------------------- what the order's page comes to
def test_a_cancellable_order_goes_on_to_submit_reading_nothing_more():
    run = attempt()
    assert run.found(ORDER, S.AWAITING_SHIPMENT, True, False, never) is None
    assert run.status_before is S.AWAITING_SHIPMENT and not run.submitted


def test_the_status_before_is_the_first_one_found():
    run = attempt()
    assert run.found(ORDER, S.AWAITING_PAYMENT, True, False, never) is None
    run.submitted_reason = "I placed a duplicate order"
    result = run.found(ORDER, S.CLOSED, False, False, never)
    assert (result.status_before, result.status_after) == (S.AWAITING_PAYMENT, S.CLOSED)


def test_a_cancellation_someone_else_requested_is_reported_already_requested_with_its_reason():
    run = attempt()
    result = run.found(ORDER, S.AWAITING_CANCELLATION, False, False, lambda: "I don't need this order")
    assert result.model_dump() == {
        "order_id": ORDER,
        "status_before": S.AWAITING_CANCELLATION,
        "status_after": S.AWAITING_CANCELLATION,
        "outcome": "already_requested",
        "reason": "I don't need this order",
        "message": "a cancellation was already requested; nothing submitted",
        "artifacts": [],
    }


def test_a_request_pending_while_the_payment_is_verified_is_already_requested():
    result = attempt().found(ORDER, S.PAYMENT_VERIFYING, True, True, lambda: "I placed a duplicate order")
    assert (result.outcome, result.reason, result.status_after) == (
        "already_requested",
        "I placed a duplicate order",
        S.PAYMENT_VERIFYING,
    )


def test_our_own_submit_found_requested_on_a_retry_is_reported_requested():
    run = attempt(S.AWAITING_SHIPMENT, "I ordered the wrong product(s)")
    result = run.found(ORDER, S.AWAITING_CANCELLATION, False, True, never)
    assert result.model_dump() == {
        "order_id": ORDER,
        "status_before": S.AWAITING_SHIPMENT,
        "status_after": S.AWAITING_CANCELLATION,
        "outcome": "requested",
        "reason": "I ordered the wrong product(s)",
        "message": "cancellation requested; the seller must answer",
        "artifacts": [],
    }


def test_our_own_timed_out_submit_that_closed_an_unpaid_order_is_reported_cancelled():
    run = attempt(S.AWAITING_PAYMENT, "I placed a duplicate order")
    result = run.found(ORDER, S.CLOSED, False, False, never)
    assert result.model_dump() == {
        "order_id": ORDER,
        "status_before": S.AWAITING_PAYMENT,
        "status_after": S.CLOSED,
        "outcome": "cancelled",
        "reason": "I placed a duplicate order",
        "message": "order cancelled",
        "artifacts": [],
    }


def unanswered(status_before=S.AWAITING_SHIPMENT) -> _Attempt:
    """A retry after a Submit that got no answer (a timeout, a dropped connection)."""
    run = attempt(status_before, "I ordered the wrong product(s)")
    run.unanswered = True
    return run


@pytest.mark.parametrize("status", [S.AWAITING_SHIPMENT, S.AWAITING_PAYMENT, S.PAYMENT_VERIFYING])
def test_a_submit_without_an_answer_is_not_sent_again_while_the_order_shows_no_request(status):
    with pytest.raises(SubmitUnconfirmed) as err:
        unanswered(status).found(ORDER, status, True, False, never)
    label = {
        S.AWAITING_SHIPMENT: "Awaiting shipment",
        S.AWAITING_PAYMENT: "Awaiting payment",
        S.PAYMENT_VERIFYING: "Payment being verified",
    }[status]
    assert str(err.value) == (
        f"Submit got no answer and order {ORDER} still shows {label}; not sent again (run again later)"
    )
    assert err.value.outcome == "unconfirmed" and code_for(err.value) == 6


def test_a_submit_without_an_answer_found_requested_on_the_retry_is_reported_requested():
    result = unanswered().found(ORDER, S.AWAITING_CANCELLATION, False, True, never)
    assert (result.outcome, result.reason) == ("requested", "I ordered the wrong product(s)")


def test_a_submit_answered_with_a_server_error_is_sent_again_on_the_retry():
    assert (
        attempt(S.AWAITING_SHIPMENT, "I ordered the wrong product(s)").found(
            ORDER, S.AWAITING_SHIPMENT, True, False, never
        )
        is None
    )


def test_a_run_starts_with_no_unanswered_submit():
    assert _Attempt().unanswered is False


@pytest.mark.parametrize(
    "status, can_cancel, next_words",
    [
        (S.CLOSED, False, "nothing to cancel: the order is already closed"),
        (S.AWAITING_DELIVERY, False, "it has shipped: refuse the delivery"),
        (S.PAYMENT_VERIFYING, False, "wait until the payment is verified"),
        (S.COMPLETED, False, "open a return or a dispute"),
        (S.DISPUTE, False, "follow the open dispute"),
    ],
)
def test_a_state_that_cannot_be_cancelled_is_refused_with_the_next_step(status, can_cancel, next_words):
    with pytest.raises(NotCancellable) as err:
        attempt().found(ORDER, status, can_cancel, False, never)
    label = {
        S.CLOSED: "Closed",
        S.AWAITING_DELIVERY: "Awaiting delivery",
        S.PAYMENT_VERIFYING: "Payment being verified",
        S.COMPLETED: "Completed",
        S.DISPUTE: "Dispute / refund in progress",
    }[status]
    assert str(err.value).startswith(f"order {ORDER} cannot be cancelled while {label}: {next_words}")
    assert code_for(err.value) == 3


def test_a_state_without_a_next_step_is_refused_with_none():
    with pytest.raises(NotCancellable) as err:
        attempt().found(ORDER, S.AWAITING_SHIPMENT, False, False, never)  # no Cancel order button
    assert str(err.value) == f"order {ORDER} cannot be cancelled while Awaiting shipment: "


# ---------------------------------------------------------------- what Submit's answer comes to
@pytest.mark.parametrize(
    "after, outcome",
    [
        (S.AWAITING_CANCELLATION, "requested"),
        (S.PAYMENT_VERIFYING, "requested"),  # cancelled once verified
        (S.CLOSED, "cancelled"),
    ],
)
@pytest.mark.parametrize("http_status", [200, None])
def test_the_confirmation_decides_the_outcome(after, outcome, http_status):
    run = attempt(S.AWAITING_SHIPMENT, "Shipping takes too long")
    result = run.after_submit(ORDER, http_status, lambda: after, never)
    assert result.model_dump() == {
        "order_id": ORDER,
        "status_before": S.AWAITING_SHIPMENT,
        "status_after": after,
        "outcome": outcome,
        "reason": "Shipping takes too long",
        "message": MESSAGES[outcome],
        "artifacts": [],
    }


def test_http_409_is_the_sites_refusal_with_its_message():
    with pytest.raises(NotCancellable) as err:
        attempt(S.AWAITING_SHIPMENT, "x").after_submit(ORDER, 409, never, lambda: "already shipped")
    assert str(err.value) == "the site refused: already shipped"


@pytest.mark.parametrize("after", [S.AWAITING_SHIPMENT, S.AWAITING_DELIVERY, S.AWAITING_PAYMENT])
def test_any_other_status_after_submit_is_an_unexpected_page(after):
    with pytest.raises(UnexpectedPage) as err:
        attempt(S.AWAITING_SHIPMENT, "x").after_submit(ORDER, 200, lambda: after, never)
    label = {
        S.AWAITING_SHIPMENT: "Awaiting shipment",
        S.AWAITING_DELIVERY: "Awaiting delivery",
        S.AWAITING_PAYMENT: "Awaiting payment",
    }[after]
    assert str(err.value) == f"after Submit, order {ORDER} is {label}"


def test_a_dry_run_result_carries_its_screenshot():
    run = attempt()
    run.found(ORDER, S.AWAITING_SHIPMENT, True, False, never)
    result = run.dry_run(ORDER, S.AWAITING_SHIPMENT, "I ordered the wrong product(s)", "/tmp/shot.png")
    assert result.model_dump() == {
        "order_id": ORDER,
        "status_before": S.AWAITING_SHIPMENT,
        "status_after": S.AWAITING_SHIPMENT,
        "outcome": "dry_run",
        "reason": "I ordered the wrong product(s)",
        "message": "dry run: everything but Submit",
        "artifacts": ["/tmp/shot.png"],
    }
    assert not run.submitted


# ---------------------------------------------------------------- which answers mean "site unavailable"
@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_opening_a_page_is_the_site_unavailable(status):
    with pytest.raises(SiteUnavailable) as err:
        answered(lambda: Response(status), "opening order 81 failed", "the page of order 81")
    assert not isinstance(err.value, NoAnswer)  # an answer came: a Submit that got it may be sent again
    assert str(err.value) == f"the page of order 81 answered HTTP {status}"
    assert err.value.outcome == "site_unavailable" and code_for(err.value) == 6


def test_no_answer_opening_a_page_is_the_site_unavailable_named_by_its_first_line():
    def times_out():
        raise PlaywrightError("Timeout 2000ms exceeded.\n=========================== logs ===")

    with pytest.raises(NoAnswer) as err:
        answered(times_out, "no answer to Submit", "Submit")
    assert str(err.value) == "no answer to Submit: Timeout 2000ms exceeded."
    assert err.value.outcome == "site_unavailable" and code_for(err.value) == 6  # retried as unavailable


@pytest.mark.parametrize("status", [200, 302, 404, 409, 499])
def test_any_other_answer_is_the_callers_to_read(status):
    response = Response(status)
    assert answered(lambda: response, "failed", "where") is response


def test_no_response_at_all_is_the_callers_to_read():
    assert answered(lambda: None, "failed", "where") is None


def test_an_error_of_ours_is_not_taken_for_the_site_unavailable():
    def broken():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        answered(broken, "failed", "where")
