"""The seam from the site (flows/site.py), pure: what an answer may say, and what an answer out of
bounds becomes (a bad answer of the site, or one unreadable order beside the others)."""

import json

import pytest

from flows.errors import BadAnswer, ListChanged
from flows.site import SITE, Response

ORDER = {
    "id": "8100000000000001",
    "status": "awaiting_shipment",
    "status_label": "Awaiting shipment",
    "store": "Shop",
    "total": "12.50",
    "currency": "USD",
    "order_date": "2026-11-20",
}
DETAIL = ORDER | {
    "payment_method": "card",
    "payment_method_label": "Card",
    "placed_at": "2026-11-20T10:00:00+00:00",
    "deadlines": {"ship_by": "2026-11-27T10:00:00+00:00"},
}


def answer(body, status=200, key="1") -> Response:
    return Response(key, status, body if isinstance(body, str) else json.dumps(body))


def page(orders, total=None) -> Response:
    return answer({"orders": orders, "total": len(orders) if total is None else total, "has_more": False})


def order(n: int, **over) -> dict:
    return ORDER | {"id": f"81000000000000{n:02d}"} | over


# ---------------------------------------------------------------- the list's size
@pytest.mark.parametrize(
    ("first", "says"),
    [
        (page([order(1)], total=10**12), "more than the 100000 ordermon reads"),
        (page([order(1), order(2), order(3)], total=20_000), "its first page holds 3"),
        (page([order(1)], total=-1), "a total of '-1'"),
        (page([order(1)], total="1e9"), "a total of '1e9'"),
        (answer("[" * 100_000 + "]" * 100_000), "something else than an order list"),
        (answer("<html>back soon</html>"), "something else than an order list"),
    ],
    ids=["huge total", "total the page does not bear out", "negative", "not a number", "deep nesting", "not JSON"],
)
def test_a_list_claiming_what_it_cannot_be_is_a_bad_answer_before_any_other_page_is_asked(first, says):
    with pytest.raises(BadAnswer, match=says):
        SITE.pages(first, most=100_000)


def test_a_list_that_holds_what_it_says_has_its_pages():
    assert SITE.pages(page([order(n) for n in range(1, 101)], total=250), most=100_000) == 3
    assert SITE.pages(page([]), most=100_000) == 0


# ---------------------------------------------------------------- one order out of bounds
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"order_date": "9999-12-31"}, "order_date: Value error, a date in 9999, outside 2000-2100"),
        ({"total": "1E+999999999"}, "total: Input should be less than 1000000000"),
        ({"total": "-5.00"}, "total: Input should be greater than or equal to 0"),
        ({"total": "NaN"}, "total: Input should be a finite number"),
        ({"id": "1&orderId=2"}, "id: String should match pattern"),
        ({"id": "9" * 100}, "id: String should match pattern"),
    ],
)
def test_an_order_out_of_bounds_is_unreadable_and_the_others_are_read(bad, why):
    listed = SITE.orders([page([order(1, **bad), order(2)])])
    assert [o.id for o in listed.orders] == ["8100000000000002"]
    (unreadable,) = listed.unreadable
    assert unreadable.why.startswith(why)
    assert unreadable.order_id == order(1, **bad)["id"][:40]  # as the site gave it, at most 40 characters


def test_an_unreadable_order_counts_toward_the_total_a_missing_one_does_not():
    assert len(SITE.orders([page([order(1, total="-1"), order(2)], total=2)]).orders) == 1
    with pytest.raises(ListChanged):
        SITE.orders([page([order(2)], total=2)])


def test_a_detail_out_of_bounds_is_a_bad_answer_that_says_where():
    with pytest.raises(BadAnswer, match="placed_at: Value error, a date in 9999"):
        SITE.detail(answer(DETAIL | {"placed_at": "9999-12-31T23:00:00-05:00"}))
    with pytest.raises(BadAnswer, match=r"deadlines\.ship_by: Value error, a date in 1970"):
        SITE.detail(answer(DETAIL | {"deadlines": {"ship_by": "1970-01-01T00:00:00Z"}}))


# ---------------------------------------------------------------- text is data
def test_every_string_of_an_answer_keys_too_is_cleaned_of_control_bidi_and_invisible_characters():
    dirty = "\x1b[2J\x1b]0;owned\x07Evil\u202eStore\u2028\u200b\u061c\ufeff"
    detail = SITE.detail(answer(DETAIL | {"store": dirty, "deadlines": {dirty + "ship_by": DETAIL["placed_at"]}}))
    assert detail.store == "[2J]0;ownedEvilStore"
    assert list(detail.deadlines) == ["[2J]0;ownedEvilStoreship_by"]
    (listed,) = SITE.orders([page([order(1, store=dirty)])]).orders
    assert listed.store == "[2J]0;ownedEvilStore"


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:59:59 -1200", "not a date", "Mon, 32 Jan 2026 00:00:00 GMT", ""])
def test_a_date_header_out_of_any_calendar_is_no_clock(date):
    assert SITE.clock(Response("1", 200, "{}", date)) is None
