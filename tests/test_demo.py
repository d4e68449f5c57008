"""The demo is the main job: a short run shows alerts delivered through Apprise."""

import pytest

from monitor import html_report
from monitor.demo import run_demo
from monitor.rules import RULES, Attention
from monitor.store import SqliteStore
from monitor.views import status_rows

pytestmark = pytest.mark.e2e


@pytest.mark.long
def test_short_demo_alerts_and_summarises(tmp_path, browser, alert_receiver):
    lines = []
    summary = run_demo(
        seconds=10,
        time_scale=7 * 7200,  # 140 simulated hours: every scenario's deadline passes
        poll_every=1,
        db=tmp_path / "demo.db",
        echo=lines.append,
        browser=browser,
        extra_alert_urls=[alert_receiver.url.replace("json://", "form://", 1)],
    )
    text = "\n".join(lines)
    assert "Flow: cancel" in text and "-> requested" in text
    assert "ALERT" in text and "Summary" in text
    assert {"refund_overdue", "ship_deadline_passed", "seller_response_overdue"} <= set(summary["alerts"])
    assert {"cancellation_refused", "parcel_overdue", "refund_arrived"} <= set(summary["alerts"])  # newer rules
    assert summary["alerts_delivered"] == sum(summary["alerts"].values())
    assert 0 < summary["delivered_to_receiver"] <= summary["alerts_delivered"]
    assert summary["schemes"] == ["json://", "form://"] and "notifications (json://, form://)." in text
    assert summary["notifications"] == 2 * summary["delivered_to_receiver"] == 2 * len(alert_receiver.received)
    status_report_and_alerts_agree(tmp_path / "demo.db")
    assert f"See it live: ordermon serve --db {tmp_path / 'demo.db'}, then open http://127.0.0.1:8766/" in text
    dashboard_agrees(tmp_path / "demo.db")
    again = run_demo(
        seconds=1, time_scale=7200, poll_every=1, db=tmp_path / "demo.db", echo=lambda line: None, browser=browser
    )
    assert again["orders"] == summary["orders"]  # the demo account starts afresh each run
    assert SqliteStore(tmp_path / "demo.db").counts()["orders"] == summary["orders"]


def dashboard_agrees(db) -> None:
    """`ordermon serve` on the demo's database shows what `ordermon status` shows, judged alike."""
    from monitor.settings import MonitorSettings
    from monitor.web import Board

    store = SqliteStore.existing(db)
    rows = status_rows(store)
    store.close()
    board = Board(MonitorSettings(_env_file=None, db=str(db)), db)
    try:
        shown = board.call(lambda: board.rows(board.snapshot().select()))
    finally:
        board.close()
    assert shown == rows and any(r["overdue"] for r in rows)


def status_report_and_alerts_agree(db) -> None:
    """Overdue in `status` exactly where an overdue alert is still open in the report; no window that
    opened makes an order overdue; an unanswered cancellation shows the seller's deadline first."""
    store = SqliteStore.existing(db)
    rows, report = status_rows(store), html_report.build(store)
    store.close()
    overdue = {r["order_id"] for r in rows if r["overdue"]}
    still_open = {
        a["order_id"] for a in report["alerts"] if a["open"] and RULES[a["rule"]].attention is Attention.OVERDUE
    }
    assert overdue == still_open and overdue
    assert report["overdue"] == len(overdue)
    assert not any(d["overdue"] for r in rows for d in r["deadlines"].values() if d["kind"] == "window_start")
    unanswered = [r for r in rows if r["status"] == "awaiting_cancellation" and r["overdue"]]
    assert unanswered and {r["next_deadline_name"] for r in unanswered} == {"seller_response_by"}
