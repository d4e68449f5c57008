"""The demo is the main job: a short run shows alerts delivered through Apprise."""

import pytest

from monitor.demo import run_demo
from monitor.store import Store

pytestmark = pytest.mark.e2e


@pytest.mark.long
def test_short_demo_alerts_and_summarises(tmp_path, browser, alert_receiver):
    lines = []
    summary = run_demo(
        seconds=16,
        time_scale=4 * 7200,
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
    again = run_demo(
        seconds=5, time_scale=7200, poll_every=1, db=tmp_path / "demo.db", echo=lambda line: None, browser=browser
    )
    assert again["orders"] == summary["orders"]  # the demo account starts afresh each run
    assert Store(tmp_path / "demo.db").counts()["orders"] == summary["orders"]
