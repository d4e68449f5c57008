"""`ordermon orders` and `ordermon cancel` as a user runs them, with their exit codes."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def run(storefront, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
    env.update(ORDERMON_STOREFRONT_URL=storefront.url, ORDERMON_EMAIL=storefront.email,
               ORDERMON_PASSWORD=storefront.password, ORDERMON_DATA_DIR=str(tmp_path / "data"),
               ORDERMON_RETRY_BACKOFF="0.05")

    def run(*args, **extra_env):
        result = subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True,
                                text=True, env=env | extra_env, cwd=tmp_path, timeout=120)
        assert storefront.password not in result.stdout + result.stderr
        return result

    return run


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


def one_line_error(result, code, text):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.stderr


def test_exit_3_not_cancellable(run, storefront):
    order = storefront.admin.create_order(status="awaiting_delivery")
    result = run("cancel", order["id"], "--reason", "wrong", "--json")
    one_line_error(result, 3, "Awaiting delivery")
    assert json.loads(result.stdout)["outcome"] == "not_cancellable"


def test_exit_4_not_found(run):
    one_line_error(run("cancel", "8100000000000000", "--reason", "wrong"), 4, "not found")


def test_exit_2_bad_reason_lists_the_offered_ones(run, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    one_line_error(run("cancel", order["id"], "--reason", "supplier"), 2, "I placed a duplicate order")
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_exit_2_bad_order_id(run):
    one_line_error(run("cancel", "12ab", "--reason", "wrong"), 2, "16 digits")


def test_exit_5_sign_in_failed(run):
    one_line_error(run("orders", ORDERMON_PASSWORD="definitely-wrong"), 5, "incorrect")


def test_exit_5_captcha(run, storefront):
    storefront.admin.faults(captcha=True)
    one_line_error(run("orders"), 5, "captcha")


def test_exit_6_site_unavailable(run, storefront):
    storefront.admin.faults(error_rate=1.0)
    one_line_error(run("orders", "--retries", "1"), 6, "HTTP 500")


def test_exit_2_bad_or_missing_setting(run):
    one_line_error(run("orders", ORDERMON_TIMEOUT="-1"), 2, "ORDERMON_TIMEOUT")
    one_line_error(run("orders", ORDERMON_PASSWORD=""), 2, "ORDERMON_PASSWORD")
