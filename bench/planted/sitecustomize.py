"""Planted bugs for `python -m bench.faults --self-test` (bench/plants.py): on this folder's
PYTHONPATH, ORDERMON_BENCH_PLANT names the bug every Python process of the run carries."""

import os
from collections.abc import Callable
from typing import Any

PLANT = os.environ.get("ORDERMON_BENCH_PLANT")


def _plant(owner: type, name: str, bug: Callable[..., Any]) -> None:
    """Put ``bug`` in place of the method ``owner.name``: replacing a method is what a plant is."""
    setattr(owner, name, bug)


if PLANT == "submits_twice":  # the cancel flow sends its Submit twice
    from flows.pages import RefundPage

    _submit = RefundPage.submit

    def submit(self):
        self.submit_button.evaluate(
            "b => fetch(b.form.action, {method: 'POST', body: new FormData(b.form), credentials: 'same-origin'})"
        )
        return _submit(self)

    _plant(RefundPage, "submit", submit)

elif PLANT == "resend_after_crash":  # the outbox sends again what a crash left mid-send
    from monitor.store.sql import SqlStore

    _recover = SqlStore.recover_deliveries

    def recover_deliveries(self, configured):
        with self._writing():
            self._execute("update deliveries set state = 'pending' where state = 'sending'")
        return _recover(self, configured)

    _plant(SqlStore, "recover_deliveries", recover_deliveries)

elif PLANT == "writes_off_failures":  # a failed send is written off as uncertain, never retried
    from monitor.store.sql import SqlStore

    def mark_failed(self, alert_id, target, error, *, retry_at):
        with self._writing():
            self._execute(
                "update deliveries set state = 'uncertain', last_error = ? where alert_id = ? and target = ?",
                [error, alert_id, target],
            )

    _plant(SqlStore, "mark_failed", mark_failed)

elif PLANT == "skips_a_page":  # a poll reads the first 20 orders of the list only
    from flows.site import Site

    _orders = Site.orders

    def orders(self, pages):
        listed = _orders(self, pages)
        return listed._replace(orders=listed.orders[:20])

    _plant(Site, "orders", orders)

elif PLANT == "rule_never_fires":  # one rule is left out
    import monitor.rules

    monitor.rules.ORDER_RULES = tuple(r for r in monitor.rules.ORDER_RULES if r.id != "protection_expiring")

elif PLANT == "fires_early":  # overdue rules fire three days before their deadline
    from monitor.settings import MonitorSettings

    _rule_config = MonitorSettings.rule_config

    def rule_config(self, account=None):
        return _rule_config(self, account).model_copy(update={"grace_minutes": -3 * 24 * 60})

    _plant(MonitorSettings, "rule_config", rule_config)

elif PLANT == "holds_twice":  # what the quiet hours held goes out in its digest, and each alone again
    from monitor.store.common import iso
    from monitor.store.sql import SqlStore

    _release = SqlStore._release_held

    def _release_held(self, account, site_now):
        held = self._tuples(
            "select d.alert_id, d.target from deliveries d join alerts a on a.id = d.alert_id "
            "where a.account = ? and d.state = 'held' and d.next_attempt <= ?",
            [account, iso(site_now)],
        )
        _release(self, account, site_now)
        self._many(
            "update deliveries set state = 'pending' where alert_id = ? and target = ? and state = 'carried'", held
        )

    _plant(SqlStore, "_release_held", _release_held)

elif (
    PLANT == "reminds_after_resolution"
):  # reminders come from the alerts made, not from the orders as the site shows them now
    import monitor.rules
    from monitor.poller import Poller
    from monitor.rule import Finding
    from monitor.store.common import parse

    _judge = Poller._judge

    def _judge_(self, poll, reading):
        judged = _judge(self, poll, reading)
        label = poll.known.account
        now = judged.now
        made = [
            Finding(a["rule"], a["order_id"], parse(a["deadline"]) or now, now, a["message"], a["next_step"], "",
                    a["episode"], a["deadline_name"])
            for a in self.store.alerts(label)
            if not a["level"] and not a["superseded"] and monitor.rules.RULES[a["rule"]].judged.value == "overdue"
        ]  # fmt: skip
        reminders = monitor.rules.reminders(made, self.configs[label], poll.known.alerted)
        judged.findings += [r for r in reminders if (r.order_id, r.rule, r.level, r.episode) not in poll.known.alerted]
        return judged

    _plant(Poller, "_judge", _judge_)
