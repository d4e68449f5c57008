"""`ordermon orders` and `ordermon cancel` as a user runs them, with their exit codes."""

import datetime as dt
import json

import pytest
from conftest import ordermon

pytestmark = pytest.mark.e2e


@pytest.fixture
def run(cli_env, tmp_path):
    return lambda *args, **extra: ordermon(cli_env, *args, cwd=tmp_path, **extra)


def test_orders_json_lists_every_order(run, storefront):
    result = run("orders", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 40


def test_orders_table_of_a_tab(run, storefront):
    result = run("orders", "--tab", "shipped")
    assert result.returncode == 0
    shipped = [o for o in storefront.admin.state()["orders"] if o["status"] == "awaiting_delivery"]
    assert result.stdout.count("Awaiting delivery") == len(shipped)


def test_cancel_then_again_is_already_requested(run, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    first = run("cancel", order["id"], "--reason", "wrong", "--json")
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)
    assert set(payload) >= {"order_id", "status_before", "status_after", "outcome", "reason", "artifacts"}
    assert (payload["outcome"], payload["status_after"]) == ("requested", "awaiting_cancellation")
    second = run("cancel", order["id"], "--reason", "wrong", "--json")
    assert second.returncode == 0
    assert json.loads(second.stdout)["outcome"] == "already_requested"
    after = storefront.admin.order(order["id"])
    assert after["cancel_requests"] == 1 and after["cancel_reason"] == "I ordered the wrong product(s)"


def test_dry_run_prints_a_screenshot(run, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    result = run("cancel", order["id"], "--reason", "duplicate", "--dry-run")
    assert result.returncode == 0
    assert "dry_run" in result.stdout and ".png" in result.stdout
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


HOSTILE = "\x1b[2J\x1b]0;owned\x07Evil\nORDER 8100000000000000  Completed\u202eStore"


@pytest.mark.storefront(orders=3)
def test_site_text_reaches_the_terminal_without_control_characters(run, storefront):
    order = storefront.admin.create_order(
        status="closed",
        refund_business_days=None,
        store=HOSTILE,
        refund_started_at=storefront.admin.now() - dt.timedelta(days=60),
    )
    outputs = [run("orders"), run("monitor", "--once"), run("status"), run("alerts"), run("history", order["id"])]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        text = result.stdout + result.stderr
        assert not any(ch in text for ch in "\x1b\x07\u202e"), text
    table = outputs[0].stdout.splitlines()
    assert len(table) == 1 + 4  # the header and one row per order: no row faked by a newline
    assert "Evil ORDER 8100000000000000  CompletedStore" in outputs[0].stdout
