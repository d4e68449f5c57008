"""`ordermon monitor`, `status`, `alerts`, `history` as a user runs them; kill -9 safety."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import lines_until, ordermon, ordermon_here

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(cli_env, alert_receiver):
    return cli_env | {"ORDERMON_ALERT_URLS": alert_receiver.url}


@pytest.mark.long
def test_once_json_then_status_alerts_history(env, storefront, alert_receiver):
    # One notification per alert: how many alerts the seeded orders raise depends on the weekday
    # (business days), and over ORDERMON_DIGEST_OVER they would arrive as one digest.
    result = ordermon(env, "monitor", "--once", "--json", ORDERMON_DIGEST_OVER="100")
    assert result.returncode == 0, result.stderr
    poll = json.loads(result.stdout)
    assert poll["orders_seen"] == 40 and poll["error"] is None
    assert poll["alerts_created"] == len(alert_receiver.wait_for(poll["alerts_created"]))

    status = json.loads(ordermon_here(env, "status", "--json").stdout)
    assert len(status) == 40 and {"order_id", "status", "next_deadline", "overdue"} <= set(status[0])
    table = ordermon_here(env, "status").stdout
    labels = {r["next_deadline_label"] for r in status if r["next_deadline_label"]}
    assert {"Seller must answer by", "Refund expected by", "Protection ends"} <= labels  # what the page says
    assert all(label in table for label in labels) and "seller_response_by" not in table

    alerts = json.loads(ordermon_here(env, "alerts", "--json").stdout)
    assert alerts and all({"order_id", "rule", "deadline", "message", "delivered"} <= set(a) for a in alerts)
    assert all(a["delivered"] for a in alerts)

    order_id = status[0]["order_id"]
    history = json.loads(ordermon_here(env, "history", order_id, "--json").stdout)
    assert history[0]["status_from"] is None and history[0]["order_id"] == order_id
    assert ordermon_here(env, "history", "8100000000000000").returncode == 4

    db = env["ORDERMON_DB"]
    assert oct(os.stat(db).st_mode)[-3:] == "600"
    assert storefront.password.encode() not in Path(db).read_bytes()


def test_bad_settings_name_the_setting(env):
    result = ordermon(env, "monitor", "--once", ORDERMON_ALERT_URLS="nonsense://nowhere")
    assert result.returncode == 2 and "ORDERMON_ALERT_URLS" in result.stderr
    result = ordermon(env, "monitor", "--once", ORDERMON_POLL_INTERVAL="soon")
    assert result.returncode == 2 and "ORDERMON_POLL_INTERVAL" in result.stderr


def test_read_commands_without_a_database(env, tmp_path):
    result = ordermon_here(env, "status", ORDERMON_DB=str(tmp_path / "missing.db"))
    assert result.returncode == 7 and "no database" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_sigterm_stops_cleanly_and_a_second_monitor_refuses(env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines_until(proc.stderr, lambda line: line.startswith("poll "))
        second = ordermon(env, "monitor", "--once")
        assert second.returncode == 7 and "another ordermon monitor" in second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def test_kill_9_during_a_poll_loses_nothing_and_sends_nothing_twice(env, storefront, alert_receiver):
    admin = storefront.admin
    admin.clock(freeze=True)
    first = ordermon(env, "monitor", "--once")
    assert first.returncode == 0, first.stderr
    sent_before = len(alert_receiver.wait_for(1))

    # Make many orders change and come due, and make the next poll slow.
    admin.settings(auto_actions=False)
    admin.clock(advance=30 * 86400)
    admin.faults(latency_ms=150, target="GET /p/order/detail.json")
    start = admin.state()["requests"].get("GET /p/order/detail.json", 0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert storefront.site.wait_for_requests("GET /p/order/detail.json", start + 5, timeout=60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    admin.faults(clear=True)
    again = ordermon(env, "monitor", "--once", "--json")
    assert again.returncode == 0, again.stderr
    from monitor.store import SqliteStore

    store = SqliteStore(env["ORDERMON_DB"])
    site = {o["id"]: o for o in admin.state()["orders"]}
    known = {o.order_id: o for o in store.orders()}
    assert {i: (o.status, o.refund_status) for i, o in known.items()} == {
        i: (o["status"], o["refund_status"]) for i, o in site.items()
    }
    messages = [(m["title"], m["message"]) for m in alert_receiver.received]
    assert len(messages) > sent_before
    assert max(Counter(messages).values()) == 1  # nothing sent twice
    alerts = store.alerts()
    assert len({(a["order_id"], a["rule"], a["level"], a["episode"]) for a in alerts}) == len(alerts)
    sent = [d for d in store.deliveries() if d["carried_by"] is None]  # an alert's, or a digest's
    assert all(a["states"] == "delivered" for a in alerts) and len(sent) == len(messages)


def descendants(pid: int) -> list[str]:
    """The command names of every process below ``pid`` (from /proc)."""
    names, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                try:
                    names.append(Path(f"/proc/{child}/comm").read_text().strip())
                except OSError:
                    pass
                todo.append(child)
    return names


@pytest.mark.parametrize("via, browser_between_polls", [("http", False), ("browser", True)])
def test_between_polls_no_browser_is_resident_in_http_mode(env, via, browser_between_polls):
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "monitor", "--interval", "3600"],
        env=env | {"ORDERMON_POLL_VIA": via},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines_until(proc.stderr, lambda line: line.startswith("poll "))  # the first poll is over
        names = descendants(proc.pid)
        assert any("chrom" in n or "headless" in n or "node" in n for n in names) is browser_between_polls, names
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
