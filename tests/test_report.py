"""`ordermon report`: a self-contained page, checked in a real Chromium by role and text."""

import datetime as dt
import re

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from monitor.cli import cli
from monitor.service import Monitor
from monitor.settings import MonitorSettings

pytestmark = pytest.mark.e2e


@pytest.fixture
def scenario_db(storefront, tmp_path, browser):
    admin = storefront.admin
    admin.reset(orders=0)
    admin.clock(freeze=True)
    admin.settings(auto_actions=False)
    now = admin.now()
    orders = {
        "refund": admin.create_order(
            status="closed",
            refund_started_at=now - dt.timedelta(days=60),
            refund_business_days=None,
            items=[{"title": "Lamp", "price": "19.90"}],
        ),
        "unpaid": admin.create_order(status="closed", close_reason="buyer_pay_timeout"),
        "silent": admin.create_order(
            status="awaiting_cancellation", seller="silent", cancel_requested_at=now - dt.timedelta(hours=80)
        ),
        "fresh": admin.create_order(status="awaiting_shipment", seller="silent"),
    }
    settings = MonitorSettings(
        _env_file=None,
        storefront_url=storefront.url,
        email=storefront.email,
        password=storefront.password,
        db=tmp_path / "scenario.db",
        data_dir=tmp_path / "data",
    )
    with Monitor(settings, browser=browser) as monitor:
        assert monitor.poll_once()[0].error is None
    return settings.db, {k: v["id"] for k, v in orders.items()}


def test_report_marks_overdue_orders_at_a_glance(scenario_db, page, tmp_path, storefront):
    db, ids = scenario_db
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert oct(out.stat().st_mode)[-3:] == "600"  # order data, like the database
    assert "http://" not in html.replace("http://www.w3.org", "") and "<link" not in html  # self-contained
    assert storefront.password not in html and "sf_session" not in html

    page.goto(out.as_uri())
    expect(page.get_by_role("heading", name="Orders at a glance")).to_be_visible()
    overdue_refund = page.get_by_role("row", name=f"Order {ids['refund']}")
    expect(overdue_refund).to_contain_text("Overdue")
    expect(overdue_refund).to_contain_text(re.compile(r"Refund expected by: .* overdue"))
    expect(page.get_by_role("row", name=f"Order {ids['silent']}")).to_contain_text("Overdue")
    closed = page.get_by_role("row", name=f"Order {ids['unpaid']}")
    expect(closed).to_contain_text("No deadline")
    expect(closed).not_to_contain_text("Overdue")
    expect(page.get_by_role("row", name=f"Order {ids['fresh']}")).to_contain_text("On track")
    expect(page.get_by_role("img", name=re.compile("Timeline: .*Refund expected by .*\\(overdue\\)"))).to_have_count(1)
    expect(page.get_by_text("19.90 USD waiting for refunds")).to_be_visible()

    alerts = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="What to do next"))
    expect(alerts.get_by_role("row").filter(has_text="refund_overdue")).to_contain_text("Open")
    expect(alerts).to_contain_text("contact customer service")

    page.get_by_label("Status").select_option("Awaiting shipment")
    expect(overdue_refund).to_be_hidden()
    expect(page.get_by_role("row", name=f"Order {ids['fresh']}")).to_be_visible()
    page.get_by_label("Status").select_option("")
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_prints_readably(scenario_db, page, tmp_path):
    """On paper: no filters (nothing to click), every order row, headers that do not float over
    rows, and badges that keep an outline (browsers print no backgrounds)."""
    db, ids = scenario_db
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page.goto(out.as_uri())
    header = page.get_by_role("columnheader", name="Deadlines")
    badge = page.get_by_role("row", name=f"Order {ids['refund']}").get_by_text("Overdue", exact=True)
    expect(page.get_by_label("Status")).to_be_visible()  # on screen, the filters are there
    assert header.evaluate("e => getComputedStyle(e).position") == "sticky"
    page.emulate_media(media="print")
    expect(page.get_by_label("Status")).to_be_hidden()
    expect(page.get_by_label("Account")).to_be_hidden()
    for order_id in ids.values():
        expect(page.get_by_role("row", name=f"Order {order_id}")).to_be_visible()
    assert header.evaluate("e => getComputedStyle(e).position") == "static"
    assert badge.evaluate("e => getComputedStyle(e).borderStyle") == "solid"
    pdf = page.pdf()
    assert pdf[:4] == b"%PDF" and b"/Type /Page" in pdf


def test_report_without_a_database(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 7 and "no database" in result.output
