"""Delivering the alert outbox through Apprise, one delivery row per alert and target.

Each delivery is marked ``sending`` (committed) before Apprise is called and
``delivered`` after. A crash between the two leaves ``sending``: on restart it
becomes ``uncertain`` and is not sent again, so no target ever gets an alert
twice; ``ordermon alerts`` shows it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flows.errors import SettingsError

from .deadlines import label, relative
from .redact import SCHEME, describe_target, scrub
from .rule import REMINDER, REMINDER_TITLE
from .store import Routed, Store

if TYPE_CHECKING:
    from .routing import Router
    from .rule import Finding

log = logging.getLogger("ordermon.alerts")

MAX_BACKOFF = 3600.0


#: No overall timeout of Apprise's own: each target is then sent to in the delivery thread itself,
#: bounded by its plugin's connect and read timeouts (Apprise's ``cto``/``rto``), and not in Apprise's
#: worker pool, which a process forked after a delivery (a pre-forking parent, a mutation-testing
#: worker) would inherit without its threads.
SERVICE_TIMEOUT = 0


def target_key(url: str) -> str:
    """A stable key for an Apprise URL that reveals none of its secrets."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def delivery_schemes(urls: Iterable[str]) -> list[str]:
    """The schemes of these Apprise URLs (``json://``, ``ntfy://``), each once, in order: nothing
    past the scheme, so no host, token or password."""
    schemes = []
    for url in urls:
        found = SCHEME.match(url)
        scheme = f"{found.group(1).lower()}://" if found else "(unrecognised URL)"
        if scheme not in schemes:
            schemes.append(scheme)
    return schemes


class Notifier:
    def __init__(self, targets: Router | list[str], *, backoff: float = 30, max_attempts: int = 8):
        """``targets``: where alerts go (a Router: ``MonitorSettings.router()``), or URLs that get
        every alert."""
        from .routing import Router, Target

        self.backoff = backoff
        self.max_attempts = max_attempts
        self.router = targets if isinstance(targets, Router) else Router([Target(url) for url in targets])
        self._apprise: dict[str, Any] = {}  # an Apprise per target
        self._labels: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        if self.router.targets:  # Apprise is large: loaded only where a target is given
            from ._apprise import apprise, captured
        for target in self.router.targets:
            url, key = target.url, target.key
            if key in self._apprise:  # one target for several accounts
                continue
            instance = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=SERVICE_TIMEOUT))
            with captured(logging.DEBUG):  # its warnings may quote the URL
                added = instance.add(url)
            if not added:
                raise SettingsError(f"bad setting ORDERMON_ALERT_URLS: cannot use {describe_target(url)}")
            self._apprise[key] = instance
            self._labels[key] = target.label
            self._urls[key] = url

    def route(self, account: str, finding: Finding, now: dt.datetime) -> list[Routed]:
        """Where and when the account's finding goes (the store's Route)."""
        return self.router.route(account, finding, now)

    def targets(self) -> list[tuple[str, str]]:
        return list(self._labels.items())

    def recover(self, store: Store) -> dict[str, int]:
        """Deliveries a crash interrupted mid-send are never resent; targets no longer
        configured cannot be reached (only their hash is stored)."""
        return store.recover_deliveries(self._apprise)

    def deliver_due(
        self, store: Store, now: dt.datetime | None = None, *, stop: Callable[[], bool] = lambda: False
    ) -> dict[str, int]:
        """Send every delivery due at ``now``, one after the other; ``stop()`` true ends the pass
        before the next one (those left stay due)."""
        now = now or dt.datetime.now(dt.UTC)
        counts = {"delivered": 0, "failed": 0}
        for row in store.due_deliveries(now):
            if stop():
                break
            if row["target"] not in self._apprise:
                continue
            delivered, _ = self.send(store, row)
            counts["delivered" if delivered else "failed"] += 1
        return counts

    def deliver_one(self, store: Store, alert_id: int, target: str) -> dt.datetime | None:
        """One delivery (a fleet's job): sent if it is pending; marked uncertain, never sent again, if an
        earlier attempt died mid-send. When to try again after a failure (None: not again)."""
        row = store.delivery(alert_id, target)
        if row is None or target not in self._apprise:
            return None
        if row["state"] == "sending":  # the worker sending it died: it may or may not have gone
            store.mark_uncertain(alert_id, target)
            return None
        if row["state"] != "pending":
            return None
        return self.send(store, row)[1]

    def send(self, store: Store, row: dict) -> tuple[bool, dt.datetime | None]:
        """Send one due delivery (``row`` as ``Store.due_deliveries`` gives it), marked ``sending``
        first: whether it was delivered, and when to try again if not (None: not again)."""
        attempts = row["attempts"] + 1
        title, body = compose(row, store.carried(row["alert_id"], row["target"]) if row["carries"] else [])
        store.mark_sending(row["alert_id"], row["target"], attempts)
        error = self._send(self._apprise[row["target"]], title, body)
        if error is None:
            store.mark_delivered(row["alert_id"], row["target"])
            return True, None
        # An error text must not carry the URL's token or password.
        error = scrub(error, [self._urls[row["target"]]])
        delay = min(self.backoff * 2 ** (attempts - 1), MAX_BACKOFF)
        retry_at = None if attempts >= self.max_attempts else dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        store.mark_failed(row["alert_id"], row["target"], error, retry_at=retry_at)
        return False, retry_at

    @staticmethod
    def _send(instance: Any, title: str, body: str) -> str | None:
        """None when the target took the notification, else why not: Apprise's last warning."""
        from apprise import NotifyFormat

        from ._apprise import captured

        with captured(logging.WARNING) as log:
            try:
                # Plain text, said so: a target that renders HTML (e-mail, Telegram) gets it escaped,
                # so a store's name or a refund destination from the site can carry no live link.
                if instance.notify(title=title, body=body, body_format=NotifyFormat.TEXT):
                    return None
            except Exception as exc:  # a plugin's bug must not stop the monitor
                return f"{type(exc).__name__}: {exc}"[:300]
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        return (lines[-1] if lines else "delivery failed")[:300]


def compose(row: dict, carried: list[dict]) -> tuple[str, str]:
    """A notification's title and body: one alert, or the alerts it carries (a digest: the new alerts
    of a poll, its reminders, what the quiet hours held), one line each. The alerts' ids close the
    body: a receiver can tell a resend (there should be none)."""
    if carried:  # a digest: its own alert and at least one more
        reminders = all(a["level"].startswith(REMINDER) for a in carried)
        orders = len({a["order_id"] for a in carried})
        title = (
            f"{REMINDER_TITLE}{orders} order{'s' * (orders != 1)} of {row['account']}"
            if reminders
            else f"{len(carried)} new alerts for {row['account']}"
        )
        lines = []
        for a in carried:
            # Every alert has a deadline and the site's time it was found at (a failed poll's: ordermon's).
            when = relative(dt.datetime.fromisoformat(a["deadline"]), dt.datetime.fromisoformat(a["site_now"]))
            level = f" ({a['level']})" if a["level"] else ""  # which warning, which reminder
            lines.append(
                f"- {a['order_id'] or a['account']}: {a['title']}{level}; {label(a['deadline_name'] or 'Deadline')} "
                f"{a['deadline'][:16].replace('T', ' ')} UTC ({when}). Next step: {a['next_step']}"
            )
        ids = ", ".join(f"#{a['id']}" for a in carried)
        return title, "\n".join(lines) + f"\n\n(ordermon alerts {ids})"
    title = f"{row['title']} \N{EM DASH} order {row['order_id']}" if row["order_id"] else row["title"]
    page = f"\n\nOrder page: {row['url']}" if row["url"] else ""
    return title, f"{row['message']}{page}\n\n(ordermon alert #{row['alert_id']})"
