"""`ordermon serve` as a person uses it: a real Chromium on the dashboard, served on a database a
real monitor run filled from the storefront; and its API, token and headers over HTTP."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import command_env, free_port, ordermon, ordermon_here
from playwright.sync_api import Page, expect

from monitor.rules import RULES
from monitor.settings import MonitorSettings
from monitor.web import Board, create_app

pytestmark = pytest.mark.e2e
TOKEN = "a-token-of-the-dashboard-1234"


@contextmanager
def serving(db: str | Path, *, token: str | None = None, **settings):
    """The dashboard on ``db`` in a thread of this process (uvicorn, as `ordermon serve` runs it)."""
    import uvicorn

    board = Board(MonitorSettings(_env_file=None, db=str(db), **settings), db)
    listening = socket.create_server(("127.0.0.1", 0))  # listening now: a request waits for uvicorn to take it
    server = uvicorn.Server(uvicorn.Config(create_app(board, token=token), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        board.close()
        listening.close()


def record(storefront, env: dict) -> dict:
    """The storefront's orders, a week on (some overdue), recorded by one `ordermon monitor --once`."""
    storefront.admin.advance(days=7)
    result = ordermon(env, "monitor", "--once")
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def polled(cli_env, storefront):
    """A database of the test's own (it polls again, or changes the storefront)."""
    return record(storefront, cli_env)


@pytest.fixture(scope="module")
def recorded(_ordermon_storefront_server, tmp_path_factory):
    """One database for the tests that only read it, recorded once per module (and worker) from a
    fresh storefront: the next test that asks for the storefront gets it reset as usual."""
    from fixtures.admin_client import AdminClient
    from fixtures.pytest_plugin import StorefrontHandle

    server = _ordermon_storefront_server
    server.site.wait_idle()
    server.site.restore_defaults()
    server.site.reset(seed=0, orders=40)
    admin = AdminClient(server.url, server.site.admin_token)
    try:
        shop = StorefrontHandle(server.url, server.site.admin_token, admin, server.site)
        return record(shop, command_env(shop, tmp_path_factory.mktemp("recorded")))
    finally:
        admin.close()


@pytest.fixture(scope="module")
def dashboard(recorded):
    with serving(recorded["ORDERMON_DB"], poll_interval=900) as url:
        yield url


def status(env) -> list[dict]:
    return json.loads(ordermon_here(env, "status", "--json").stdout)


def badge(row: dict) -> str:
    """What `status --json` says an order needs, in the dashboard's words."""
    said = {"overdue": "Overdue", "warning": "Needs attention", "unreadable": "Unreadable"}
    return said.get(row["attention"]) or ("On track" if row["next_deadline"] else "No deadline")


def shown(page: Page) -> list[tuple[str, str]]:
    """The orders table's rows as a person reads them: order id and what it needs."""
    table = page.get_by_role("table", name=re.compile("orders?"))
    rows = table.get_by_role("row").all()[1:]  # the header row first
    return [(row.get_by_role("rowheader").get_by_role("link").inner_text(), row.locator(".badge").inner_text())
            for row in rows]  # fmt: skip


def test_the_orders_page_shows_what_status_json_says(page: Page, dashboard, recorded):
    expected = [(r["order_id"], badge(r)) for r in status(recorded)]
    page.goto(dashboard)
    expect(page.get_by_role("heading", name="Orders")).to_be_visible()
    assert shown(page) == expected  # the same orders, in the same order, needing the same
    overdue = sum(1 for _, need in expected if need == "Overdue")
    assert overdue and page.get_by_role("link", name=re.compile(r"overdue$")).inner_text().split()[0] == str(overdue)


def test_filters_and_search_narrow_the_orders(page: Page, dashboard, recorded):
    rows = status(recorded)
    page.goto(dashboard)
    page.get_by_label("Needs").select_option(label="Overdue")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"need=overdue"))
    assert shown(page) == [(r["order_id"], "Overdue") for r in rows if r["attention"] == "overdue"]

    store = rows[-1]["store"]
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Search").fill(store.upper())  # any case
    page.get_by_label("Search").press("Enter")
    assert [oid for oid, _ in shown(page)] == [r["order_id"] for r in rows if r["store"] == store]


def test_an_orders_page_shows_its_timeline_deadlines_and_alerts(page: Page, dashboard, recorded):
    alerts = json.loads(ordermon_here(recorded, "alerts", "--json").stdout)
    alert = next(a for a in alerts if a["order_id"])
    page.goto(dashboard)
    page.get_by_role("link", name=alert["order_id"], exact=True).click()
    expect(page.get_by_role("heading", name=f"Order {alert['order_id']}")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^Timeline: placed"))).to_be_visible()
    expect(page.get_by_role("rowheader", name=re.compile(re.escape(alert["title"])))).to_be_visible()
    link = page.get_by_role("link", name="Open the order on the site")
    expect(link).to_have_attribute("href", re.compile(re.escape(alert["order_id"]) + "$"))


def test_a_new_poll_appears_without_a_reload(page: Page, polled, storefront):
    with serving(polled["ORDERMON_DB"]) as url:
        page.goto(url)
        page.evaluate("window.sameDocument = true")
        made = storefront.admin.create_order(status="awaiting_shipment", store="Newly Polled Store")
        assert ordermon(polled, "monitor", "--once").returncode == 0
        expect(page.get_by_role("link", name=made["id"], exact=True)).to_be_visible(timeout=15_000)
        expect(page.get_by_role("status")).to_contain_text("after a new poll")
        assert page.evaluate("window.sameDocument") is True  # the page was not loaded again


def test_health_turns_503_when_polls_stop(page: Page, polled):
    with serving(polled["ORDERMON_DB"], poll_interval=2) as url:
        assert ordermon(polled, "monitor", "--once").returncode == 0
        first = httpx.get(url + "/api/health")
        assert first.status_code == 200 and first.json()["healthy"], first.text
        page.goto(url + "/health")
        expect(page.get_by_text(re.compile("^Healthy:"))).to_be_visible()
        # Two intervals without a poll: nothing changes in the database, the open page says so itself.
        expect(page.get_by_text(re.compile("^Unhealthy:"))).to_be_visible(timeout=20_000)
        answer = httpx.get(url + "/api/health")
        assert answer.status_code == 503 and "last successful poll" in answer.json()["problems"][0]


def test_every_control_has_a_name_and_the_keyboard_reaches_it(page: Page, dashboard):
    page.goto(dashboard)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    for control in (
        page.get_by_label("Needs"), page.get_by_label("Status"), page.get_by_label("Account"),
        page.get_by_label("Search"), page.get_by_role("button", name="Filter"),
        page.get_by_role("link", name="Clear filters"),
    ):  # fmt: skip
        page.keyboard.press("Tab")
        expect(control).to_be_focused()
    controls = page.locator("a, button, input, select")
    assert controls.count() > 20
    for i in range(controls.count()):
        if controls.nth(i).get_attribute("type") != "hidden":
            expect(controls.nth(i)).to_have_accessible_name(re.compile(r"\S"))


# ---------------------------------------------------------------------- over HTTP, no browser
def test_the_api_answers_what_the_commands_say(dashboard, recorded):
    rows = status(recorded)
    orders = httpx.get(dashboard + "/api/orders").json()
    assert orders["total"] == len(rows) and orders["orders"] == rows
    narrowed = httpx.get(dashboard + "/api/orders", params={"need": "overdue", "limit": 2}).json()
    assert narrowed["total"] == sum(r["overdue"] for r in rows) and len(narrowed["orders"]) <= 2

    one = httpx.get(dashboard + f"/api/orders/{rows[0]['order_id']}").json()
    assert one["order_id"] == rows[0]["order_id"] and one["history"] and one["events"][0]["event"] == "placed"
    assert httpx.get(dashboard + "/api/orders/8100000000000000").status_code == 404

    alerts = json.loads(ordermon_here(recorded, "alerts", "--json").stdout)
    assert [a["id"] for a in httpx.get(dashboard + "/api/alerts").json()] == [a["id"] for a in reversed(alerts)]
    urgent = httpx.get(dashboard + "/api/alerts", params={"severity": "urgent"}).json()
    assert [a["id"] for a in urgent] == [a["id"] for a in reversed(alerts) if a["severity"] == "urgent"] and urgent
    overdue = httpx.get(dashboard + "/api/alerts", params={"judged": "overdue", "state": "open"}).json()
    assert {a["rule"] for a in overdue} == {
        a["rule"] for a in alerts if a["open"] and RULES[a["rule"]].judged == "overdue"
    } and overdue
    assert httpx.get(dashboard + "/api/health").status_code == 200


def test_the_calendar_holds_every_binding_deadline_as_the_command_writes_it(dashboard, recorded, tmp_path):
    from icalendar import Calendar

    served = httpx.get(dashboard + "/calendar.ics")
    assert served.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(served.content).walk("VEVENT")
    binding = [
        (r["order_id"], name) for r in status(recorded) for name, d in r["deadlines"].items()
        if d["binds"] and d["kind"] == "deadline"
    ]  # fmt: skip
    assert len(events) == len(binding) > 0
    assert ordermon_here(recorded, "calendar", "--out", str(tmp_path / "d.ics")).returncode == 0
    written = Calendar.from_ical((tmp_path / "d.ics").read_bytes()).walk("VEVENT")
    assert sorted(str(e["UID"]) for e in written) == sorted(str(e["UID"]) for e in events)
    assert all(str(e["URL"]).startswith(recorded["ORDERMON_STOREFRONT_URL"]) for e in written)


def test_a_token_is_asked_of_every_request_and_compared_whole(recorded):
    with serving(recorded["ORDERMON_DB"], token=TOKEN) as url, httpx.Client(base_url=url) as client:
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2F"
        assert client.get("/api/orders").status_code == 401
        assert client.get("/calendar.ics").status_code == 401
        assert client.get("/calendar.ics", params={"token": TOKEN[:-1]}).status_code == 401
        assert client.get("/calendar.ics", params={"token": TOKEN}).status_code == 200  # a calendar app's URL
        assert client.get("/api/orders", params={"token": TOKEN}).status_code == 401  # only there
        assert client.get("/api/orders", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
        assert client.get("/api/orders", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/static/app.css").status_code == 200  # the sign-in page's own style

        wrong = client.post("/signin", data={"token": "not it", "next": "/alerts"})
        assert wrong.status_code == 401 and "not the token" in wrong.text
        signed = client.post("/signin", data={"token": TOKEN, "next": "//elsewhere.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/"  # never another site
        assert TOKEN not in signed.headers["set-cookie"] and "httponly" in signed.headers["set-cookie"].lower()
        assert client.get("/").status_code == 200  # the cookie
        assert client.post("/signin", content=b"token=" + b"x" * 10_000).status_code == 413


def test_answers_carry_a_policy_without_inline_script_and_escape_the_sites_text(polled, storefront):
    storefront.admin.create_order(status="awaiting_shipment", store='<img src=x onerror="alert(1)">Evil')
    assert ordermon(polled, "monitor", "--once").returncode == 0
    db = Path(polled["ORDERMON_DB"])
    before = db.read_bytes()
    with serving(db) as url:
        for path in ("/", "/alerts", "/health", "/api/orders", "/static/app.js"):
            policy = httpx.get(url + path).headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
        page = httpx.get(url + "/", params={"q": "evil"}).text
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Evil" in page and "<img src=x" not in page
        assert "<script>" not in page and "style=" not in page
    assert db.read_bytes() == before  # read-only


def test_without_a_token_only_this_machines_names_are_answered(dashboard):
    """A page elsewhere whose name was made to point here (DNS rebinding) reads nothing."""
    assert httpx.get(dashboard + "/api/orders", headers={"Host": "evil.example"}).status_code == 400
    assert httpx.get(dashboard.replace("127.0.0.1", "localhost") + "/api/orders").status_code == 200


def test_ordermon_serve_listens_on_loopback_and_asks_a_token_beyond_it(recorded):
    refused = ordermon_here(recorded, "serve", "--host", "0.0.0.0")
    assert refused.returncode == 2 and refused.stderr.strip() == (
        "error: listening on 0.0.0.0 needs ORDERMON_SERVE_TOKEN (16 characters or more)"
    )
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = ordermon_here(recorded, "serve", "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and busy.stderr.startswith("error: cannot listen on 127.0.0.1:"), busy.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "serve", "--port", str(port)], env=recorded,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        said = proc.stderr.readline()  # said once the port is bound: a request waits for uvicorn to take it
        assert f"http://127.0.0.1:{port}/" in said, said
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        proc.kill()


def test_the_board_judges_again_what_changed_or_came_due_as_status_does(polled, storefront):
    """Between polls the board keeps each order's judgement until its row changes or the rules'
    next moment for it passes: after each poll, days of site time apart, it places every order
    exactly as `ordermon status --json` does."""
    board = Board(MonitorSettings(_env_file=None, db=polled["ORDERMON_DB"]), polled["ORDERMON_DB"])
    try:
        for days in (1, 2, 4, 8):
            storefront.admin.advance(days=days)
            assert ordermon(polled, "monitor", "--once").returncode == 0
            rows = status(polled)
            snap = board.call(board.snapshot)
            assert [(e.order_id, e.need) for e in snap.select()] == [
                (r["order_id"], badge(r).lower().replace(" ", "_").replace("needs_attention", "warning")) for r in rows
            ]
    finally:
        board.close()


def test_the_board_reads_either_store_as_the_views_do(store_target):
    """The same board on SQLite and on a fleet's PostgreSQL: the views' rows, alerts that say they
    are open, and the health judgement (with the fleet's workers on PostgreSQL)."""
    from test_store import finding, order_row, record

    from monitor.store import open_store
    from monitor.views import alert_rows, status_rows

    store = open_store(store_target)
    record(store, [finding()], [order_row(), order_row("8100000000005678", status="awaiting_shipment")])
    rows, alerts = status_rows(store), alert_rows(store)
    store.close()
    board = Board(MonitorSettings(_env_file=None, db=store_target), store_target)
    try:
        snap = board.call(board.snapshot)
        assert board.call(lambda: board.rows(snap.select())) == rows and len(rows) == 2
        assert snap.alerts == alerts and [a["open"] for a in alerts] == [True]
        health = board.call(board.health)
        assert [a["account"] for a in health["accounts"]] == ["a"]
        assert ("workers" in health) == store_target.startswith("postgresql://")
    finally:
        board.close()


def test_the_board_outlives_a_dropped_database_connection(postgres_url):
    """PostgreSQL ended the dashboard's connection (a restart): the next request reads on a new one."""
    import psycopg
    from test_store import order_row, record

    from monitor.store import open_store

    store = open_store(postgres_url)
    record(store, orders=[order_row()])
    store.close()
    board = Board(MonitorSettings(_env_file=None, db=postgres_url), postgres_url)
    try:
        pid = board.call(lambda: board._store.conn.info.backend_pid)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", [pid])
        assert [a["account"] for a in board.call(board.health)["accounts"]] == ["a"]
        assert board.call(lambda: board._store.conn.info.backend_pid) != pid
    finally:
        board.close()
