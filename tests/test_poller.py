"""The poll with a fake site reader and a real database: one history row per change, no detail read
for an unchanged order, nothing sent again after a settings change, episodes, digests, outages, and
a detail read fresh before an alert."""

import datetime as dt
from decimal import Decimal

import pytest

from flows.account import Account
from flows.domain import STATUS_LABELS, Status
from flows.errors import BadAnswer, SiteUnavailable
from flows.models import OrderDetail, OrderSummary, Reading, Unreadable
from monitor import rules
from monitor.poller import Poller
from monitor.settings import MonitorSettings
from monitor.store import everywhere, open_store

FRIDAY = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
D, H = dt.timedelta(days=1), dt.timedelta(hours=1)
ACCOUNT = Account("https://shop.example", "buyer@example.com", "secret")
LABEL = ACCOUNT.label
TARGETS = [("t1", "json://receiver")]


def detail(order_id: str, status: Status, **fields) -> OrderDetail:
    return OrderDetail(
        id=order_id,
        status=status,
        status_label=STATUS_LABELS[status],
        store=fields.pop("store", "Shop"),
        total=Decimal("10.00"),
        currency="USD",
        order_date=FRIDAY.date(),
        payment_method="card",
        payment_method_label="Card",
        placed_at=FRIDAY - 10 * D,
        **fields,
    )


class FakeSite:
    """A reader of a site that shows ``orders`` at ``now``; it notes every detail asked for."""

    def __init__(self):
        self.now = FRIDAY
        self.orders: dict[str, OrderDetail] = {}
        self.asked: list[list[str]] = []
        self.failure: Exception | None = None

    def show(self, order: OrderDetail) -> OrderDetail:
        self.orders[order.id] = order
        return order

    def read(self, plans):
        if self.failure is not None:
            return dict.fromkeys(plans, self.failure)
        summaries = [OrderSummary(**o.model_dump(include=set(OrderSummary.model_fields))) for o in self.orders.values()]
        out = {}
        for label, plan in plans.items():
            wanted = plan(summaries, self.now)
            self.asked.append(sorted(wanted))
            out[label] = Reading(summaries, {i: self.orders[i] for i in wanted}, self.now)
        return out

    def order_url(self, label, order_id):
        return f"{ACCOUNT.storefront_url}/p/order/detail.html?orderId={order_id}"


@pytest.fixture
def site():
    return FakeSite()


@pytest.fixture
def store(store_target):
    store = open_store(store_target)
    yield store
    store.close()


def poller(store, site, **settings) -> Poller:
    ms = MonitorSettings(_env_file=None, db=store.name, failure_threshold=2, **settings)
    return Poller(ms, store, site, [ACCOUNT], everywhere(TARGETS))


def poll(p: Poller):
    (result,) = p.poll_all([ACCOUNT])
    return result


def alerts(store, rule=None):
    return [a for a in store.alerts() if rule is None or a["rule"] == rule]


# ---------------------------------------------------------------- what is read and written
def test_one_history_row_per_change_never_one_per_poll(store, site):
    order = site.show(detail("1", Status.AWAITING_SHIPMENT, paid_at=FRIDAY))
    p = poller(store, site)
    assert poll(p).changes == 1
    assert poll(p).changes == 0 and poll(p).changes == 0
    site.show(order.model_copy(update={"status": Status.CLOSED, "status_label": "Closed", "refund_status": "pending"}))
    assert poll(p).changes == 1
    assert [(h["status_from"], h["status_to"], h["refund_to"]) for h in store.history("1")] == [
        (None, "awaiting_shipment", "none"),
        ("awaiting_shipment", "closed", "pending"),
    ]
    assert store.counts()["polls"] == 4


def test_an_unchanged_order_is_neither_read_again_nor_written(store, site):
    site.show(detail("1", Status.AWAITING_SHIPMENT, paid_at=FRIDAY))
    site.show(detail("2", Status.CLOSED))
    p = poller(store, site)
    assert poll(p).details_read == 2
    written = store.orders()
    site.now += H
    second = poll(p)
    assert (second.details_read, site.asked[-1]) == (0, [])
    assert store.orders() == written  # not even rewritten


def test_a_change_on_the_list_alone_is_recorded_without_reading_the_detail(store, site):
    order = site.show(detail("1", Status.AWAITING_SHIPMENT, paid_at=FRIDAY))
    p = poller(store, site)
    poll(p)
    site.show(order.model_copy(update={"store": "Shop (renamed)"}))
    assert poll(p).details_read == 0
    (known,) = store.orders()
    assert known.store == "Shop (renamed)" and known.paid_at == FRIDAY  # the detail's facts kept


def test_an_order_is_read_again_when_something_may_have_come_due(store, site):
    site.show(detail("1", Status.AWAITING_CANCELLATION, paid_at=FRIDAY - D, cancel_requested_at=FRIDAY))
    p = poller(store, site)
    poll(p)
    (order,) = store.orders()
    assert order.next_due == FRIDAY + 72 * H  # the seller's answer is due
    assert order.judged_with == rules.judged_with(p.configs[LABEL])  # judged with the account's windows
    site.now = FRIDAY + 72 * H - dt.timedelta(minutes=1)
    assert poll(p).details_read == 0
    site.now = FRIDAY + 72 * H
    assert poll(p).details_read == 1  # the site may have moved it: read afresh
    site.now = FRIDAY + 73 * H
    result = poll(p)
    assert result.details_read == 1 and [a["rule"] for a in alerts(store)] == ["seller_response_overdue"]


def test_a_detail_read_fresh_before_alerting_can_call_the_alert_off(store, site):
    order = site.show(detail("1", Status.AWAITING_CANCELLATION, paid_at=FRIDAY - D, cancel_requested_at=FRIDAY))
    p = poller(store, site)
    poll(p)
    site.now = FRIDAY + 74 * H
    # The list still says Awaiting cancellation; the page now shows the seller's own, later, deadline.
    site.show(order.model_copy(update={"deadlines": {"seller_response_by": FRIDAY + 96 * H}}))
    assert poll(p).alerts == [] and alerts(store) == []
    shown = store.orders()[0].deadline("seller_response_by")
    assert (shown.at, shown.source, shown.episode) == (FRIDAY + 96 * H, "site", 0)  # first shown: no move


# ---------------------------------------------------------------- alerts: once, episodes, digests
def test_changed_window_settings_send_nothing_again(store, site):
    site.show(detail("1", Status.CLOSED, refund_status="pending", refund_started_at=FRIDAY))
    site.show(detail("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY, deadlines={"ship_by": FRIDAY + 9 * D}))
    site.now = FRIDAY + 40 * D
    assert len(poll(poller(store, site)).alerts) == 2
    changed = poller(
        store, site, refund_business_days={"card": 5}, processing_business_days=3, grace_minutes=0, remind_hours=0,
        holiday_country="DE",
    )  # fmt: skip
    site.now += dt.timedelta(minutes=30)  # before the next reminder is due
    result = poll(changed)
    assert result.alerts == [] and result.details_read == 0  # judged again from what is known
    refund = next(o for o in store.orders() if o.order_id == "1")
    assert refund.deadline("refund_expected_by").computed == dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    assert len(alerts(store)) == 2


def test_a_deadline_the_site_moves_starts_an_episode_warned_again(store, site):
    end = FRIDAY + 60 * D
    order = site.show(detail("1", Status.AWAITING_DELIVERY, shipped_at=FRIDAY, deadlines={"protection_ends": end}))
    p = poller(store, site)
    site.now = end - 14 * D
    poll(p)
    new_end = end + 15 * D
    site.show(order.model_copy(update={"deadlines": {"protection_ends": new_end}}))
    for moment in (end - 7 * D, end - 3 * D, end, new_end - 14 * D - dt.timedelta(minutes=1)):
        site.now = moment
        poll(p)  # the old end's warnings do not come; the new end's not yet
    for days in (14, 7, 3):
        site.now = new_end - days * D
        poll(p)
    rows = alerts(store, "protection_expiring")
    assert [(a["level"], a["episode"], a["superseded"]) for a in rows] == [
        ("14d", "protection_ends:0", 1),
        ("14d", "protection_ends:1", 0),
        ("7d", "protection_ends:1", 0),
        ("3d", "protection_ends:1", 0),
    ]
    assert all(a["deadline"] == new_end.isoformat() for a in rows[1:])


def test_more_new_alerts_than_the_limit_in_one_poll_go_out_as_one_digest(store, site):
    for n in range(7):
        site.show(detail(f"{n}", Status.CLOSED, refund_status="pending", refund_started_at=FRIDAY - 60 * D))
    result = poll(poller(store, site))
    assert len(result.alerts) == 7
    rows = store.alerts()
    # One notification carries them.
    assert [[d["state"] for d in store.deliveries(a["id"])] for a in rows] == [["pending"]] + [["carried"]] * 6
    assert rows[0]["url"] == site.order_url(LABEL, "0")


# ---------------------------------------------------------------- when the site fails
def test_failing_once_past_the_threshold_then_recovered_once(store, site):
    site.show(detail("1", Status.CLOSED))
    p = poller(store, site)
    poll(p)
    site.failure = SiteUnavailable("https://shop.example answered HTTP 500")
    results = [poll(p) for _ in range(4)]
    assert all(r.error for r in results) and [len(r.alerts) for r in results] == [0, 1, 0, 0]
    assert "failed 2 polls in a row" in results[1].alerts[0]
    site.failure = None
    assert "works again" in poll(p).alerts[0]
    assert poll(p).alerts == []
    assert [a["rule"] for a in alerts(store)] == ["monitor_failing", "monitor_recovered"]


def test_a_surprise_is_a_failed_poll_that_names_it(store, site):
    site.failure = ValueError("the reader's bug")
    result = poll(poller(store, site))
    assert result.error == "unexpected ValueError: the reader's bug" and store.outage(LABEL)["failures"] == 1


def test_an_account_that_cannot_be_judged_is_a_failed_poll_and_the_others_are_recorded(store, site):
    # An order the seam let through that the rules cannot judge (a year 9999 date overflows the
    # calendar) fails its account's poll, recorded and counted; the next account is polled as usual.
    other = Account("https://shop.example", "second@example.com", "secret")
    bad = detail("1", Status.AWAITING_SHIPMENT, paid_at=FRIDAY).model_copy(
        update={"paid_at": dt.datetime(9999, 12, 31, tzinfo=dt.UTC)}
    )
    good = detail("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY)

    class TwoSites(FakeSite):
        def read(self, plans):
            out = {}
            for label, plan in plans.items():
                order = bad if label == LABEL else good
                summary = OrderSummary(**order.model_dump(include=set(OrderSummary.model_fields)))
                out[label] = Reading([summary], dict.fromkeys(plan([summary], self.now), order), self.now)
            return out

    ms = MonitorSettings(_env_file=None, db=store.name, failure_threshold=1)
    p = Poller(ms, store, TwoSites(), [ACCOUNT, other], everywhere(TARGETS))
    first, second = p.poll_all([ACCOUNT, other])
    assert first.error == "unexpected ValueError: year 10000 is out of range" and "failed" in first.alerts[0]
    assert second.error is None and [o.order_id for o in store.orders(other.label)] == ["2"]
    assert store.outage(LABEL)["failures"] == 1 and store.outage(other.label) is None


class _OutOfBounds(dict):
    """Details as the reader hands them: one order's detail raises the site's bad answer when looked up."""

    def __init__(self, details, bad):
        super().__init__(details)
        self.bad = bad

    def get(self, order_id, default=None):
        if order_id == self.bad:
            raise BadAnswer("/p/order/detail.json answered something else than an order: placed_at: a date in 9999")
        return super().get(order_id, default)


def test_an_order_out_of_bounds_is_recorded_unreadable_and_the_rest_of_the_account_as_usual(store, site):
    site.show(detail("1", Status.AWAITING_SHIPMENT, paid_at=FRIDAY))
    site.show(detail("2", Status.AWAITING_SHIPMENT, paid_at=FRIDAY))
    read = site.read
    site.read = lambda plans: {
        label: r._replace(details=_OutOfBounds(r.details, "1"), unreadable=[Unreadable("77", "total: negative")])
        for label, r in read(plans).items()
    }
    result = poll(poller(store, site))
    assert (result.error, result.unreadable) == (None, 2)
    assert [o.order_id for o in store.orders()] == ["2"]
    assert [(u["order_id"], u["why"][:30]) for u in store.unreadable()] == [
        ("1", "/p/order/detail.json answered "),
        ("77", "total: negative"),
    ]
    site.read = read  # the site answers well again: nothing unreadable any more
    assert poll(poller(store, site)).unreadable == 0 and store.unreadable() == []
    assert [o.order_id for o in store.orders()] == ["1", "2"]
