"""The cancel flow in a real Chromium against the storefront, for every state."""

import logging
import zipfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from flows import (
    Account,
    BadReason,
    Browser,
    CaptchaRequired,
    NotCancellable,
    OrderNotFound,
    SignInFailed,
    SiteUnavailable,
    SubmitUnconfirmed,
    UnexpectedPage,
    cancel_order,
)
from flows.account import StateFile
from flows.session import AccountSession
from monitor.exits import code_for

pytestmark = pytest.mark.e2e


@contextmanager
def own_session(own_settings, browser, **changes):
    """A session of the test's own, with these settings changed (a shorter timeout, no retry)."""
    settings = own_settings.model_copy(update=changes)
    session = AccountSession(Browser(settings, browser=browser), Account.from_settings(settings))
    try:
        yield session
    finally:
        session.close()


def test_unpaid_order_is_cancelled_at_once(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_payment")
    result = shopper.cancel(order["id"], "duplicate")
    assert (result.outcome, result.status_before, result.status_after) == ("cancelled", "awaiting_payment", "closed")
    assert result.reason == "I placed a duplicate order"
    after = storefront.admin.order(order["id"])
    assert after["close_reason"] == "buyer_cancel_notpay_order" and after["cancel_requests"] == 1


def test_paid_order_gets_a_cancellation_request(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    result = shopper.cancel(order["id"], "shipping takes")
    assert (result.outcome, result.status_after) == ("requested", "awaiting_cancellation")
    after = storefront.admin.order(order["id"])
    assert after["status"] == "awaiting_cancellation"
    assert after["cancel_reason"] == "Shipping takes too long"
    assert after["cancel_requests"] == 1


def test_already_requested_submits_nothing(shopper, storefront):
    order = storefront.admin.create_order(
        status="awaiting_cancellation", seller="silent", cancel_reason="I don't need this order"
    )
    result = shopper.cancel(order["id"], "wrong")
    assert result.outcome == "already_requested"
    assert result.reason == "I don't need this order"
    assert storefront.admin.order(order["id"])["cancel_requests"] == 1


@pytest.mark.parametrize(
    "status, hint",
    [
        ("awaiting_delivery", "open a dispute"),
        ("completed", "return or a dispute"),
        ("closed", "already closed"),
        ("dispute", "dispute"),
        ("payment_verifying", "verified"),
    ],
)
def test_not_cancellable_states_are_refused_with_the_next_step(shopper, storefront, status, hint):
    order = storefront.admin.create_order(status=status, seller="silent", verification_stuck=True)
    with pytest.raises(NotCancellable, match=hint) as err:
        shopper.cancel(order["id"], "wrong")
    assert code_for(err.value) == 3
    assert storefront.admin.order(order["id"]) == order | {"timeline": storefront.admin.order(order["id"])["timeline"]}
    assert storefront.admin.order(order["id"])["cancel_requests"] == order["cancel_requests"]


def test_unknown_order_is_not_found(shopper):
    with pytest.raises(OrderNotFound, match=r"^order 8100000000000000 not found$") as err:
        shopper.cancel("8100000000000000", "wrong")
    assert code_for(err.value) == 4


@pytest.mark.parametrize("reason", ["supplier", "teleported"])
def test_bad_reason_lists_offered_reasons_and_touches_nothing(shopper, storefront, reason):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    with pytest.raises(BadReason) as err:
        shopper.cancel(order["id"], reason)
    assert "I placed a duplicate order" in str(err.value)
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_dry_run_does_everything_but_submit(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    result = shopper.cancel(order["id"], "wrong", dry_run=True)
    assert result.outcome == "dry_run" and result.reason == "I ordered the wrong product(s)"
    assert (result.status_before, result.status_after) == ("awaiting_shipment", "awaiting_shipment")
    shot = Path(result.artifacts[0])
    assert shot.name.endswith(f"-dry-run-{order['id']}.png")
    assert shot.exists() and shot.stat().st_size > 1000 and oct(shot.stat().st_mode)[-3:] == "600"
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_layout_variant(shopper, storefront):
    storefront.admin.faults(layout="variant")
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert shopper.orders("to_ship")


def test_session_expiry_signs_in_again(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    before = shopper.session.sign_ins
    storefront.admin.faults(expire_sessions=True)
    assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert shopper.session.sign_ins == before + 1


def test_http_500s_are_retried(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(fail_next=2)
    assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert storefront.admin.order(order["id"])["cancel_requests"] == 1


@pytest.mark.parametrize(
    "target, where, posts",
    [
        ("POST /p/order/cancel", "Submit", 2),  # the injected 500 answered before the site acted
        ("GET /p/order/cancel.html", "the refund page", 1),  # not an unexpected page: nothing submitted yet
    ],
)
def test_500_on_the_refund_page_or_submit_is_retried_with_one_submit(shopper, storefront, caplog, target, where, posts):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(target=target, fail_next=1)
    with caplog.at_level(logging.INFO, logger="ordermon.flows"):
        assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert f"{where} answered HTTP 500; retrying" in caplog.text
    after = storefront.admin.order(order["id"])
    assert (after["cancel_requests"], after["cancel_submits"]) == (1, 1)  # only a Submit the site saw counts
    assert storefront.site.requests["POST /p/order/cancel"] == posts


def test_submit_that_times_out_after_going_through_is_not_sent_twice(storefront, browser, own_settings, caplog):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(target="POST /p/order/cancel", latency_ms=3000, latency_after=True)
    with (
        own_session(own_settings, browser, timeout=2) as session,
        caplog.at_level(logging.INFO, logger="ordermon.flows"),
    ):
        result = cancel_order(session, order["id"], "wrong")
    assert "no answer to Submit: Locator.click: Timeout 2000ms exceeded.; retrying" in caplog.text
    assert result.outcome == "requested"
    after = storefront.admin.order(order["id"])
    assert (after["cancel_requests"], after["cancel_submits"]) == (1, 1)  # the retry found it done


def test_submit_that_times_out_before_the_site_acts_is_unconfirmed_not_sent_twice(storefront, browser, own_settings):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    # The Submit waits 4 s before the site acts: the retry reads the order before it does.
    storefront.admin.faults(target="POST /p/order/cancel", latency_ms=4000)
    with (
        own_session(own_settings, browser, timeout=2, retry_backoff=0) as session,
        pytest.raises(SubmitUnconfirmed) as err,
    ):
        cancel_order(session, order["id"], "wrong")
    assert "still shows Awaiting shipment; not sent again" in str(err.value)
    assert code_for(err.value) == 6
    assert storefront.site.wait_idle(10)  # the late Submit lands: it was the only one
    after = storefront.admin.order(order["id"])
    assert (after["cancel_requests"], after["cancel_submits"], after["status"]) == (1, 1, "awaiting_cancellation")


def test_site_down_after_retries(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(error_rate=1.0)
    with pytest.raises(SiteUnavailable) as err:
        shopper.cancel(order["id"], "wrong")
    assert code_for(err.value) == 6
    storefront.admin.faults(clear=True)
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_captcha_is_reported_not_retried(storefront, browser, own_settings):
    storefront.admin.faults(captcha=True)
    assert own_settings.retries >= 1  # the retry policy would try again were the captcha "unavailable"
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    with own_session(own_settings, browser) as session, pytest.raises(CaptchaRequired) as err:
        cancel_order(session, order["id"], "wrong")  # the flow with its retries, as `ordermon cancel` runs it
    assert code_for(err.value) == 5
    state = storefront.admin.state()
    assert state["requests"].get("POST /login") == 1  # one sign-in attempt: a captcha is not retried
    assert state["fault_counts"].get("captcha") == 1
    assert storefront.admin.order(order["id"])["cancel_submits"] == 0


def test_wrong_password(storefront, browser, own_settings):
    from pydantic import SecretStr

    with (
        own_session(own_settings, browser, password=SecretStr("not-the-password")) as session,
        pytest.raises(SignInFailed, match="incorrect"),
    ):
        session.ensure_signed_in()


def test_session_is_kept_between_runs_in_a_private_file(storefront, browser, own_settings):
    account = Account.from_settings(own_settings)
    first = AccountSession(Browser(own_settings, browser=browser), account)
    first.ensure_signed_in()
    assert first.sign_ins == 1
    state = StateFile(own_settings, account).path
    assert oct(state.stat().st_mode)[-3:] == "600"
    assert own_settings.password.get_secret_value() not in state.read_text()
    first.close()
    second = AccountSession(Browser(own_settings, browser=browser), account)
    second.ensure_signed_in()
    assert second.sign_ins == 0
    second.close()


def test_unexpected_page_leaves_a_screenshot_and_the_html_and_nothing_else_otherwise(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert not shopper.settings.artifacts.exists()  # nothing when all goes well
    other = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(maintenance=True, target="GET /p/order/index.html")
    with pytest.raises(UnexpectedPage) as err:
        shopper.cancel(other["id"], "wrong")
    paths = sorted((Path(p) for p in err.value.artifacts), key=lambda p: p.suffix)
    assert [p.suffix for p in paths] == [".html", ".png"]
    assert all(p.stem.endswith(f"-cancel-{other['id']}") for p in paths)
    assert "back soon" in paths[0].read_text() and all(oct(p.stat().st_mode)[-3:] == "600" for p in paths)


def test_a_trace_on_request_is_kept_without_the_password_or_the_session(shopper, storefront):
    shopper.settings.trace = True
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(expire_sessions=True)  # the flow must sign in again mid-way
    storefront.admin.faults(maintenance=True, target="GET /p/order/index.html")
    with pytest.raises(UnexpectedPage) as err:
        shopper.cancel(order["id"], "wrong")
    paths = [Path(p) for p in err.value.artifacts]
    assert any(p.suffix == ".png" for p in paths) and any(p.name.endswith(".trace.zip") for p in paths)
    cookies = [c["value"].encode() for c in shopper.session.context.cookies()]  # a live session, 14 days long
    secrets = [storefront.password.encode(), *cookies]
    assert cookies
    for path in paths:
        assert path.exists()
        assert not any(secret in path.read_bytes() for secret in secrets)
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as trace:
                assert any(name.endswith(".network") for name in trace.namelist())
                for name in trace.namelist():
                    assert not any(secret in trace.read(name) for secret in secrets), name
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_corrupt_storage_state_is_a_clear_error(storefront, browser, own_settings):
    account = Account.from_settings(own_settings)
    path = own_settings.data_dir / f"state-{account.key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    from flows.errors import LocalStateError

    with pytest.raises(LocalStateError, match=r"unusable.*delete it"):
        AccountSession(Browser(own_settings, browser=browser), account)
    assert path.read_text() == "{not json"


def test_a_cancellation_asked_while_the_payment_is_verified_is_requested_once(shopper, storefront):
    storefront.admin.settings(cancel_while_verifying=True)
    order = storefront.admin.create_order(status="payment_verifying", verification_stuck=True)
    result = shopper.cancel(order["id"], "duplicate")
    assert (result.outcome, result.status_after) == ("requested", "payment_verifying")
    again = shopper.cancel(order["id"], "duplicate")
    assert again.outcome == "already_requested"
    assert storefront.admin.order(order["id"])["cancel_requests"] == 1


def test_running_the_flow_again_never_submits_again_until_the_seller_refused(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")

    def submits() -> tuple[int, int]:
        after = storefront.admin.order(order["id"])
        return after["cancel_requests"], after["cancel_submits"]

    assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    again = shopper.cancel(order["id"], "wrong")  # finds "Awaiting cancellation": nothing to submit
    assert (again.outcome, again.status_after) == ("already_requested", "awaiting_cancellation")
    assert submits() == (1, 1)
    storefront.admin.seller(order["id"], "refuse")  # back to Awaiting shipment: a new request is the buyer's call
    assert shopper.cancel(order["id"], "shipping takes").outcome == "requested"
    assert shopper.cancel(order["id"], "shipping takes").outcome == "already_requested"
    assert submits() == (2, 2)


def test_a_server_error_opening_the_order_from_its_card_is_retried(shopper, storefront, caplog):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(target="GET /p/order/detail.html", fail_next=1)
    with caplog.at_level(logging.INFO, logger="ordermon.flows"):
        assert shopper.cancel(order["id"], "wrong").outcome == "requested"
    assert f"the page of order {order['id']} answered HTTP 500; retrying" in caplog.text
    assert storefront.site.requests["GET /p/order/detail.html"] == 2
    assert storefront.admin.order(order["id"])["cancel_requests"] == 1


def test_no_answer_opening_the_order_from_its_card_is_the_site_unavailable(storefront, browser, own_settings):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    with own_session(own_settings, browser, timeout=2, retries=0) as session:
        session.ensure_signed_in()
        storefront.admin.faults(target="GET /p/order/detail.html", latency_ms=3000)
        with pytest.raises(SiteUnavailable) as err:
            cancel_order(session, order["id"], "wrong")
    assert str(err.value) == f"opening order {order['id']} failed: Locator.click: Timeout 2000ms exceeded."
    assert code_for(err.value) == 6
    assert storefront.admin.order(order["id"])["cancel_submits"] == 0


def test_a_submit_the_site_refuses_is_not_cancellable_with_the_sites_message(shopper, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")

    def seller_ships_first(route):  # the seller ships while the buyer picks a reason
        if route.request.method == "POST":
            storefront.admin.seller(order["id"], "ship")
        route.continue_()

    shopper.page.route(lambda url: urlparse(url).path == "/p/order/cancel", seller_ships_first)
    with pytest.raises(NotCancellable) as err:
        shopper.cancel(order["id"], "wrong")
    assert str(err.value) == f"the site refused: Order {order['id']} cannot be cancelled while Awaiting delivery"
    after = storefront.admin.order(order["id"])
    assert (after["status"], after["cancel_requests"], after["cancel_submits"]) == ("awaiting_delivery", 0, 1)
