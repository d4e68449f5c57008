"""The reader's retries, pure: a fake transport and a fake clock (each try takes the time the test
says). A site too slow every time ends a stage within about three timeouts however many retries are
set; a long first try that got its answers does not use them up; a bad answer is not asked again."""

import datetime as dt
import email.utils
import json
import types

import pytest

from flows import reading, retry
from flows.account import Account
from flows.errors import BadAnswer, SiteUnavailable
from flows.retry import policy
from flows.settings import FlowSettings
from flows.site import Response

ACCOUNT = Account("http://shop.example", "buyer@example.com", "pw")
PAGE = json.dumps({"orders": [], "total": 0, "has_more": False})


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    fake = types.SimpleNamespace(monotonic=clock.monotonic)
    monkeypatch.setattr(reading, "time", fake)
    monkeypatch.setattr(retry, "time", fake)
    return clock


class Site:
    """Each try takes ``took[n]`` seconds and answers ``answered[n]`` (else no answer)."""

    def __init__(self, clock, took, answered):
        self.clock, self.took, self.answered, self.tries = clock, took, answered, 0

    def account(self, label):
        return ACCOUNT

    def sign_in(self, label):
        raise AssertionError("no sign-in expected")

    def fetch(self, requests, on_answer):
        n = min(self.tries, len(self.took) - 1)
        self.clock.now += self.took[n]
        ok = self.answered[min(self.tries, len(self.answered) - 1)]
        self.tries += 1
        return {
            label: [Response(key, 200, PAGE) if ok else Response(key, 0, "no whole answer") for key, _ in asked]
            for label, asked in requests.items()
        }


def reader(site, **settings):
    values = {"timeout": 10, "retries": 20, "retry_backoff": 0} | settings
    return reading.SiteReader(FlowSettings(_env_file=None, **values), site)


def test_a_site_too_slow_every_time_ends_a_stage_within_three_timeouts(clock):
    site = Site(clock, took=[10], answered=[False])
    started = clock.now
    (found,) = reader(site).lists([ACCOUNT.label]).values()
    assert isinstance(found, SiteUnavailable)
    assert site.tries == 3 and clock.now - started == 30  # not the 21 tries retries=20 allows


def test_a_long_first_try_that_got_answers_keeps_its_retries(clock):
    # The first try takes 60 s (a big account) and leaves its request unanswered; then two quick
    # failures, then an answer: the read succeeds (a budget counted from the read's start would not).
    site = Site(clock, took=[60, 1], answered=[False, False, False, True])
    (found,) = reader(site).lists([ACCOUNT.label]).values()
    assert found.orders == [] and site.tries == 4


def test_a_bad_answer_is_not_asked_again_at_once():
    calls = []

    def bad():
        calls.append(1)
        raise BadAnswer("the order list answered something else than an order list")

    with pytest.raises(BadAnswer):
        policy(FlowSettings(_env_file=None, retries=5, retry_backoff=0))(bad)
    assert len(calls) == 1


class Dated:
    """Answers every request at once with a Date header ``ahead`` of the real clock."""

    def __init__(self, ahead: dt.timedelta):
        self.ahead = ahead

    def account(self, label):
        return ACCOUNT

    def fetch(self, requests, on_answer):
        date = email.utils.format_datetime(dt.datetime.now(dt.UTC) + self.ahead, usegmt=True)
        return {label: [Response(key, 200, PAGE, date) for key, _ in asked] for label, asked in requests.items()}


@pytest.mark.parametrize(
    ("ahead", "skew", "trusted"),
    [
        (dt.timedelta(hours=23), 86_400, True),  # a site a day off is still the site
        (dt.timedelta(days=3650), float("inf"), True),  # a storefront travelling in time, trusted
        (dt.timedelta(days=3650), 86_400, False),
        (-dt.timedelta(days=2), 86_400, False),
    ],
)
def test_the_sites_clock_is_used_unless_it_is_too_far_from_this_machines(ahead, skew, trusted, caplog, monkeypatch):
    monkeypatch.setattr(reading, "_SKEWED", set())
    r = reader(Dated(ahead), max_clock_skew=skew)
    for _ in range(2):
        r.lists([ACCOUNT.label])
        expected = dt.datetime.now(dt.UTC) + (ahead if trusted else dt.timedelta(0))
        assert abs(r.site_now(ACCOUNT.label) - expected) < dt.timedelta(seconds=5)
    noted = [m for m in caplog.messages if "this machine's clock is used" in m]
    assert len(noted) == (0 if trusted else 1)  # said once, not at every answer
