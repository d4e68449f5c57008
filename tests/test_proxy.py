"""A proxy per account: every request of the account (the browser's sign-in and cancel, the polls'
HTTP) passes its proxy, another account's never do, and the proxy's credentials show nowhere."""

import json

import pytest
from conftest import command_env, free_port, keep_session, one_line_error, ordermon
from counting_proxy import MARK, CountingProxy

from monitor.service import Monitor
from monitor.settings import MonitorSettings

USER, SECRET = "proxy-user", "pr0xy-s3cret-Z9"


@pytest.fixture
def proxy():
    with CountingProxy(USER, SECRET) as counting:
        yield counting


def by_buyer(visits: list[dict], email: str) -> list[dict]:
    return [v for v in visits if v["buyer"] == email]


@pytest.mark.e2e
@pytest.mark.storefront(orders=3)
def test_every_request_of_an_account_passes_its_proxy_and_another_accounts_do_not(
    storefront, proxy, tmp_path, browser, caplog
):
    (other,) = storefront.admin.add_buyers(1, orders=3)
    accounts = [
        {"name": "proxied", "storefront_url": storefront.url, "email": storefront.email,
         "password": storefront.password, "proxy": f"http://{USER}:{SECRET}@{proxy.address}"},
        {"name": "direct", "storefront_url": storefront.url, "email": other["email"], "password": other["password"]},
    ]  # fmt: skip
    before = len(storefront.admin.visits())
    settings = MonitorSettings(
        _env_file=None, accounts=accounts, db=tmp_path / "ordermon.db", data_dir=tmp_path / "data", poll_via="http",
        max_clock_skew=float("inf"), retries=1, retry_backoff=0.01, timeout=10,
    )  # fmt: skip
    with Monitor(settings, browser=browser) as monitor:  # no kept session: both sign in with the browser
        results = monitor.poll_once()
    assert [r.error for r in results] == [None, None]
    visits = storefront.admin.visits()[before:]
    mine, theirs = by_buyer(visits, storefront.email), by_buyer(visits, other["email"])
    assert any(v["request"].endswith(".json") for v in mine) and any(v["request"].endswith(".json") for v in theirs)
    assert all(MARK in v["agent"] for v in mine), [v for v in mine if MARK not in v["agent"]]
    assert not any(MARK in v["agent"] for v in theirs)
    # The sign-in's pages (before a buyer is known) and its static files went through it as well.
    assert proxy.passed >= sum(MARK in v["agent"] for v in visits) > len(mine)
    assert SECRET not in (tmp_path / "ordermon.db").read_bytes().decode(errors="replace")
    assert SECRET not in caplog.text and SECRET not in repr(settings) and SECRET not in repr(monitor.accounts)


@pytest.mark.e2e
@pytest.mark.storefront(orders=0)
def test_a_cancel_goes_through_the_accounts_proxy_and_its_credentials_show_nowhere(storefront, proxy, tmp_path):
    order = storefront.scenarios.awaiting_shipment()
    env = command_env(storefront, tmp_path) | {"ORDERMON_PROXY": f"http://{USER}:{SECRET}@{proxy.address}"}
    before = len(storefront.admin.visits())
    done = ordermon(env, "cancel", order["id"], "--reason", "wrong", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "requested"
    mine = by_buyer(storefront.admin.visits()[before:], storefront.email)
    assert mine and all(MARK in v["agent"] for v in mine)
    assert storefront.admin.order(order["id"])["cancel_submits"] == 1
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.storefront(orders=0)
def test_a_proxy_that_refuses_is_named_by_its_server_alone(storefront, tmp_path, browser):
    keep_session(storefront, tmp_path / "data")
    port = free_port()  # nothing listens there
    settings = MonitorSettings(
        _env_file=None, storefront_url=storefront.url, email=storefront.email, password=storefront.password,
        proxy=f"http://{USER}:{SECRET}@127.0.0.1:{port}", db=tmp_path / "ordermon.db", data_dir=tmp_path / "data",
        poll_via="http", retries=0, timeout=5, max_clock_skew=float("inf"),
    )  # fmt: skip
    with Monitor(settings, browser=browser) as monitor:
        (result,) = monitor.poll_once()
    assert f"{storefront.url} unavailable through its proxy http://127.0.0.1:{port}: " in result.error
    assert SECRET not in result.error and USER not in result.error


@pytest.mark.parametrize(
    "value, text",
    [
        ("ftp://proxy.example:21", "bad setting ORDERMON_PROXY: must start with http://, https://, socks5://"),
        (f"socks5://{USER}:{SECRET}@proxy.example:1080", "bad setting ORDERMON_PROXY: a SOCKS proxy with a user name"),
        (f"http://{USER}:{SECRET}@proxy.example:99999", "bad setting ORDERMON_PROXY: has a port that is not a number"),
    ],
)
def test_a_bad_proxy_is_one_line_that_never_quotes_it(cli_env, value, text):
    done = ordermon(cli_env, "monitor", "--once", ORDERMON_PROXY=value)
    one_line_error(done, 2, text)
    assert SECRET not in done.stdout + done.stderr
