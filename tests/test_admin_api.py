"""The storefront's admin API, over real HTTP."""

import datetime as dt
import itertools
from collections import Counter

import httpx
import pytest
from conftest import csrf_from

from fixtures.admin_client import AdminError
from fixtures.storefront import Site, StorefrontServer
from flows.domain import Status

STATUSES = [s.value for s in Status]


def test_state_lists_clock_and_orders_with_the_documented_fields(storefront):
    state = storefront.admin.state()
    assert set(state["clock"]) == {"now", "scale", "frozen"}
    assert len(state["orders"]) == 40
    for order in state["orders"]:
        assert {
            "id",
            "status",
            "close_reason",
            "refund_status",
            "cancel_reason",
            "cancel_requests",
            "cancel_submits",
        } <= set(order)
        assert order["status"] in STATUSES
        assert order["refund_status"] in ("none", "pending", "completed")
    assert {o["status"] for o in state["orders"]} == set(STATUSES)  # demo data covers every status


@pytest.mark.parametrize("status", STATUSES)
def test_create_an_order_in_every_status(storefront, status):
    order = storefront.admin.create_order(status=status, seller="silent", payment_method="bank_transfer")
    assert order["status"] == status
    assert len(order["id"]) == 16
    assert storefront.admin.order(order["id"])["status"] == status


def test_create_order_with_timestamps_and_stuck_refund(storefront):
    now = storefront.admin.now()
    order = storefront.admin.create_order(
        status="closed",
        refund_started_at=now - dt.timedelta(days=60),
        refund_business_days=None,
        payment_method="cod",
    )
    assert order["refund_status"] == "pending"
    assert order["refund_destination"] == "a coupon"
    assert "refund_expected_by" in order["deadlines"]


def test_checkout_ids_step_by_20000(storefront):
    order = storefront.admin.create_order(checkout_size=3)
    ids = [int(i) for i in order["checkout"]]
    assert [b - a for a, b in itertools.pairwise(ids)] == [20000, 20000]


def test_clock_advance_set_scale_freeze(storefront):
    admin = storefront.admin
    frozen = admin.clock(freeze=True)
    assert frozen["frozen"] is True
    moved = admin.clock(advance=3600)
    assert dt.datetime.fromisoformat(moved["now"]) - dt.datetime.fromisoformat(frozen["now"]) == dt.timedelta(hours=1)
    target = dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)
    assert admin.clock(set=target)["now"] == target.isoformat()
    assert admin.clock(scale=60)["scale"] == 60


def test_date_header_follows_the_storefront_clock(storefront):
    storefront.admin.clock(set=dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC), freeze=True)
    response = httpx.get(storefront.url + "/login")
    assert response.headers["date"] == "Mon, 06 May 2030 07:08:09 GMT"


def test_clock_moves_a_silent_sellers_order_past_its_window(storefront):
    admin = storefront.admin
    admin.clock(freeze=True)
    order = admin.create_order(status="awaiting_cancellation", seller="silent")
    admin.advance(hours=71)
    assert admin.order(order["id"])["status"] == "awaiting_cancellation"
    admin.advance(hours=1)
    after = admin.order(order["id"])
    assert after["status"] == "closed"
    assert after["close_reason"] == "cancel_order_close_trade"
    assert after["refund_status"] == "pending"


def test_seller_actions(storefront):
    admin = storefront.admin
    order = admin.create_order(status="awaiting_cancellation", seller="silent")
    assert admin.seller(order["id"], "accept")["status"] == "closed"
    other = admin.create_order(status="awaiting_shipment", seller="silent")
    assert admin.seller(other["id"], "ship")["status"] == "awaiting_delivery"
    with pytest.raises(AdminError) as err:
        admin.seller(other["id"], "refuse")
    assert err.value.status == 409
    assert admin.order(other["id"])["status"] == "awaiting_delivery"


def test_settings_change_windows_and_bad_values_change_nothing(storefront):
    admin = storefront.admin
    admin.clock(freeze=True)
    order = admin.create_order(status="awaiting_cancellation", seller="silent")
    admin.settings(seller_response_hours=48)
    assert (
        admin.order(order["id"])["deadlines"]["seller_response_by"]
        == (admin.now() + dt.timedelta(hours=48)).isoformat()
    )
    with pytest.raises(AdminError) as err:
        admin.settings(seller_response_hours=24, processing_business_days="seven")
    assert err.value.status == 422 and "processing_business_days" in err.value.message
    assert admin.state()["settings"]["seller_response_hours"] == 48
    with pytest.raises(AdminError) as err:
        admin.settings(no_such_window=3)
    assert "no_such_window" in err.value.message
    admin.settings(holiday_country="DE", holidays=["2026-12-24"], auto_actions=False, auto_action_lag=60)
    settings = admin.state()["settings"]
    assert settings["holiday_country"] == "DE" and settings["auto_actions"] is False


def test_faults_fail_next_returns_500_then_recovers(storefront):
    storefront.admin.faults(fail_next=2)
    assert httpx.get(storefront.url + "/login").status_code == 500
    assert httpx.get(storefront.url + "/login").status_code == 500
    assert httpx.get(storefront.url + "/login").status_code == 200
    # the admin API itself is never faulted
    assert storefront.admin.faults(error_rate=1.0)["error_rate"] == 1.0
    assert httpx.get(storefront.url + "/login").status_code == 500
    storefront.admin.faults(clear=True)
    assert httpx.get(storefront.url + "/login").status_code == 200


def test_faults_session_expiry(storefront, buyer_http):
    assert buyer_http.get("/p/order/index.html").status_code == 200
    assert storefront.admin.faults(expire_sessions=True)["sessions_expired"] >= 1
    response = buyer_http.get("/p/order/index.html")
    assert response.status_code == 302 and response.headers["location"].startswith("/login")
    assert buyer_http.get("/p/order/list.json").status_code == 401


def test_reset_with_seed_and_count(storefront):
    assert storefront.admin.reset(seed=7, orders=12) == {"orders": 12, "seed": 7}
    first = [o["id"] for o in storefront.admin.state()["orders"]]
    storefront.admin.reset(seed=7, orders=12)
    assert [o["id"] for o in storefront.admin.state()["orders"]] == first


def test_buyers_come_in_bulk_and_each_sees_only_its_own_orders(storefront):
    buyers = storefront.admin.add_buyers(3, orders=4)
    assert [b["email"] for b in buyers] == [f"buyer-{n:05}@fleet.example" for n in (1, 2, 3)]
    assert len({b["suffix"] for b in buyers}) == 3
    owners = Counter(o["account"] for o in storefront.admin.state()["orders"])
    assert owners == {storefront.email: 40} | {b["email"]: 4 for b in buyers}
    for buyer in buyers[::2]:
        with httpx.Client(base_url=storefront.url, timeout=10) as client:
            token = csrf_from(client.get("/login"))
            client.post("/login", data={"email": buyer["email"], "password": buyer["password"], "csrf_token": token})
            ids = [o["id"] for o in client.get("/p/order/list.json", params={"pageSize": 50}).json()["orders"]]
        assert len(ids) == 4 and all(i.endswith(buyer["suffix"]) for i in ids)
    more = storefront.admin.add_buyers(2, orders=1, signed_in=True)
    assert [b["email"] for b in more] == ["buyer-00004@fleet.example", "buyer-00005@fleet.example"]
    cookie = more[1]["cookie"]  # a session as after a sign-in
    with httpx.Client(base_url=storefront.url, cookies={cookie["name"]: cookie["value"]}, timeout=10) as client:
        (order,) = client.get("/p/order/list.json").json()["orders"]
    assert order["id"].endswith(more[1]["suffix"]) and "cookie" not in buyers[0]


def test_an_order_for_another_buyer_and_none_for_a_stranger(storefront):
    (buyer,) = storefront.admin.add_buyers(1, orders=0)
    order = storefront.admin.create_order(status="awaiting_shipment", buyer=buyer["email"])
    assert order["account"] == buyer["email"] and order["id"].endswith(buyer["suffix"])
    with pytest.raises(AdminError, match=r"no buyer nobody@example\.com"):
        storefront.admin.create_order(status="awaiting_shipment", buyer="nobody@example.com")


def test_the_access_log_names_each_requests_buyer_and_client(storefront):
    (buyer,) = storefront.admin.add_buyers(1, orders=1, signed_in=True)
    cookie = buyer["cookie"]
    before = len(storefront.admin.visits())
    with httpx.Client(base_url=storefront.url, cookies={cookie["name"]: cookie["value"]}, timeout=10) as client:
        client.get("/p/order/list.json", headers={"User-Agent": "probe/2"})
    httpx.get(storefront.url + "/login", headers={"User-Agent": "probe/3"}, timeout=10)
    listed, login = storefront.admin.visits()[before:]
    assert (listed["request"], listed["buyer"]) == ("GET /p/order/list.json", buyer["email"])
    assert listed["agent"] == "probe/2"
    assert (login["request"], login["agent"]) == ("GET /login", "probe/3")
    assert listed["started"] <= listed["finished"] <= login["started"]


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/__admin/clock", b"{not json", 400),
        ("POST", "/__admin/clock", b"[1, 2]", 400),
        ("POST", "/__admin/clock", b"{}", 422),
        ("POST", "/__admin/clock", b'{"scale": -1}', 422),
        ("POST", "/__admin/orders", b'{"status": "lost"}', 422),
        ("POST", "/__admin/orders", b'{"payment_method": "gold"}', 422),
        ("POST", "/__admin/orders", b'{"placed_at": "yesterday"}', 422),
        ("POST", "/__admin/orders", b'{"refund_business_days": -3}', 422),
        ("POST", "/__admin/orders/8100000000000000/seller", b'{"action": "ship"}', 404),
        ("POST", "/__admin/orders/8100000000000000/seller", b'{"action": "dance"}', 422),
        ("POST", "/__admin/faults", b'{"error_rate": 2}', 422),
        ("POST", "/__admin/reset", b'{"orders": -1}', 422),
        ("POST", "/__admin/reset", b'{"orders": 100001}', 422),
        ("POST", "/__admin/buyers", b'{"count": 0}', 422),
        ("POST", "/__admin/buyers", b'{"count": 20001}', 422),
        ("POST", "/__admin/buyers", b'{"count": 2, "orders": "5"}', 422),
        # refused, and nothing stored (each once answered 500 or 422 but changed the state)
        ("POST", "/__admin/orders", b'{"status": "payment_verifying", "verification_minutes": 1e308}', 422),
        ("POST", "/__admin/orders", b'{"status": "awaiting_shipment", "paid_at": "9999-12-25T00:00:00Z"}', 422),
        ("POST", "/__admin/clock", b'{"set": "2031-01-01T00:00:00Z", "advance": 1e300}', 422),
        # bad input that once answered 500
        ("POST", "/__admin/clock", b"[" * 5000 + b"]" * 5000, 400),
        ("POST", "/__admin/clock", b'{"advance": "\xff"}', 400),
        ("POST", "/__admin/faults", b'{"fail_next": ' + b"9" * 5000 + b"}", 400),
        ("POST", "/__admin/clock", b'{"advance": Infinity}', 422),
        ("POST", "/__admin/clock", b'{"advance": 1e300}', 422),
        # loose types once accepted with 200
        ("POST", "/__admin/clock", b'{"advance": "10"}', 422),
        ("POST", "/__admin/clock", b'{"freeze": "yes"}', 422),
        ("POST", "/__admin/faults", b'{"fail_next": "3"}', 422),
        # settings checked as a whole, not one by one
        ("POST", "/__admin/settings", b'{"refund_business_days_min": 30, "refund_business_days_max": 5}', 422),
        ("POST", "/__admin/settings", b'{"refund_business_days_min": 30}', 422),
        # no body is read in full beyond the limit
        ("POST", "/__admin/orders", b'{"store": "' + b"x" * 300_000 + b'"}', 413),
    ],
)
def test_bad_admin_input_gets_a_clear_4xx_and_changes_nothing(storefront, method, path, body, status):
    before = storefront.admin.state()
    response = httpx.request(
        method, storefront.url + path, content=body, headers={"X-Admin-Token": storefront.admin_token}
    )
    assert response.status_code == status
    assert response.json()["error"]
    after = storefront.admin.state()
    moved = dt.datetime.fromisoformat(after["clock"]["now"]) - dt.datetime.fromisoformat(before["clock"]["now"])
    assert after["orders"] == before["orders"] and dt.timedelta(0) <= moved < dt.timedelta(seconds=30)
    assert after["faults"] == before["faults"] and after["settings"] == before["settings"]
    assert httpx.get(storefront.url + "/login").status_code == 200  # the site still serves


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_admin_api_needs_its_token(storefront, token):
    headers = {} if token is None else {"X-Admin-Token": token}
    response = httpx.post(storefront.url + "/__admin/reset", json={"orders": 0}, headers=headers)
    assert response.status_code == 401
    assert len(storefront.admin.state()["orders"]) == 40


def test_no_admin_mode_has_no_admin_api():
    with StorefrontServer(Site(orders=1, admin=False)) as server:
        assert httpx.get(server.url + "/__admin/state", headers={"X-Admin-Token": "x"}).status_code == 404
        assert httpx.get(server.url + "/login").status_code == 200


def test_the_seller_extends_protection_and_the_page_shows_the_new_end(storefront, buyer_http):
    admin = storefront.admin
    order = admin.create_order(status="awaiting_delivery")
    before = dt.datetime.fromisoformat(order["deadlines"]["protection_ends"])
    extended = admin.seller(order["id"], "extend_protection", days=30)
    assert dt.datetime.fromisoformat(extended["deadlines"]["protection_ends"]) > before
    page = buyer_http.get(f"/p/order/detail.json?orderId={order['id']}").json()
    assert page["deadlines"]["protection_ends"] == extended["deadlines"]["protection_ends"]
    for body in (
        {"action": "extend_protection"},
        {"action": "ship", "days": 3},
        {"action": "extend_protection", "days": 0},
    ):
        with pytest.raises(AdminError) as err:
            admin.call("POST", f"/orders/{order['id']}/seller", body)
        assert err.value.status == 422
    assert admin.order(order["id"])["deadlines"] == extended["deadlines"]


def test_the_page_shows_only_the_deadlines_it_is_told_to(storefront, buyer_http):
    order = storefront.admin.create_order(status="awaiting_delivery")
    storefront.admin.settings(shown_deadlines=["protection_ends"])
    page = buyer_http.get(f"/p/order/detail.json?orderId={order['id']}").json()
    assert set(page["deadlines"]) == {"protection_ends"}
    assert {"delivery_expected_by", "dispute_closes"} <= set(storefront.admin.order(order["id"])["deadlines"])
    assert page["shipping_method"] == "standard" and set(page["delivery_estimate"]) == {"earliest", "latest"}


def test_every_order_keeps_what_its_page_showed_from_which_moment(storefront):
    """The record a fault campaign judges a monitor by: each change of status, refund status or
    deadlines, at the site time it happened."""
    admin = storefront.admin
    admin.clock(freeze=True)
    order = admin.create_order(status="awaiting_cancellation", seller="silent")
    created = admin.now()
    admin.advance(hours=80)  # the platform cancels after 72 h: closed, refund pending
    pages = admin.order(order["id"])["pages"]
    assert [(p["status"], p["refund_status"]) for p in pages] == [
        ("awaiting_cancellation", "none"),
        ("closed", "pending"),
    ]
    assert dt.datetime.fromisoformat(pages[0]["from"]) == created
    assert dt.datetime.fromisoformat(pages[1]["from"]) == created + dt.timedelta(hours=72)
    assert set(pages[0]["deadlines"]) == {"seller_response_by", "ship_by"}
    assert set(pages[1]["deadlines"]) == {"refund_expected_by"}
    admin.advance(hours=1)  # nothing changed: nothing new recorded
    assert admin.order(order["id"])["pages"] == pages


def test_requests_in_flight_are_counted_until_answered(storefront):
    admin = storefront.admin
    admin.faults(latency_ms=5_000, target="GET /login")
    with httpx.Client(timeout=0.5, headers={"User-Agent": "probe/1"}) as client, pytest.raises(httpx.ReadTimeout):
        client.get(storefront.url + "/login")
    assert admin.requests()["in_flight"] == {"GET /login": 1}  # the site still holds it
    assert admin.requests()["in_flight_agents"] == [{"request": "GET /login", "agent": "probe/1"}]
    admin.faults(clear=True)
    assert httpx.get(storefront.url + "/login").status_code == 200
    assert storefront.site.wait_idle(10)  # the held one is answered at last (to a client long gone)
    assert admin.requests()["in_flight"] == {} and admin.requests()["in_flight_agents"] == []
    (held,) = [v for v in admin.visits() if v["agent"] == "probe/1"]
    assert held["started"] < held["client_until"] < held["started"] + 5 <= held["finished"]  # it hung up at 0.5 s
    assert admin.requests()["requests"]["GET /login"] == 2
