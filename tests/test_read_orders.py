"""Reading orders: every tab and page, typed records, the UI paging and the JSON agree."""

import datetime as dt
from decimal import Decimal

import pytest

from flows import OrderNotFound, read_order_ids_ui
from flows.domain import TAB_STATUSES, Status, Tab

pytestmark = pytest.mark.e2e


def test_reads_every_order_of_every_tab(shopper, storefront):
    state = {o["id"]: o for o in storefront.admin.state()["orders"]}
    records = shopper.orders()
    assert {r.id for r in records} == set(state)
    for record in records:
        assert record.status == state[record.id]["status"]
        assert isinstance(record.total, Decimal) and record.currency == "USD"
        assert isinstance(record.order_date, dt.date)
    for tab in Tab:
        expected = {i for i, o in state.items() if o["status"] in TAB_STATUSES[tab]}
        assert {r.id for r in shopper.orders(tab)} == expected


@pytest.mark.storefront(orders=230)
def test_pages_beyond_one_request(shopper):
    assert len({r.id for r in shopper.orders()}) == 230


@pytest.mark.storefront(orders=35)
def test_ui_view_orders_until_no_more_matches_the_json(shopper):
    assert read_order_ids_ui(shopper.session) == [r.id for r in shopper.orders()]


def test_detail_has_payment_method_timestamps_and_deadlines(shopper, storefront):
    order = storefront.admin.create_order(
        status="awaiting_cancellation", seller="silent", payment_method="western_union"
    )
    detail = shopper.order(order["id"])
    assert detail.status is Status.AWAITING_CANCELLATION
    assert detail.payment_method == "western_union" and detail.refund_destination == "the Alipay balance"
    assert detail.cancel_requested_at and detail.paid_at
    assert set(detail.deadlines) == {"seller_response_by", "ship_by"}


def test_detail_of_unknown_order(shopper):
    with pytest.raises(OrderNotFound):
        shopper.order("8100000000000000")
