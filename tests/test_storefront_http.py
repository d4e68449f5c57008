"""The storefront as a site: sessions, CSRF, clear 4xx pages, no tracebacks."""

import httpx
import pytest
from conftest import csrf_from


def first(storefront, status):
    return next(o for o in storefront.admin.state()["orders"] if o["status"] == status)


def test_pages_need_a_session(storefront):
    response = httpx.get(storefront.url + "/p/order/index.html?tab=to_ship")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=%2Fp%2Forder%2Findex.html%3Ftab%3Dto_ship"


def test_wrong_password_is_refused(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        token = csrf_from(client.get("/login"))
        response = client.post("/login", data={"email": storefront.email, "password": "nope", "csrf_token": token})
        assert response.status_code == 401
        assert "incorrect" in response.text
        assert client.get("/p/order/list.json").status_code == 401


def test_login_without_csrf_is_forbidden(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        client.get("/login")
        response = client.post("/login", data={"email": storefront.email, "password": storefront.password})
        assert response.status_code == 403


def test_session_cookie_is_httponly_and_rotated_on_sign_in(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        page = client.get("/login")
        before = client.cookies["sf_session"]
        assert "httponly" in page.headers["set-cookie"].lower()
        client.post(
            "/login", data={"email": storefront.email, "password": storefront.password, "csrf_token": csrf_from(page)}
        )
        assert client.cookies["sf_session"] != before


def test_passwords_are_stored_hashed(storefront):
    stored = storefront.site.accounts[storefront.email]
    assert storefront.password not in stored and stored.startswith("scrypt$")


def test_orders_json_pages_through_every_order(storefront, buyer_http):
    seen, page = [], 1
    while True:
        data = buyer_http.get(f"/p/order/list.json?page={page}").json()
        seen += [o["id"] for o in data["orders"]]
        if not data["has_more"]:
            break
        page += 1
    assert len(seen) == len(set(seen)) == 40
    assert buyer_http.get("/p/order/list.json?tab=to_ship&pageSize=100").json()["total"] == sum(
        o["status"] in ("payment_verifying", "awaiting_shipment", "awaiting_cancellation")
        for o in storefront.admin.state()["orders"]
    )


@pytest.mark.parametrize(
    "query, status",
    [
        ("tab=nope", 400),
        ("page=0", 400),
        ("pageSize=1000", 400),
        ("page=x", 400),
        ("page=\u00b2", 400),
        ("page=" + "9" * 5000, 400),
    ],
)
def test_orders_json_bad_parameters(buyer_http, query, status):
    response = buyer_http.get("/p/order/list.json?" + query)
    assert response.status_code == status and response.json()["error"]


def test_unknown_order_gets_a_404_page(buyer_http):
    for order_id in ("8100000000000000", "12", "abc"):
        response = buyer_http.get(f"/p/order/detail.html?orderId={order_id}")
        assert response.status_code == 404
        assert "No order" in response.text
    assert buyer_http.get("/p/order/detail.html").status_code == 400


def test_forced_cancel_post_on_a_shipped_order_is_409_and_changes_nothing(storefront, buyer_http):
    shipped = first(storefront, "awaiting_delivery")
    token = csrf_from(buyer_http.get("/p/order/index.html"))
    response = buyer_http.post(
        "/p/order/cancel", data={"orderId": shipped["id"], "reason": "I don't need this order", "csrf_token": token}
    )
    assert response.status_code == 409
    assert "cannot be cancelled while Awaiting delivery" in response.text
    assert storefront.admin.order(shipped["id"]) == shipped | {"cancel_submits": 1}  # refused, but counted


@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_cancel_without_the_right_csrf_token_is_403_and_changes_nothing(storefront, buyer_http, csrf):
    order = first(storefront, "awaiting_shipment")
    data = {"orderId": order["id"], "reason": "I don't need this order"}
    if csrf is not None:
        data["csrf_token"] = csrf
    response = buyer_http.post("/p/order/cancel", data=data)
    assert response.status_code == 403
    after = storefront.admin.order(order["id"])
    assert after["cancel_requests"] == order["cancel_requests"]
    assert after["cancel_submits"] == order["cancel_submits"] + 1  # it reached the site all the same


def test_cancel_with_unknown_or_missing_reason_is_400(storefront, buyer_http):
    order = first(storefront, "awaiting_shipment")
    token = csrf_from(buyer_http.get("/p/order/index.html"))
    for reason in ("", "because"):
        response = buyer_http.post(
            "/p/order/cancel", data={"orderId": order["id"], "reason": reason, "csrf_token": token}
        )
        assert response.status_code == 400
    after = storefront.admin.order(order["id"])
    assert after["status"] == "awaiting_shipment"
    assert (after["cancel_requests"], after["cancel_submits"]) == (0, 2)


def submit_cancel(client, order_id: str, reason: str = "I don't need this order") -> httpx.Response:
    """The refund page's Submit, as the browser posts it: the form's own fields."""
    token = csrf_from(client.get("/p/order/index.html"))
    return client.post("/p/order/cancel", data={"orderId": order_id, "reason": reason, "csrf_token": token})


def counts(storefront, order_id: str) -> tuple[int, int]:
    order = storefront.admin.order(order_id)
    return order["cancel_requests"], order["cancel_submits"]


def test_every_submit_is_counted_the_refused_second_one_too(storefront, buyer_http):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    assert counts(storefront, order["id"]) == (0, 0)
    token = csrf_from(buyer_http.get(f"/p/order/cancel.html?orderId={order['id']}"))
    form = {"orderId": order["id"], "reason": "I don't need this order", "csrf_token": token}
    assert buyer_http.post("/p/order/cancel", data=form).status_code == 303
    again = buyer_http.post("/p/order/cancel", data=form)  # the same Submit once more
    assert again.status_code == 409 and "Awaiting cancellation" in again.text
    assert counts(storefront, order["id"]) == (1, 2)
    state = {o["id"]: o for o in storefront.admin.state()["orders"]}
    assert (state[order["id"]]["cancel_requests"], state[order["id"]]["cancel_submits"]) == (1, 2)
    detail = buyer_http.get(f"/p/order/detail.json?orderId={order['id']}").json()
    assert "cancel_submits" not in detail and "cancel_requests" not in detail  # the site's own bookkeeping


def test_submits_after_the_seller_refused_are_counted(storefront, buyer_http):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    assert submit_cancel(buyer_http, order["id"]).status_code == 303
    refused = storefront.admin.seller(order["id"], "refuse")
    assert refused["status"] == "awaiting_shipment" and refused["cancel_submits"] == 1
    token = csrf_from(buyer_http.get(f"/p/order/cancel.html?orderId={order['id']}"))  # cancellable again
    form = {"orderId": order["id"], "reason": "Shipping takes too long", "csrf_token": token}
    assert buyer_http.post("/p/order/cancel", data=form).status_code == 303
    assert buyer_http.post("/p/order/cancel", data=form).status_code == 409
    assert counts(storefront, order["id"]) == (2, 3)


def test_a_submit_without_a_session_is_counted_and_one_naming_no_order_counts_nowhere(storefront, buyer_http):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    with httpx.Client(base_url=storefront.url) as anonymous:
        response = anonymous.post("/p/order/cancel", data={"orderId": order["id"], "reason": "I don't need this order"})
        assert response.status_code == 302 and response.headers["location"].startswith("/login")
        assert (
            anonymous.post(
                "/p/order/cancel", content=b"\xff\x00", headers={"content-type": "multipart/form-data; boundary=x"}
            ).status_code
            == 302
        )
    before = {o["id"]: o["cancel_submits"] for o in storefront.admin.state()["orders"]}
    assert before[order["id"]] == 1
    assert submit_cancel(buyer_http, "8100000000000000").status_code == 404
    assert {o["id"]: o["cancel_submits"] for o in storefront.admin.state()["orders"]} == before


def test_cancel_page_for_a_shipped_order_is_409(storefront, buyer_http):
    shipped = first(storefront, "awaiting_delivery")
    assert buyer_http.get(f"/p/order/cancel.html?orderId={shipped['id']}").status_code == 409


def test_server_errors_show_no_traceback(storefront, buyer_http):
    storefront.admin.faults(fail_next=1)
    response = buyer_http.get("/p/order/index.html")
    assert response.status_code == 500
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_open_redirect_is_not_followed(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        token = csrf_from(client.get("/login"))
        response = client.post(
            "/login?next=//evil.example/",
            data={"email": storefront.email, "password": storefront.password, "csrf_token": token},
        )
        assert response.headers["location"] == "/p/order/index.html"


def test_pages_send_a_content_security_policy_and_nosniff(storefront, buyer_http):
    for path in ("/login", "/p/order/index.html", "/p/order/list.json"):
        response = buyer_http.get(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in buyer_http.get("/p/order/index.html").text  # no inline script to allow


def test_failed_sign_ins_are_throttled_per_account(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        for _ in range(storefront.site.settings.sign_in_attempts):
            token = csrf_from(client.get("/login"))
            assert (
                client.post(
                    "/login", data={"email": storefront.email, "password": "nope", "csrf_token": token}
                ).status_code
                == 401
            )
        token = csrf_from(client.get("/login"))
        refused = client.post(
            "/login", data={"email": storefront.email, "password": storefront.password, "csrf_token": token}
        )
        assert refused.status_code == 429 and "Too many" in refused.text
    storefront.admin.advance(minutes=16)
    with httpx.Client(base_url=storefront.url) as client:
        token = csrf_from(client.get("/login"))
        assert (
            client.post(
                "/login", data={"email": storefront.email, "password": storefront.password, "csrf_token": token}
            ).status_code
            == 303
        )


def test_anonymous_sessions_are_capped(storefront):
    with httpx.Client(base_url=storefront.url) as client:
        for _ in range(600):
            client.cookies.clear()  # each visit a new visitor
            client.get("/login")
    assert sum(1 for session in storefront.site.sessions.values() if session.email is None) <= 200
