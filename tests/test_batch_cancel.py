"""`ordermon cancel` over many orders: one browser, each order in turn, never a double submit,
a failure on one going on to the next, JSON lines, a summary, the most serious exit code."""

import json
import subprocess
import sys
import typing

import pytest
from conftest import ordermon

from flows.errors import Outcome

pytestmark = pytest.mark.e2e

UNKNOWN = "8100000000000099"


@pytest.fixture
def run(cli_env, tmp_path):
    return lambda *args, **extra: ordermon(cli_env, *args, cwd=tmp_path, **extra)


@pytest.mark.storefront(orders=0)
def test_a_batch_goes_on_past_failures_and_exits_with_the_most_serious_code(run, storefront, tmp_path):
    admin = storefront.admin
    paid = admin.create_order(status="awaiting_shipment", seller="silent")
    unpaid = admin.create_order(status="awaiting_payment")
    shipped = admin.create_order(status="awaiting_delivery")
    listed = tmp_path / "ids.txt"
    listed.write_text(
        f"# the supplier's list\n{paid['id']}\n\n{shipped['id']}  # shipped already\n{UNKNOWN}\n{paid['id']}\n"
    )
    result = run("cancel", unpaid["id"], "--from", str(listed), "--reason", "out of stock", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["order_id"], line["outcome"]) for line in lines] == [
        (unpaid["id"], "cancelled"),
        (paid["id"], "requested"),
        (shipped["id"], "not_cancellable"),
        (UNKNOWN, "not_found"),
    ]
    assert result.returncode == 4, result.stderr  # not found is more serious than not cancellable
    assert result.stderr.strip().splitlines()[-1] == (
        "4 orders: 1 cancelled, 1 not_cancellable, 1 not_found, 1 requested"
    )
    assert admin.order(paid["id"])["cancel_requests"] == 1  # listed twice, submitted once
    assert admin.order(paid["id"])["cancel_reason"] == "The supplier said the product(s) I want is out of stock"
    assert admin.order(unpaid["id"])["status"] == "closed"
    assert admin.order(shipped["id"])["cancel_requests"] == 0


@pytest.mark.storefront(orders=0)
def test_the_orders_of_a_tab_piped_into_a_dry_run(cli_env, storefront, tmp_path):
    """The README's pipeline: `orders --json | jq | cancel --from - --dry-run`, as a shell runs it."""
    ids = [storefront.admin.create_order(status="awaiting_shipment", seller="silent")["id"] for _ in range(2)]
    storefront.admin.create_order(status="awaiting_delivery")
    command = (
        f"{sys.executable} -m monitor.cli orders --tab to_ship --json | jq -r '.[].id' | "
        f"{sys.executable} -m monitor.cli cancel --from - --reason 'out of stock' --dry-run"
    )
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines() if not line.startswith(" ")) == sorted(ids)
    assert result.stderr.strip().splitlines()[-1] == "2 orders: 2 dry_run"
    assert all(storefront.admin.order(i)["cancel_requests"] == 0 for i in ids)
    assert cli_env["ORDERMON_PASSWORD"] not in result.stdout + result.stderr


@pytest.mark.storefront(orders=0)
def test_a_bad_line_refuses_the_whole_batch_before_anything_runs(run, storefront, tmp_path):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    listed = tmp_path / "ids.txt"
    listed.write_text(f"{order['id']}\n８１７９０００００００００００１\n")
    result = run("cancel", "--from", str(listed), "--reason", "out of stock")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --from {listed} line 2: must be 16 digits")
    assert len(result.stderr.strip().splitlines()) == 1
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


@pytest.mark.storefront(orders=0)
@pytest.mark.fresh_sign_in
def test_an_account_error_ends_the_batch(run, storefront):
    ids = [storefront.admin.create_order(status="awaiting_shipment", seller="silent")["id"] for _ in range(3)]
    result = run("cancel", *ids, "--reason", "out of stock", ORDERMON_PASSWORD="not-the-password")
    assert result.returncode == 5, result.stderr
    assert result.stdout.startswith(f"{ids[0]}: sign_in_failed:")
    assert result.stdout.strip().splitlines()[1:] == [f"{ids[1]}: not_attempted", f"{ids[2]}: not_attempted"]
    assert result.stderr.strip().splitlines()[-1] == (
        "3 orders: 2 not_attempted, 1 sign_in_failed (the batch stopped at an account error)"
    )
    assert all(storefront.admin.order(i)["cancel_requests"] == 0 for i in ids)
    as_json = run("cancel", *ids, "--reason", "out of stock", "--json", ORDERMON_PASSWORD="not-the-password")
    outcomes = [json.loads(line)["outcome"] for line in as_json.stdout.splitlines()]
    assert outcomes == ["sign_in_failed", "not_attempted", "not_attempted"]
    assert set(outcomes) <= set(typing.get_args(Outcome))  # every outcome --json prints is named
