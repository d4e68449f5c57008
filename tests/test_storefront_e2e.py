"""The seed's steps by hand in a real Chromium, with role and label locators."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def sign_in(page: Page, storefront) -> None:
    page.goto(storefront.url + "/p/order/index.html")
    page.get_by_label("Email").fill(storefront.email)
    page.get_by_label("Password").fill(storefront.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()


def open_order(page: Page, order_id: str) -> None:
    page.get_by_role("tab", name="View all").click()
    while not page.get_by_text(order_id, exact=True).is_visible():
        expect(page.get_by_role("button", name="View orders")).to_be_visible()
        count = page.get_by_role("link", name=re.compile("^Order details")).count()
        page.get_by_role("button", name="View orders").click()
        expect(page.get_by_role("link", name=re.compile("^Order details"))).not_to_have_count(count)
    page.get_by_role("link", name=f"Order details {order_id}").click()
    expect(page.get_by_role("heading", name="Order details")).to_be_visible()


@pytest.mark.parametrize("layout", ["default", "variant"])
def test_request_cancellation_of_a_paid_order(page: Page, storefront, layout):
    storefront.admin.faults(layout=layout)
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    sign_in(page, storefront)
    open_order(page, order["id"])
    expect(page.get_by_text("Awaiting shipment", exact=True)).to_be_visible()
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("combobox", name="Refund information").click()
    page.get_by_role("option", name="Shipping takes too long").click()
    expect(page.get_by_role("combobox", name="Refund information")).to_have_text("Shipping takes too long")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("Awaiting cancellation")
    expect(page.get_by_role("heading", name="File a complaint against the seller?")).to_be_visible()
    page.get_by_role("button", name="No, thanks").click()
    page.get_by_role("link", name="View order details").click()
    expect(page.get_by_text("Awaiting cancellation", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Seller must answer by"))).to_contain_text("left")
    after = storefront.admin.order(order["id"])
    assert after["status"] == "awaiting_cancellation"
    assert after["cancel_reason"] == "Shipping takes too long"
    assert after["cancel_requests"] == 1


def test_unpaid_order_closes_at_once(page: Page, storefront):
    order = storefront.admin.create_order(status="awaiting_payment")
    sign_in(page, storefront)
    page.goto(f"{storefront.url}/p/order/detail.html?orderId={order['id']}")
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("combobox", name="Refund information").click()
    page.get_by_role("option", name="I placed a duplicate order").click()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Order cancelled")).to_be_visible()
    closed = storefront.admin.order(order["id"])
    assert closed["status"] == "closed"
    assert closed["close_reason"] == "buyer_cancel_notpay_order"


def test_submit_without_a_reason_is_stopped_on_the_page(page: Page, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    sign_in(page, storefront)
    page.goto(f"{storefront.url}/p/order/cancel.html?orderId={order['id']}")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_have_text("Please select a reason")
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_keyboard_choice_in_the_drop_down(page: Page, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    sign_in(page, storefront)
    page.goto(f"{storefront.url}/p/order/cancel.html?orderId={order['id']}")
    page.get_by_role("combobox", name="Refund information").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("combobox", name="Refund information")).to_have_text("I placed a duplicate order")


def test_shipped_order_has_no_cancel_button(page: Page, storefront):
    order = storefront.admin.create_order(status="awaiting_delivery")
    sign_in(page, storefront)
    page.goto(f"{storefront.url}/p/order/detail.html?orderId={order['id']}")
    expect(page.get_by_text("Awaiting delivery", exact=True)).to_be_visible()
    expect(page.get_by_text("can't be cancelled")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile("Protection ends"))).to_be_visible()


def test_tabs_and_view_orders(page: Page, storefront):
    sign_in(page, storefront)
    cards = page.get_by_role("link", name=re.compile("^Order details"))
    expect(cards).to_have_count(10)
    page.get_by_role("button", name="View orders").click()
    expect(cards).to_have_count(20)
    page.get_by_role("tab", name="Shipped").click()
    expect(page.get_by_role("tab", name="Shipped")).to_have_attribute("aria-selected", "true")
    shipped = sum(o["status"] == "awaiting_delivery" for o in storefront.admin.state()["orders"])
    expect(cards).to_have_count(min(shipped, 10))


def test_deadlines_show_with_countdowns_on_the_storefront_clock(page: Page, storefront):
    admin = storefront.admin
    admin.clock(freeze=True)
    order = admin.create_order(status="awaiting_cancellation", seller="silent")
    sign_in(page, storefront)
    page.goto(f"{storefront.url}/p/order/detail.html?orderId={order['id']}")
    expect(page.get_by_role("row", name=re.compile("Seller must answer by"))).to_contain_text("3d 0h 0m left")
    admin.clock(advance=71 * 3600)
    page.reload()
    expect(page.get_by_role("row", name=re.compile("Seller must answer by"))).to_contain_text("1h 0m left")
    admin.settings(auto_actions=False)
    admin.clock(advance=2 * 3600)
    page.reload()
    expect(page.get_by_role("row", name=re.compile("Seller must answer by"))).to_contain_text("1h 0m overdue")


def test_every_status_label_is_visible_on_the_pages(page: Page, storefront):
    from flows.domain import STATUS_LABELS

    storefront.admin.reset(orders=0)
    for status in STATUS_LABELS:
        storefront.admin.create_order(status=status.value, seller="silent")
    sign_in(page, storefront)
    for label in STATUS_LABELS.values():
        expect(page.get_by_text(label, exact=True)).to_be_visible()


def test_captcha_interstitial_on_sign_in(page: Page, storefront):
    storefront.admin.faults(captcha=True)
    page.goto(storefront.url + "/login")
    page.get_by_label("Email").fill(storefront.email)
    page.get_by_label("Password").fill(storefront.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Security verification")).to_be_visible()
    expect(page.get_by_role("slider", name="Slide to verify")).to_be_visible()


def test_view_orders_shows_an_error_on_http_500(page: Page, storefront):
    sign_in(page, storefront)
    storefront.admin.faults(fail_next=1)
    page.get_by_role("button", name="View orders").click()
    expect(page.get_by_role("alert")).to_have_text("Something went wrong. Please try again.")
    page.get_by_role("button", name="View orders").click()
    expect(page.get_by_role("link", name=re.compile("^Order details"))).to_have_count(20)


@pytest.mark.storefront(orders=0)
def test_every_deadline_label_ordermon_shows_is_the_pages_own(page: Page, storefront):
    from flows.domain import DEADLINE_LABELS, Deadline

    admin = storefront.admin
    shown_on = {
        Deadline.PAY_BY: {"status": "awaiting_payment"},
        Deadline.VERIFICATION_BY: {"status": "payment_verifying", "verification_stuck": True},
        Deadline.SHIP_BY: {"status": "awaiting_shipment", "seller": "silent"},
        Deadline.SELLER_RESPONSE_BY: {"status": "awaiting_cancellation", "seller": "silent"},
        Deadline.REFUND_EXPECTED_BY: {"status": "closed", "refund_business_days": None},
        Deadline.DISPUTE_OPENS: {"status": "awaiting_delivery"},
        Deadline.PROTECTION_ENDS: {"status": "awaiting_delivery"},
        Deadline.DELIVERY_EXPECTED_BY: {"status": "awaiting_delivery"},
        Deadline.DISPUTE_CLOSES: {"status": "completed"},
    }
    assert set(shown_on) == set(Deadline)
    sign_in(page, storefront)
    for deadline, spec in shown_on.items():
        order = admin.create_order(**spec)
        assert deadline.value in order["deadlines"]  # the JSON's name
        page.goto(f"{storefront.url}/p/order/detail.html?orderId={order['id']}")
        expect(page.get_by_role("row", name=DEADLINE_LABELS[deadline])).to_be_visible()  # the page's label
