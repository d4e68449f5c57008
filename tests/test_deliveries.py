"""Deliveries and polls do not wait for each other; the monitor's console is ordermon's own;
the demo names every delivery scheme it used."""

import itertools
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
import pytest

from monitor.alerts import delivery_schemes
from monitor.demo import summary_line
from monitor.service import DELIVERY_INTERVAL, Monitor
from monitor.settings import MonitorSettings

DELAY = 2.0  # seconds the slow target takes to answer each notification
# What Python's default warning filters keep off the console (outside __main__).
QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
ALERT_ID = re.compile(r"\(ordermon alert #(\d+)\)")


class SlowReceiver:
    """A json:// Apprise target that answers each notification ``delay`` seconds after it arrives.

    ``requests``: (arrived, answered, body) per notification, on ``time.monotonic()``'s clock.
    """

    def __init__(self, delay: float):
        self.delay = delay
        self.requests: list[tuple[float, float, dict]] = []
        self._changed = threading.Condition()
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                receiver._closing.wait(receiver.delay)  # the target's own slowness (cut short on close)
                with receiver._changed:
                    receiver.requests.append((arrived, time.monotonic(), body))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="slow-receiver")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"json://{host}:{port}/alerts"

    def wait_for(self, count: int, timeout: float) -> list[tuple[float, float, dict]]:
        """Block until ``count`` notifications have been answered (or ``timeout``)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def slow_receiver():
    with SlowReceiver(DELAY) as receiver:
        yield receiver


@pytest.fixture
def fast_receiver():
    with SlowReceiver(0) as receiver:
        yield receiver


@pytest.fixture
def application_log():
    """The records that reach the application's handlers (the root logger's), every level, with
    APScheduler as talkative as it gets."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    root, scheduler_log = logging.getLogger(), logging.getLogger("apscheduler")
    levels = root.level, scheduler_log.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    scheduler_log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        scheduler_log.setLevel(levels[1])


def settings_for(storefront, tmp_path, alert_url: str, **overrides) -> MonitorSettings:
    return MonitorSettings(
        _env_file=None,
        storefront_url=storefront.url,
        email=storefront.email,
        password=storefront.password,
        db=tmp_path / "ordermon.db",
        data_dir=tmp_path / "data",
        alert_urls=[alert_url],
        alert_retry_backoff=0.01,
        retries=1,
        retry_backoff=0.01,
        timeout=10,
        poll_jitter=0,
        misfire_grace=5,
        **overrides,
    )


def overdue_refunds(storefront, count: int) -> None:
    """Orders whose refunds are long overdue: one alert each, at the first poll (no digest for a few)."""
    for _ in range(count):
        storefront.scenarios.stuck_refund(days_ago=60)


def alert_ids(requests) -> list[int]:
    return sorted(int(ALERT_ID.search(body["message"]).group(1)) for _, _, body in requests)


@pytest.mark.e2e
@pytest.mark.storefront(orders=0)
def test_a_slow_alert_target_never_delays_a_poll(
    storefront, tmp_path, browser, slow_receiver, application_log, recwarn
):
    overdue_refunds(storefront, 3)
    polls: list[float] = []
    errors: list[str] = []

    def on_poll(result) -> None:
        polls.append(time.monotonic())
        if result.error:
            errors.append(result.error)
        if len(slow_receiver.requests) >= 3:  # every notification answered: enough
            monitor.stop()

    settings = settings_for(storefront, tmp_path, slow_receiver.url, poll_interval=1)
    with Monitor(settings, on_poll=on_poll, browser=browser) as monitor:
        monitor.run_forever(stop_after=60)  # a deadline only: the test stops it sooner
        monitor.deliver()  # nothing is left, and nothing goes twice
        alerts = monitor.store.alerts()

    requests = slow_receiver.requests
    assert errors == []
    assert len(alerts) == 3 and all(a["states"] == "delivered" for a in alerts)
    assert alert_ids(requests) == sorted(a["id"] for a in alerts)  # each delivered exactly once
    sending_from, sending_until = requests[0][0], requests[-1][1]
    assert sending_until - sending_from >= 3 * DELAY - 0.5  # one notification after the other
    during = [t for t in polls if sending_from <= t <= sending_until]
    assert len(during) >= 3 * DELAY - 2, (polls, sending_from, sending_until)  # about one a second
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls[1:])]  # after the first (sign-in)
    assert gaps and max(gaps) < 1 + DELAY / 2, gaps  # never held up by a notification under way
    assert [r.getMessage() for r in application_log if r.name.startswith("apscheduler")] == []
    shown = [w for w in recwarn if not issubclass(w.category, QUIET_WARNINGS)]  # Python's default filters
    assert [str(w.message) for w in shown] == []


@pytest.mark.e2e
@pytest.mark.storefront(orders=0)
def test_a_polls_alerts_go_out_at_once_and_stop_after_ends_between_polls(storefront, tmp_path, browser, fast_receiver):
    overdue_refunds(storefront, 1)
    polls: list[float] = []
    settings = settings_for(storefront, tmp_path, fast_receiver.url, poll_interval=600)
    with Monitor(settings, on_poll=lambda result: polls.append(time.monotonic()), browser=browser) as monitor:
        started = time.monotonic()
        monitor.run_forever(stop_after=6)
        ran = time.monotonic() - started
        states = [a["states"] for a in monitor.store.alerts()]
    assert len(polls) == 1 and states == ["delivered"]
    ((arrived, _, _),) = fast_receiver.requests
    assert arrived - polls[0] < 1.5 < DELIVERY_INTERVAL  # woken by the poll, not on the retries' interval
    assert 6 <= ran < 9  # stop_after holds with a poll interval of ten minutes


@pytest.mark.e2e
@pytest.mark.storefront(orders=0)
def test_the_monitors_console_is_its_own_while_a_delivery_runs_long(storefront, cli_env, slow_receiver):
    overdue_refunds(storefront, 3)
    env = cli_env | {"ORDERMON_ALERT_URLS": slow_receiver.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Two slow notifications answered: the third is under way, polls went on meanwhile.
        assert len(slow_receiver.wait_for(2, timeout=90)) >= 2
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert cli_env["ORDERMON_PASSWORD"] not in out + err
    log_line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")  # ordermon's log (cli._log_to_console)
    foreign = [line for line in err.splitlines() if not (line.startswith("poll ") or log_line.match(line))]
    assert foreign == [], err
    assert not re.search(r"apscheduler|Run time of job|was missed by|Warning|Traceback", err + out), err
    assert [line for line in out.splitlines() if not line.startswith("ALERT ")] == [], out
    polls = [line for line in err.splitlines() if line.startswith("poll ")]
    assert len(polls) >= 2 * DELAY, err  # about one a second, the slow notifications notwithstanding
    assert "stopping (SIGTERM)" in err


def test_the_demo_summary_names_every_delivery_scheme_and_no_secret():
    urls = [
        "json://127.0.0.1:8123/alerts",
        "ntfy://alice:s3cr3t-pass@ntfy.example.com/private-topic",
        "JSON://other.example.com/hook",
        "tgram://123456789:AAbbCCddEEff/987654",
    ]
    assert delivery_schemes(urls) == ["json://", "ntfy://", "tgram://"]
    assert delivery_schemes(["json://127.0.0.1:1/a"]) == ["json://"]
    summary = {
        "orders": 19,
        "polls": 7,
        "changes": 24,
        "alerts": {"refund_overdue": 2, "parcel_overdue": 1},
        "alerts_delivered": 3,
        "notifications": 9,
        "schemes": delivery_schemes(urls),
    }
    line = click.unstyle(summary_line(summary))
    assert line == (
        "Summary: 19 orders watched over 7 polls, 24 changes recorded, 3 alerts (parcel_overdue 1, "
        "refund_overdue 2), 3 delivered through Apprise in 9 notifications (json://, ntfy://, tgram://)."
    )
    for secret in ("alice", "s3cr3t", "private-topic", "123456789", "AAbbCCddEEff", "8123"):
        assert secret not in line
