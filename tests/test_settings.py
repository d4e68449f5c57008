"""The monitor's settings: windows per account, checked as a whole, one line per mistake."""

import datetime as dt

import pytest
from pydantic import ValidationError

from flows.domain import PaymentMethod
from monitor.settings import MonitorSettings


def settings(**values) -> MonitorSettings:
    return MonitorSettings(_env_file=None, **values)


ACCOUNTS = [
    {
        "name": "de",
        "storefront_url": "http://127.0.0.1:1",
        "email": "a@x",
        "password": "p",
        "protection_days": 90,
        "seller_response_hours": 48,
        "refund_business_days": {"alipay": 10},
    },
    {"name": "us", "storefront_url": "http://127.0.0.1:2", "email": "b@x", "password": "p"},
]


def test_an_account_may_override_the_windows():
    s = settings(accounts=ACCOUNTS, protection_days=60, grace_minutes=30)
    de, us = s.rule_config("de"), s.rule_config("us")
    assert (de.protection_days, de.seller_response_hours) == (90, 48)
    assert (us.protection_days, us.seller_response_hours) == (60, 72)
    assert de.refund_business_days[PaymentMethod.ALIPAY] == 10 and de.refund_business_days[PaymentMethod.CARD] == 20
    assert de.grace == us.grace == dt.timedelta(minutes=30)


def test_an_unknown_window_in_an_account_is_refused():
    with pytest.raises(ValidationError, match="protection_dayz"):
        settings(accounts=[ACCOUNTS[1] | {"protection_dayz": 90}])


def test_new_windows_have_their_defaults():
    s = settings()
    config = s.rule_config()
    assert (s.grace_minutes, s.digest_over, s.recent_days) == (60, 5, 7)
    assert config.transit_business_days == {"standard": (15, 45), "premium": (7, 15)}
    assert config.protection_warning_days == (14, 7, 3)


def test_a_dot_env_file_cannot_choose_the_browser_nor_add_alert_targets(tmp_path, monkeypatch, caplog):
    """A `.env` in the working directory (a folder's file, maybe not the user's) sets ordinary
    settings, but not the program ordermon runs with the password in reach, nor where alerts go."""
    for name in ("ORDERMON_BROWSER_PATH", "ORDERMON_BROWSER_ENDPOINT", "ORDERMON_ALERT_URLS", "ORDERMON_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "ORDERMON_BROWSER_PATH=/tmp/not-chromium\nORDERMON_BROWSER_ENDPOINT=ws://elsewhere.example\n"
        "ORDERMON_ALERT_URLS=json://collector.example\nORDERMON_TIMEOUT=7\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = MonitorSettings()
    assert (settings.browser_path, settings.browser_endpoint, settings.alert_urls) == (None, None, [])
    assert settings.timeout == 7
    assert "ignored ORDERMON_BROWSER_PATH, ORDERMON_BROWSER_ENDPOINT, ORDERMON_ALERT_URLS from .env" in caplog.text
    monkeypatch.setenv("ORDERMON_BROWSER_PATH", "/usr/bin/chromium")  # the environment still may
    assert MonitorSettings().browser_path == "/usr/bin/chromium"
