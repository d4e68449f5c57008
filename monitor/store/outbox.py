"""The outbox, in the SQL both stores read: a poll's new alerts and a delivery for each target
the router chooses (held through the quiet hours, or due, a digest's carried by its first), and
every step of a delivery after (monitor/alerts.py sends them: what ``SqlStore`` adds for alerts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ..rules import Finding
from .common import DROPPED, UNCERTAIN, NewAlert, Route, Statements, iso

#: Every state a delivery can be in (the outbox's transitions: monitor/alerts.py). ``held``: until the quiet
#: hours end; ``carried``: in another alert's notification to its target (a digest), whose state it follows.
DELIVERY_STATES = ("pending", "held", "carried", "sending", "delivered", "failed", "uncertain", "dropped")
#: A delivery and those it carries (``?``: its alert id, twice, then its target).
_CARRIED = "(alert_id = ? or carried_by = ?) and target = ?"
_ALERT = [
    "account", "order_id", "rule", "level", "episode", "deadline", "deadline_name", "title", "message", "next_step",
    "url", "created", "site_now",
]  # fmt: skip
_INSERT_ALERT = (
    f"insert into alerts ({', '.join(_ALERT)}) values ({', '.join('?' * len(_ALERT))}) "
    "on conflict (account, order_id, rule, level, episode) do nothing returning id"
)


class Outbox(Statements):
    """The outbox's queries."""

    def _add_alerts(
        self,
        account: str,
        findings: Iterable[Finding],
        site_now: dt.datetime | None,
        route: Route,
        urls: dict[str, str] | None = None,
        digest_over: int | None = None,
    ) -> list[NewAlert]:
        """New alerts (ones already recorded are ignored), and a delivery for each target ``route``
        chooses: held until the quiet hours end, or due now; more than ``digest_over`` of them to
        one target (more than one reminder) carried by the first of them."""
        created = []
        due: dict[tuple[str, str, bool], list[int]] = {}  # (target, label, reminders) -> alert ids
        rows = []
        now = iso(dt.datetime.now(dt.UTC))
        for f in findings:
            url = (urls or {}).get(f.order_id)
            values = [account, f.order_id, f.rule, f.level, f.episode, iso(f.deadline), f.deadline_name, f.title,
                      f.message, f.next_step, url, now, iso(site_now or f.now)]  # fmt: skip
            for (alert_id,) in self._tuples(_INSERT_ALERT, values):
                created.append(NewAlert(alert_id, f.message))
                for d in route(account, f, site_now or f.now):
                    if d.held_until is not None:
                        rows.append([alert_id, d.target, d.label, "held", iso(d.held_until), None])
                    else:
                        due.setdefault((d.target, d.label, f.reminder > 0), []).append(alert_id)
        carriers = []
        for (target, label, reminders), ids in due.items():
            together = len(ids) > (1 if reminders else digest_over if digest_over is not None else len(ids))
            rows += [[i, target, label, "carried" if together and i != ids[0] else "pending", now,
                      ids[0] if together and i != ids[0] else None] for i in ids]  # fmt: skip
            carriers += [(ids[0], target)] if together else [(i, target) for i in ids]
        self._many(
            "insert into deliveries (alert_id, target, label, state, attempts, next_attempt, carried_by) "
            "values (?, ?, ?, ?, 0, ?, ?)",
            rows,
        )
        self._deliveries_added(carriers)
        return created

    def _release_held(self, account: str, site_now: dt.datetime) -> None:
        """The account's deliveries held until ``site_now`` (the site's clock, as every rule's) or
        before, due now: one notification per target, the first carrying the others."""
        held = self._tuples(
            "select d.alert_id, d.target from deliveries d join alerts a on a.id = d.alert_id "
            "where a.account = ? and d.state = 'held' and d.next_attempt <= ? order by d.alert_id",
            [account, iso(site_now)],
        )
        first: dict[str, int] = {}
        now = iso(dt.datetime.now(dt.UTC))
        for alert_id, target in held:
            carrier = first.setdefault(target, alert_id)
            self._execute(
                "update deliveries set state = ?, next_attempt = ?, carried_by = ? where alert_id = ? and target = ?",
                ["pending" if carrier == alert_id else "carried", now, None if carrier == alert_id else carrier,
                 alert_id, target],
            )  # fmt: skip
        self._deliveries_added([(alert_id, target) for target, alert_id in first.items()])

    def _deliveries_added(self, deliveries: list[tuple[int, str]]) -> None:
        """In the transaction that added them: a store whose workers deliver defers their jobs here."""

    # ---------------------------------------------------------------- the outbox
    def recover_deliveries(self, configured: Iterable[str]) -> dict[str, int]:
        """On open: deliveries a crash left ``sending`` become ``uncertain`` (never resent);
        pending ones to targets no longer configured are ``dropped``."""
        configured = list(configured)
        with self._writing():
            uncertain = self._execute(
                "update deliveries set state = 'uncertain', last_error = ? where state = 'sending'", [UNCERTAIN]
            )
            kept = f" and target not in ({','.join('?' * len(configured))})" if configured else ""
            dropped = self._execute(
                f"update deliveries set state = 'dropped', last_error = ? "
                f"where state in ('pending', 'held', 'carried'){kept}",
                [DROPPED, *configured],
            )
        return {"uncertain": uncertain, "dropped": dropped}

    _DELIVERY = (
        "select d.alert_id, d.target, d.attempts, d.state, a.rule, a.level, a.order_id, a.message, a.account, "
        "a.title, a.url, (select count(*) from deliveries c where c.carried_by = d.alert_id and c.target = d.target) "
        "as carries from deliveries d join alerts a on a.id = d.alert_id "
    )

    def due_deliveries(self, now: dt.datetime) -> list[dict[str, Any]]:
        return self._rows(
            f"{self._DELIVERY}where d.state = 'pending' and (d.next_attempt is null or d.next_attempt <= ?) "
            "order by d.alert_id",
            [iso(now)],
        )

    def delivery(self, alert_id: int, target: str) -> dict[str, Any] | None:
        """One delivery with its alert, as ``due_deliveries`` gives each, and its state."""
        rows = self._rows(f"{self._DELIVERY}where d.alert_id = ? and d.target = ?", [alert_id, target])
        return rows[0] if rows else None

    def carried(self, alert_id: int, target: str) -> list[dict[str, Any]]:
        """The alerts one notification to ``target`` carries: its own and those it carries, in order."""
        return self._rows(
            "select a.* from alerts a join deliveries d on d.alert_id = a.id "
            "where (d.alert_id = ? or d.carried_by = ?) and d.target = ? order by a.id",
            [alert_id, alert_id, target],
        )

    def mark_uncertain(self, alert_id: int, target: str) -> None:
        """A delivery whose sender died mid-send (and those it carried): never sent again."""
        with self._writing():
            self._execute(
                f"update deliveries set state = 'uncertain', last_error = ? where {_CARRIED} and state = 'sending'",
                [UNCERTAIN, alert_id, alert_id, target],
            )

    def mark_sending(self, alert_id: int, target: str, attempts: int) -> None:
        """Committed before the target is called: a crash from here on leaves ``sending``."""
        with self._writing():
            self._execute(
                f"update deliveries set state = 'sending', attempts = ? where {_CARRIED}",
                [attempts, alert_id, alert_id, target],
            )

    def mark_delivered(self, alert_id: int, target: str) -> None:
        with self._writing():
            self._execute(
                f"update deliveries set state = 'delivered', delivered = ?, last_error = null where {_CARRIED}",
                [iso(dt.datetime.now(dt.UTC)), alert_id, alert_id, target],
            )

    def mark_failed(self, alert_id: int, target: str, error: str, *, retry_at: dt.datetime | None) -> None:
        """A failed attempt: pending again until ``retry_at`` (what it carries, carried again), or
        ``failed`` for good (no retry_at)."""
        with self._writing():
            self._execute(
                f"update deliveries set state = case when alert_id = ? then ? else ? end, last_error = ?, "
                f"next_attempt = ? where {_CARRIED}",
                [alert_id, "pending" if retry_at else "failed", "carried" if retry_at else "failed", error,
                 iso(retry_at), alert_id, alert_id, target],
            )  # fmt: skip
