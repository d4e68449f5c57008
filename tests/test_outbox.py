"""The alert outbox without a browser: a new alert's deliveries, and Notifier.deliver_due sending
them through Apprise to a real json:// receiver (fixtures/receiver.py): once each, retried after a
doubling backoff, given up after the last attempt, stopped between deliveries, digests, what a
crash or a changed configuration leaves, and a process forked after a delivery."""

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import signal

import pytest

from flows.errors import SettingsError
from monitor.alerts import Notifier, delivery_schemes, target_key
from monitor.redact import describe_target
from monitor.rules import Finding
from monitor.store import SqliteStore, everywhere

ORDER = "8100000000001234"
OTHER = "8100000000005678"
URL = f"http://127.0.0.1:8765/p/order/detail.html?orderId={ORDER}"
DEADLINE = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
FOUND_AT = DEADLINE + dt.timedelta(days=1)
SITE_NOW = DEADLINE + dt.timedelta(days=2)
TARGETS = [("t1", "json://receiver-1"), ("t2", "json://receiver-2")]
FAR = dt.timedelta(days=365)  # past any backoff: every pending delivery is due
FAILED_500 = "Failed to send JSON POST notification: Internal server error., error=500."


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def finding(order_id=ORDER, rule="refund_overdue", deadline=DEADLINE, deadline_name="refund_expected_by"):
    return Finding(
        rule,
        order_id,
        deadline,
        FOUND_AT,
        "the refund has not arrived",
        "check your card",
        "",
        f"{deadline_name}:0",
        deadline_name,
    )


def record(store, findings, targets, **extra):
    return store.record_poll(
        "a",
        started=SITE_NOW,
        site_now=extra.pop("site_now", SITE_NOW),
        orders_seen=1,
        details_read=1,
        orders=[],
        changes=[],
        findings=list(findings),
        route=everywhere(targets),
        **extra,
    )


def within(stamp: str | None, earliest: dt.datetime, latest: dt.datetime) -> bool:
    return stamp is not None and earliest <= dt.datetime.fromisoformat(stamp) <= latest


def delivery(store, alert_id: int, target: str) -> dict:
    (row,) = [d for d in store.deliveries(alert_id) if d["target"] == target]
    return row


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "ordermon.db")
    yield store
    store.close()


@pytest.fixture
def notifier(alert_receiver):
    return Notifier([alert_receiver.url], backoff=10, max_attempts=3)


@pytest.fixture
def target(notifier):
    ((key, _),) = notifier.targets()
    return key


# ---------------------------------------------------------------- one delivery (a fleet's deliver job)
def test_one_delivery_goes_out_once_then_is_left_alone(store, notifier, target, alert_receiver):
    (alert,) = record(store, [finding()], notifier.targets(), urls={ORDER: URL})
    assert notifier.deliver_one(store, alert.id, target) is None
    assert [n["message"] for n in alert_receiver.received] == [
        f"{alert.message}\n\nOrder page: {URL}\n\n(ordermon alert #{alert.id})"
    ]
    row = delivery(store, alert.id, target)
    assert (row["state"], row["attempts"]) == ("delivered", 1)
    assert notifier.deliver_one(store, alert.id, target) is None  # delivered: never again
    assert len(alert_receiver.received) == 1


def test_one_delivery_that_fails_says_when_to_try_again_then_gives_up(store, notifier, target, alert_receiver):
    (alert,) = record(store, [finding()], notifier.targets())
    alert_receiver.fail_next(3)
    for attempt, backoff in [(1, 10), (2, 20)]:
        before = utcnow()
        again = notifier.deliver_one(store, alert.id, target)
        wait = dt.timedelta(seconds=backoff)
        assert again is not None and before + wait <= again <= utcnow() + wait
        row = delivery(store, alert.id, target)
        assert (row["state"], row["attempts"]) == ("pending", attempt) and row["last_error"].endswith(FAILED_500)
    assert notifier.deliver_one(store, alert.id, target) is None
    assert (delivery(store, alert.id, target)["state"], alert_receiver.received) == ("failed", [])


def test_one_delivery_whose_sender_died_mid_send_is_uncertain_and_never_sent(store, notifier, target, alert_receiver):
    (alert,) = record(store, [finding()], notifier.targets())
    store.mark_sending(alert.id, target, 1)  # a worker took it, then died
    assert notifier.deliver_one(store, alert.id, target) is None
    assert delivery(store, alert.id, target)["state"] == "uncertain"
    assert notifier.deliver_one(store, alert.id, target) is None
    assert alert_receiver.received == []


def test_one_delivery_of_no_alert_or_to_a_target_no_longer_configured_sends_nothing(
    store, notifier, target, alert_receiver
):
    (alert,) = record(store, [finding()], TARGETS)  # targets the notifier does not have
    assert notifier.deliver_one(store, alert.id, "t1") is None
    assert delivery(store, alert.id, "t1")["state"] == "pending"  # left for a worker that has it
    assert notifier.deliver_one(store, alert.id + 1, target) is None
    assert alert_receiver.received == []


# ---------------------------------------------------------------- a new alert and its deliveries
def test_a_new_alert_is_recorded_whole_with_one_unattempted_delivery_per_target_due_at_once(store):
    before = utcnow()
    (created,) = record(store, [finding()], TARGETS, urls={ORDER: URL})
    after = utcnow()
    (alert,) = store.alerts()
    assert alert["id"] == created.id and created.message == finding().message
    assert (alert["deadline"], alert["site_now"], alert["url"]) == (DEADLINE.isoformat(), SITE_NOW.isoformat(), URL)
    assert within(alert["created"], before, after)
    assert store.deliveries(created.id) == [
        {
            "alert_id": created.id,
            "target": target,
            "label": label,
            "state": "pending",
            "attempts": 0,
            "last_error": None,
            "next_attempt": alert["created"],
            "delivered": None,
            "carried_by": None,
        }
        for target, label in TARGETS
    ]
    assert [d["target"] for d in store.due_deliveries(after)] == ["t1", "t2"]


def test_a_failed_polls_alert_takes_the_time_it_was_found_at(store):
    store.record_failure(
        "a", started=SITE_NOW, error="down", findings=[finding("", "monitor_failing")], route=everywhere(TARGETS)
    )
    (alert,) = store.alerts()
    assert (alert["site_now"], alert["url"], alert["order_id"]) == (FOUND_AT.isoformat(), None, "")
    assert [d["attempts"] for d in store.deliveries(alert["id"])] == [0, 0]


def test_as_many_new_alerts_as_the_digest_limit_go_out_one_by_one_and_one_more_as_a_digest(store):
    few = record(store, [finding(order_id=f"81000000000012{n:02}") for n in range(3)], TARGETS, digest_over=3)
    assert [len(store.deliveries(a.id)) for a in few] == [2, 2, 2]
    assert {d["carried_by"] for d in store.deliveries()} == {None}
    many = record(store, [finding(order_id=f"81000000000013{n:02}") for n in range(4)], TARGETS, digest_over=3)
    assert [[d["state"] for d in store.deliveries(a.id)] for a in many] == [["pending"] * 2] + [["carried"] * 2] * 3
    for target, _ in TARGETS:  # one notification to each target carries the four
        assert [a["order_id"] for a in store.carried(many[0].id, target)] == [f"81000000000013{n:02}" for n in range(4)]


# ---------------------------------------------------------------- sending
def test_due_deliveries_go_out_once_each_and_are_marked_delivered(store, notifier, target, alert_receiver):
    (first,) = record(store, [finding()], notifier.targets(), urls={ORDER: URL})
    (second,) = record(store, [finding("", "monitor_failing", deadline_name=None)], notifier.targets())
    before = utcnow()
    assert notifier.deliver_due(store) == {"delivered": 2, "failed": 0}
    after = utcnow()
    assert [(n["title"], n["message"]) for n in alert_receiver.received] == [
        (
            f"Refund hasn't arrived \N{EM DASH} order {ORDER}",
            f"{first.message}\n\nOrder page: {URL}\n\n(ordermon alert #{first.id})",
        ),
        ("ordermon can't read your orders", f"{second.message}\n\n(ordermon alert #{second.id})"),
    ]
    for alert in (first, second):
        row = delivery(store, alert.id, target)
        assert (row["state"], row["attempts"], row["last_error"]) == ("delivered", 1, None)
        assert within(row["delivered"], before, after)
    assert notifier.deliver_due(store, now=utcnow() + FAR) == {"delivered": 0, "failed": 0}
    assert len(alert_receiver.received) == 2


def test_a_failed_delivery_is_retried_after_a_doubling_backoff_then_given_up(store, notifier, target, alert_receiver):
    (alert,) = record(store, [finding()], notifier.targets())
    alert_receiver.fail_next(3)
    for attempt, backoff in [(1, 10), (2, 20)]:
        before = utcnow()
        assert notifier.deliver_due(store, now=before + FAR) == {"delivered": 0, "failed": 1}
        after = utcnow()
        row = delivery(store, alert.id, target)
        assert (row["state"], row["attempts"], row["delivered"]) == ("pending", attempt, None)
        assert row["last_error"].endswith(FAILED_500)
        wait = dt.timedelta(seconds=backoff)
        assert within(row["next_attempt"], before + wait, after + wait)
        assert notifier.deliver_due(store, now=before + wait - dt.timedelta(seconds=1)) == {"delivered": 0, "failed": 0}
    assert notifier.deliver_due(store, now=utcnow() + FAR) == {"delivered": 0, "failed": 1}
    row = delivery(store, alert.id, target)
    assert (row["state"], row["attempts"], row["next_attempt"]) == ("failed", 3, None)
    assert row["last_error"].endswith(FAILED_500)
    assert notifier.deliver_due(store, now=utcnow() + 2 * FAR) == {"delivered": 0, "failed": 0}
    assert alert_receiver.received == []


def test_a_retry_that_gets_through_is_delivered_once(store, notifier, target, alert_receiver):
    (alert,) = record(store, [finding()], notifier.targets())
    alert_receiver.fail_next(1)
    assert notifier.deliver_due(store) == {"delivered": 0, "failed": 1}
    assert notifier.deliver_due(store, now=utcnow() + FAR) == {"delivered": 1, "failed": 0}
    row = delivery(store, alert.id, target)
    assert (row["state"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
    assert len(alert_receiver.received) == 1


def test_the_backoff_stops_growing_at_an_hour(store, alert_receiver):
    notifier = Notifier([alert_receiver.url], backoff=2000, max_attempts=5)
    (alert,) = record(store, [finding()], notifier.targets())
    alert_receiver.fail_next(2)
    for backoff in (2000, 3600):  # not 4000
        before = utcnow()
        notifier.deliver_due(store, now=before + FAR)
        wait = dt.timedelta(seconds=backoff)
        assert within(store.deliveries(alert.id)[0]["next_attempt"], before + wait, utcnow() + wait)


def test_by_default_a_delivery_waits_30_s_and_has_8_attempts(store, alert_receiver):
    notifier = Notifier([alert_receiver.url])
    (alert,) = record(store, [finding()], notifier.targets())
    alert_receiver.fail_next(8)
    before = utcnow()
    notifier.deliver_due(store)
    wait = dt.timedelta(seconds=30)
    assert within(store.deliveries(alert.id)[0]["next_attempt"], before + wait, utcnow() + wait)
    for _ in range(6):
        notifier.deliver_due(store, now=utcnow() + FAR)
    assert [(d["state"], d["attempts"]) for d in store.deliveries(alert.id)] == [("pending", 7)]
    notifier.deliver_due(store, now=utcnow() + FAR)
    assert [(d["state"], d["attempts"]) for d in store.deliveries(alert.id)] == [("failed", 8)]


def test_every_failure_of_a_pass_is_counted(store, notifier, alert_receiver):
    record(store, [finding(), finding(OTHER)], notifier.targets())
    alert_receiver.fail_next(2)
    assert notifier.deliver_due(store) == {"delivered": 0, "failed": 2}


def test_why_a_delivery_failed_is_kept_when_apprise_is_quiet_in_the_applications_log(
    store, notifier, target, alert_receiver
):
    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.ERROR)
    try:
        (alert,) = record(store, [finding()], notifier.targets())
        alert_receiver.fail_next(1)
        assert notifier.deliver_due(store) == {"delivered": 0, "failed": 1}
    finally:
        apprise_log.setLevel(level)
    assert delivery(store, alert.id, target)["last_error"].endswith(FAILED_500)


def test_stop_ends_the_pass_before_the_next_delivery(store, notifier, target, alert_receiver):
    alerts = record(store, [finding(), finding(OTHER)], notifier.targets())
    counts = notifier.deliver_due(store, stop=lambda: len(alert_receiver.received) >= 1)
    assert counts == {"delivered": 1, "failed": 0}
    assert [delivery(store, a.id, target)["state"] for a in alerts] == ["delivered", "pending"]


def test_a_delivery_to_a_target_no_longer_configured_is_left_and_the_rest_go_out(
    store, notifier, target, alert_receiver
):
    (old,) = record(store, [finding()], [("gone", "a target since removed")])
    (new,) = record(store, [finding(OTHER)], notifier.targets())
    assert notifier.deliver_due(store) == {"delivered": 1, "failed": 0}
    assert [(d["state"], d["attempts"]) for d in store.deliveries(old.id)] == [("pending", 0)]
    assert delivery(store, new.id, target)["state"] == "delivered"


def test_a_digest_goes_out_as_one_notification_naming_every_alert(store, notifier, target, alert_receiver):
    later = DEADLINE + dt.timedelta(hours=5, minutes=7)
    created = record(
        store,
        [
            finding(),
            finding(OTHER, "seller_response_overdue", later, "seller_response_by"),
            finding("", "monitor_failing", later, None),
        ],
        notifier.targets(),
        digest_over=2,
    )
    assert notifier.deliver_due(store) == {"delivered": 1, "failed": 0}
    ((title, message),) = [(n["title"], n["message"]) for n in alert_receiver.received]
    assert title == "3 new alerts for a"
    assert message == (
        f"- {ORDER}: Refund hasn't arrived; Refund expected by 2026-11-20 10:30 UTC (2d 0h overdue). "
        "Next step: check your card\n"
        f"- {OTHER}: Seller hasn't answered your cancellation; Seller must answer by 2026-11-20 15:37 UTC "
        "(1d 18h overdue). Next step: check your card\n"
        "- a: ordermon can't read your orders; Deadline 2026-11-20 15:37 UTC (1d 18h overdue). "
        f"Next step: check your card\n\n(ordermon alerts #{created[0].id}, #{created[1].id}, #{created[2].id})"
    )
    assert [a["states"] for a in store.alerts()] == ["delivered"] * 3
    assert delivery(store, created[0].id, target)["attempts"] == 1


def test_a_polls_reminders_go_out_as_one_notification_saying_what_is_still_open(store, notifier, alert_receiver):
    reminders = [
        dataclasses.replace(finding(order_id), level=f"reminder {n}") for n, order_id in ((2, ORDER), (1, OTHER))
    ]
    created = record(store, reminders, notifier.targets())
    assert notifier.deliver_due(store) == {"delivered": 1, "failed": 0}
    ((title, message),) = [(n["title"], n["message"]) for n in alert_receiver.received]
    assert title == "Still open: 2 orders of a"
    assert message.splitlines()[:2] == [
        f"- {ORDER}: Still open: Refund hasn't arrived (reminder 2); Refund expected by 2026-11-20 10:30 UTC "
        "(2d 0h overdue). Next step: check your card",
        f"- {OTHER}: Still open: Refund hasn't arrived (reminder 1); Refund expected by 2026-11-20 10:30 UTC "
        "(2d 0h overdue). Next step: check your card",
    ]
    assert message.endswith(f"(ordermon alerts #{created[0].id}, #{created[1].id})")
    one = record(store, [dataclasses.replace(finding(ORDER), level="reminder 3")], notifier.targets())
    notifier.deliver_due(store)
    assert alert_receiver.received[-1]["title"] == f"Still open: Refund hasn't arrived \N{EM DASH} order {ORDER}"
    assert alert_receiver.received[-1]["message"].endswith(f"(ordermon alert #{one[0].id})")


# ---------------------------------------------------------------- why a send failed
class Target:
    """Stands in for an Apprise instance whose plugin does what ``notify`` does here."""

    def __init__(self, notify):
        self.notify = notify


def test_a_plugin_that_raises_is_a_failed_delivery_named_by_the_exception():
    def raises(**_):
        raise RuntimeError("boom " * 100)

    assert Notifier._send(Target(raises), "title", "body") == ("RuntimeError: " + "boom " * 100)[:300]


def test_a_failure_is_named_by_apprises_last_warning_cut_to_300_characters():
    def warns(**_):
        logging.getLogger("apprise").warning("first")
        logging.getLogger("apprise").warning("x" * 400)
        return False

    error = Notifier._send(Target(warns), "title", "body")
    assert len(error) == 300 and " - WARNING - xxx" in error


def test_a_failure_apprise_does_not_explain():
    assert Notifier._send(Target(lambda **_: False), "title", "body") == "delivery failed"


def test_what_the_plugin_is_given():
    given = []
    assert Notifier._send(Target(lambda **kw: given.append(kw) or True), "the title", "the body") is None
    assert given == [{"title": "the title", "body": "the body", "body_format": "text"}]  # plain text, said so


# ---------------------------------------------------------------- targets, configuration, recovery
def test_each_target_is_keyed_by_a_hash_and_labelled_without_its_secrets(alert_receiver):
    url = alert_receiver.url.replace("json://", "json://user:s3cretpass0123@")
    notifier = Notifier([url])
    assert notifier.targets() == [(hashlib.sha256(url.encode()).hexdigest()[:16], describe_target(url))]
    assert len(target_key(url)) == 16 and "s3cretpass0123" not in describe_target(url)


def test_an_unusable_url_is_a_settings_error_naming_it_by_its_label():
    url = "nosuchservice://token-abcdef0123456789@host/"
    with pytest.raises(SettingsError) as err:
        Notifier([url])
    assert str(err.value) == f"bad setting ORDERMON_ALERT_URLS: cannot use {describe_target(url)}"
    assert "token-abcdef0123456789" not in str(err.value)


def test_delivery_schemes_are_named_once_each_without_anything_past_them():
    urls = ["json://h/a", "JSON://user:pw@h/b", "ntfys://token@ntfy.sh/t", "not a url", "what?"]
    assert delivery_schemes(urls) == ["json://", "ntfys://", "(unrecognised URL)"]
    assert delivery_schemes([]) == []


def test_on_open_an_interrupted_send_is_uncertain_and_a_removed_targets_deliveries_are_dropped(
    tmp_path, notifier, target, alert_receiver
):
    store = SqliteStore(tmp_path / "ordermon.db")
    (sent,) = record(store, [finding()], notifier.targets())
    (kept,) = record(store, [finding(OTHER)], [*notifier.targets(), ("gone", "a target since removed")])
    store.mark_sending(sent.id, target, attempts=1)
    store.db.conn.close()  # the process dies here: Apprise may or may not have delivered
    store = SqliteStore(tmp_path / "ordermon.db")
    assert notifier.recover(store) == {"uncertain": 1, "dropped": 1}
    assert [(d["target"], d["state"]) for d in store.deliveries(kept.id)] == sorted(
        [(target, "pending"), ("gone", "dropped")]
    )
    assert notifier.deliver_due(store) == {"delivered": 1, "failed": 0}
    assert [n["message"].endswith(f"#{kept.id})") for n in alert_receiver.received] == [True]
    store.close()


def test_with_no_target_configured_every_pending_delivery_is_dropped(store):
    (alert,) = record(store, [finding()], TARGETS)
    store.mark_sending(alert.id, "t1", attempts=1)
    assert store.recover_deliveries([]) == {"uncertain": 1, "dropped": 1}
    assert [d["state"] for d in store.deliveries(alert.id)] == ["uncertain", "dropped"]


# ---------------------------------------------------------------- fork
def test_a_process_forked_after_a_delivery_delivers_too(tmp_path, alert_receiver):
    """Apprise sends through process-wide thread pools. A child forked once they have run (a
    mutmut worker, a pre-forking parent) inherits them without their threads: its sends must not
    wait on threads that do not exist (Apprise would give up after 60 s)."""
    path = tmp_path / "ordermon.db"
    store = SqliteStore(path)
    notifier = Notifier([alert_receiver.url])
    record(store, [finding()], notifier.targets())
    assert notifier.deliver_due(store) == {"delivered": 1, "failed": 0}  # the pools have run, and idle
    record(store, [finding(OTHER)], notifier.targets())
    store.close()
    pid = os.fork()
    if pid == 0:  # the child: deliver, report by the exit code, and never return into pytest
        code = 1
        try:
            child = SqliteStore(path)
            code = 0 if Notifier([alert_receiver.url]).deliver_due(child) == {"delivered": 1, "failed": 0} else 3
            child.close()
        finally:
            os._exit(code)
    reaped = False
    try:
        received = alert_receiver.wait_for(2, timeout=20)
        assert len(received) == 2, "the forked child's notification never arrived"
        _, status = os.waitpid(pid, 0)
        reaped = True
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if not reaped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    assert received[1]["message"].endswith("(ordermon alert #2)")


def test_site_text_reaches_a_target_that_renders_html_escaped(store, alert_receiver):
    """A target whose format is HTML (e-mail, Telegram; here the receiver asked for HTML) gets the
    alert as text made safe: a tag from the site's text arrives escaped, never live."""
    notifier = Notifier([alert_receiver.url + "?format=html"], backoff=10, max_attempts=3)
    hostile = dataclasses.replace(finding(), summary='<a href="http://evil.example">refund</a><img src=x>')
    (alert,) = record(store, [hostile], notifier.targets())
    ((target, _),) = notifier.targets()
    assert notifier.deliver_one(store, alert.id, target) is None
    (received,) = alert_receiver.received
    assert "<a " not in received["message"] and "<img" not in received["message"]
    assert "&lt;a&nbsp;href=&quot;http://evil.example&quot;&gt;refund&lt;/a&gt;&lt;img" in received["message"]
