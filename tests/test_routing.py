"""Where an alert goes and when: Apprise's tags choose the targets, quiet hours (on the site's clock)
hold what is not urgent until they end, and what stays overdue is reminded until the site shows it
resolved. The scenarios run a real storefront, the monitor, and Apprise to receivers the test runs."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from conftest import keep_session, one_line_error, ordermon, ordermon_here

from fixtures.receiver import AlertReceiver
from monitor.alerts import Notifier
from monitor.routing import QuietHours, Router, Target, targets_from_config
from monitor.rules import RULES
from monitor.service import Monitor
from monitor.settings import MonitorSettings

H, D, MINUTE = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
ROUTES = {"urgent": ["urgent"], "warning": ["mail"], "info": ["mail"]}


# ---------------------------------------------------------------- quiet hours and tags, alone
def test_quiet_hours_past_midnight_end_the_next_morning_in_their_zone():
    quiet = QuietHours.parse(" 22:00 - 07:30 ")
    assert str(quiet) == "22:00-07:30"

    def until(local):
        end = quiet.until(local.replace(tzinfo=BERLIN), BERLIN)
        return end and end.astimezone(BERLIN).replace(tzinfo=None)

    assert until(dt.datetime(2027, 1, 5, 23, 0)) == dt.datetime(2027, 1, 6, 7, 30)
    assert until(dt.datetime(2027, 1, 6, 6, 0)) == dt.datetime(2027, 1, 6, 7, 30)
    assert until(dt.datetime(2027, 1, 6, 7, 30)) is None and until(dt.datetime(2027, 1, 6, 21, 59)) is None
    assert until(dt.datetime(2027, 3, 27, 23, 0)) == dt.datetime(2027, 3, 28, 7, 30)  # the night clocks go forward
    lunch = QuietHours.parse("12:00-13:00")
    noon = dt.datetime(2027, 1, 6, 12, 15, tzinfo=dt.UTC)
    assert lunch.until(noon, ZoneInfo("UTC")) == noon.replace(hour=13, minute=0)
    assert lunch.until(noon.replace(hour=13), ZoneInfo("UTC")) is None
    for bad in ("22-07", "25:00-07:00", "07:00-07:00", ""):
        with pytest.raises(ValueError):
            QuietHours.parse(bad)


def finding_of(rule: str, level: str = ""):
    from monitor.rule import Finding

    now = dt.datetime(2027, 1, 6, 12, tzinfo=dt.UTC)
    return Finding(rule, "1", now, now, "m", "n", level, "", RULES[rule].deadline)


def test_apprise_tags_choose_the_targets_untagged_ones_get_everything_and_an_accounts_own_only_its():
    phone, mail, log, own = "json://phone.example", "json://mail.example", "json://log.example", "json://own.example"
    router = Router(
        [Target(phone, frozenset({"urgent"})), Target(mail, frozenset({"mail"})), Target(log),
         Target(own, frozenset({"mail"}), account="b")],
        routes=ROUTES | {"seller_response_overdue": [["mail", "urgent"]]},  # a nested list: both tags
        account_tags={"b": ["urgent"]},
    )  # fmt: skip

    def chosen(account, rule, level=""):
        return sorted(t.url for t in router.chosen(account, finding_of(rule, level)))

    assert chosen("a", "refund_overdue") == [log, phone]  # urgent
    assert chosen("a", "refund_arrived") == [log, mail]  # info
    assert chosen("a", "protection_expiring", "7d") == [log, mail] != chosen("a", "protection_expiring", "3d")
    assert chosen("a", "refund_overdue", "reminder 2") == [log, mail]  # a reminder is a warning
    assert chosen("a", "seller_response_overdue") == [log, phone]  # no target has both tags
    assert chosen("b", "refund_arrived") == [log, mail, own, phone]  # b's tags, and b's own target
    assert chosen("a", "refund_arrived") == [log, mail]
    assert Router([Target(phone, frozenset({"urgent"}))]).chosen("a", finding_of("refund_overdue")) == []
    noon = dt.datetime(2027, 1, 6, 12, tzinfo=dt.UTC)
    routed = Notifier(router).route("b", finding_of("refund_arrived"), noon)  # the outbox asks the router
    assert sorted(r.target for r in routed) == sorted(Target(url).key for url in (log, mail, own, phone))


def test_an_apprise_configuration_file_gives_its_targets_with_their_tags(tmp_path):
    yaml = tmp_path / "apprise.yml"
    yaml.write_text(
        "urls:\n  - json://phone.example/alerts:\n      - tag: urgent\n"
        "  - json://mail.example/alerts:\n      - tag: mail, digest\n"
    )
    found = sorted((t.url.split("/")[2], sorted(t.tags)) for t in targets_from_config(yaml))
    assert found == [("mail.example", ["digest", "mail"]), ("phone.example", ["urgent"])]
    text = tmp_path / "apprise.txt"
    text.write_text("urgent=json://phone.example/alerts\n")
    assert [sorted(t.tags) for t in targets_from_config(text)] == [["urgent"]]


@pytest.mark.parametrize(
    "setting, value, text",
    [
        ("ORDERMON_ROUTES", '{"urgnet": ["phone"]}', "bad setting ORDERMON_ROUTES: urgnet: neither a severity"),
        ("ORDERMON_ROUTES", '["phone"]', "bad setting ORDERMON_ROUTES"),
        ("ORDERMON_QUIET_HOURS", "22h-7h", "bad setting ORDERMON_QUIET_HOURS: quiet hours are HH:MM-HH:MM"),
        ("ORDERMON_APPRISE_CONFIG", "/nonexistent/apprise.yml", "bad setting ORDERMON_APPRISE_CONFIG: no such file"),
        ("ORDERMON_ALERT_URLS", '[{"url": "json://x.example", "tag": "urgent"}]', "bad setting ORDERMON_ALERT_URLS"),
    ],
)
def test_a_bad_route_quiet_hours_or_configuration_is_one_line_and_nothing_polled(
    cli_env, storefront, setting, value, text
):
    before = storefront.admin.state()["requests"]
    one_line_error(ordermon(cli_env, "monitor", "--once", **{setting: value}), 2, text)
    assert storefront.admin.state()["requests"] == before


# ---------------------------------------------------------------- on the storefront's clock
@pytest.fixture
def phone():
    with AlertReceiver() as receiver:
        yield receiver


@pytest.fixture
def mail():
    with AlertReceiver() as receiver:
        yield receiver


@pytest.fixture
def monitor_at(storefront, tmp_path, browser):
    """Opens a monitor on the storefront (one at a time: a restart closes the last one)."""
    keep_session(storefront, tmp_path / "data")
    opened: list[Monitor] = []

    def monitor_at(**settings) -> Monitor:
        if opened:
            opened.pop().close()
        monitor = Monitor(
            MonitorSettings(
                _env_file=None, storefront_url=storefront.url, email=storefront.email, password=storefront.password,
                db=tmp_path / "ordermon.db", data_dir=tmp_path / "data", poll_via="http", alert_retry_backoff=0.01,
                max_clock_skew=float("inf"), retries=1, retry_backoff=0.01, timeout=10, **settings,
            ),
            browser=browser,
        ).open()  # fmt: skip
        opened.append(monitor)
        return monitor

    yield monitor_at
    for monitor in opened:
        monitor.close()


def polled(monitor: Monitor) -> None:
    (result,) = monitor.poll_once()
    assert result.error is None, result.error
    monitor.deliver()


def titles(receiver: AlertReceiver) -> list[str]:
    return [n["title"] for n in receiver.received]


@pytest.mark.storefront(orders=0)
def test_urgent_goes_to_the_phone_at_once_the_rest_waits_out_the_quiet_hours_and_comes_once_in_a_digest(
    storefront, monitor_at, phone, mail, cli_env, tmp_path
):
    admin = storefront.admin
    admin.clock(set=dt.datetime(2027, 1, 5, 23, 0, tzinfo=dt.UTC), freeze=True)  # a Tuesday night
    stuck = storefront.scenarios.stuck_refund(days_ago=60)
    refunded = admin.create_order(status="closed", refund_started_at=admin.now() - 5 * D, refund_business_days=1)
    shipped = admin.create_order(
        status="awaiting_delivery", shipped_at=admin.now() - 50 * D
    )  # protection: 10 days left
    settings = {
        "alert_urls": [{"url": phone.url, "tags": ["urgent"]}, {"url": mail.url, "tags": ["mail"]}],
        "routes": ROUTES,
        "quiet_hours": "22:00-07:30",
    }
    monitor = monitor_at(**settings)
    polled(monitor)
    assert titles(phone) == [f"Refund hasn't arrived \N{EM DASH} order {stuck['id']}"]
    assert mail.received == []
    env = cli_env | {"ORDERMON_DB": str(monitor.settings.db)}
    shown = ordermon_here(env, "alerts").stdout
    assert shown.count("held until 2027-01-06 07:30 UTC (quiet hours)") == 2, shown
    report = tmp_path / "report.html"
    assert ordermon_here(env, "report", "--out", str(report)).returncode == 0
    assert report.read_text().count("held until 2027-01-06 07:30 UTC (quiet hours)") == 2
    assert f"to {phone.url.split('/')[2]}" not in shown  # targets by their masked labels only

    admin.clock(set=dt.datetime(2027, 1, 6, 7, 29, tzinfo=dt.UTC))
    monitor = monitor_at(**settings)  # a restart inside the quiet hours
    polled(monitor)
    assert mail.received == [] and len(phone.received) == 1
    admin.clock(set=dt.datetime(2027, 1, 6, 7, 31, tzinfo=dt.UTC))
    polled(monitor)
    polled(monitor)
    ((digest),) = mail.received
    # What the quiet hours held: two new alerts, and the stuck refund's reminder that came due at midnight.
    assert digest["title"] == "3 new alerts for " + monitor.accounts[0].label
    lines = digest["message"].splitlines()
    assert lines[0].startswith(f"- {refunded['id']}: Refund arrived; ")
    assert lines[1].startswith(f"- {shipped['id']}: Buyer protection ends soon (14d); ")
    assert lines[2].startswith(f"- {stuck['id']}: Still open: Refund hasn't arrived (reminder ")
    assert re.fullmatch(r"\(ordermon alerts #\d+, #\d+, #\d+\)", lines[-1])
    assert len(phone.received) == 1


@pytest.mark.storefront(orders=0)
def test_an_unresolved_refund_is_reminded_each_day_and_not_after_the_site_shows_it_refunded(
    storefront, monitor_at, alert_receiver
):
    admin = storefront.admin
    admin.clock(set=dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC), freeze=True)  # a Monday
    order = admin.create_order(status="closed", refund_started_at=admin.now(), refund_business_days=24)
    expected = dt.datetime.fromisoformat(admin.order(order["id"])["deadlines"]["refund_expected_by"])
    monitor = monitor_at(alert_urls=[alert_receiver.url])
    late = f"Refund hasn't arrived \N{EM DASH} order {order['id']}"
    for day in range(4):  # the deadline and its hour of grace passed, then a day more each time
        admin.clock(set=expected + H + day * D + MINUTE)
        polled(monitor)
    assert titles(alert_receiver) == [late] + [f"Still open: {late}"] * 3
    assert "(1d 1h overdue)" in alert_receiver.received[1]["message"]
    admin.clock(set=expected + 10 * D)
    assert admin.order(order["id"])["refund_status"] == "completed"
    for _ in range(3):
        polled(monitor)
        admin.clock(advance=D.total_seconds())
    assert titles(alert_receiver)[4:] == [f"Refund arrived \N{EM DASH} order {order['id']}"]
    levels = [a["level"] for a in monitor.store.alerts() if a["rule"] == "refund_overdue"]
    assert levels == ["", "reminder 1", "reminder 2", "reminder 3"]
