"""The SQLite database's schema, version by version: the migrations the store runs when it opens
an older database (the store and its schema are the only code that touches SQL). A migration is
frozen once released: the ``orders`` columns it leaves are ``monitor.order.Order``'s fields
(tests/test_store.py checks it)."""

from __future__ import annotations

import json

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("orders").create(
        {
            "account": str,
            "order_id": str,
            "status": str,
            "status_label": str,
            "store": str,
            "total": str,
            "currency": str,
            "order_date": str,
            "payment_method": str,
            "placed_at": str,
            "paid_at": str,
            "cancel_requested_at": str,
            "shipped_at": str,
            "closed_at": str,
            "close_reason": str,
            "cancel_reason": str,
            "refund_status": str,
            "refund_started_at": str,
            "refunded_at": str,
            "deadlines": str,
            "first_seen": str,
            "last_seen": str,
            "detail_read_at": str,
        },
        pk=("account", "order_id"),
        not_null={"status"},
    )
    db.table("history").create(
        {
            "id": int,
            "account": str,
            "order_id": str,
            "observed_at": str,
            "status_from": str,
            "status_to": str,
            "refund_from": str,
            "refund_to": str,
            "close_reason": str,
        },
        pk="id",
        foreign_keys=[(("account", "order_id"), "orders", ("account", "order_id"))],
    )
    db.table("history").create_index(["account", "order_id"])
    db.table("polls").create(
        {
            "id": int,
            "account": str,
            "started": str,
            "finished": str,
            "site_now": str,
            "orders_seen": int,
            "changes": int,
            "details_read": int,
            "alerts_created": int,
            "error": str,
        },
        pk="id",
    )
    db.table("alerts").create(
        {
            "id": int,
            "account": str,
            "order_id": str,
            "rule": str,
            "deadline": str,
            "message": str,
            "next_step": str,
            "created": str,
            "site_now": str,
        },
        pk="id",
    )
    db.table("alerts").create_index(["account", "order_id", "rule", "deadline"], unique=True)
    db.table("deliveries").create(
        {
            "alert_id": int,
            "target": str,
            "label": str,
            "state": str,
            "attempts": int,
            "last_error": str,
            "next_attempt": str,
            "delivered": str,
        },
        pk=("alert_id", "target"),
        foreign_keys=[("alert_id", "alerts", "id")],
        defaults={"state": "pending", "attempts": 0},
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Protection warnings have levels; outages are tracked for monitor_failing."""
    db.table("alerts").add_column("level", str, not_null_default="")
    db.execute("DROP INDEX IF EXISTS idx_alerts_account_order_id_rule_deadline")
    db.table("alerts").create_index(
        ["account", "order_id", "rule", "deadline", "level"], unique=True, index_name="alerts_unique"
    )
    db.table("outages").create(
        {
            "account": str,
            "since": str,
            "failures": int,
            "last_error": str,
            "alerted": int,
        },
        pk="account",
    )


OLD_DEADLINE_NAMES = {
    "unpaid_close": "pay_by",
    "payment_verification": "verification_by",
    "seller_response": "seller_response_by",
    "refund": "refund_expected_by",
    "protection_end": "protection_ends",
}


def _v3(db: sqlite_utils.Database) -> None:
    """Deadlines under the site's names; ``last_seen`` (never written) dropped."""
    for row in list(db.query("select account, order_id, deadlines from orders where deadlines is not null")):
        renamed = {OLD_DEADLINE_NAMES.get(k, k): v for k, v in json.loads(row["deadlines"]).items()}
        db.execute(
            "update orders set deadlines = ? where account = ? and order_id = ?",
            [json.dumps(renamed), row["account"], row["order_id"]],
        )
    db.table("orders").transform(drop={"last_seen"})


def _v4(db: sqlite_utils.Database) -> None:
    """The site's deadlines with their source and episode; the facts of the newer rules; alerts
    unique per episode (a deadline the site moves starts a new one), with a title, the order's
    page, whether a newer episode superseded them, and the digest that carried them."""
    for column in ("shipping_method", "completed_at", "completed_by", "refund_destination", "timeline"):
        db.table("orders").add_column(column, str)
    for row in list(db.query("select account, order_id, deadlines from orders where deadlines is not null")):
        known = {k: {"site": None, "computed": v, "episode": 0} for k, v in json.loads(row["deadlines"]).items()}
        db.execute(
            "update orders set deadlines = ? where account = ? and order_id = ?",
            [json.dumps(known), row["account"], row["order_id"]],
        )
    db.table("alerts").add_column("episode", str, not_null_default="")
    db.execute("update alerts set episode = coalesce(deadline, '')")
    for column, kind in (("deadline_name", str), ("title", str), ("url", str), ("digest_of", int)):
        db.table("alerts").add_column(column, kind)
    db.table("alerts").add_column("superseded", int, not_null_default=0)
    db.execute("DROP INDEX IF EXISTS alerts_unique")
    db.table("alerts").create_index(
        ["account", "order_id", "rule", "level", "episode"], unique=True, index_name="alerts_unique"
    )


def _v5(db: sqlite_utils.Database) -> None:
    """Each order keeps when something may next come due for it and the windows it was judged with
    (a poll needs no memory of its own between polls); a deadline the page no longer shows keeps the
    last value it showed (``last_shown``) instead of a ``shown`` flag."""
    db.table("orders").add_column("next_due", str)
    db.table("orders").add_column("judged_with", str)
    for row in list(db.query("select account, order_id, deadlines from orders where deadlines is not null")):
        tracked = {}
        for name, known in json.loads(row["deadlines"]).items():
            shown = known.get("shown", True)
            tracked[name] = {
                "site": known.get("site") if shown else None,
                "computed": known.get("computed"),
                "last_shown": known.get("site"),
                "episode": known.get("episode", 0),
            }
        db.execute(
            "update orders set deadlines = ? where account = ? and order_id = ?",
            [json.dumps(tracked, separators=(",", ":")), row["account"], row["order_id"]],
        )


def _v6(db: sqlite_utils.Database) -> None:
    """Accounts and their kept sessions in the database (a fleet's; secrets sealed, monitor/vault.py);
    when the dispatcher polls each account next."""
    db.table("accounts").create(
        {"name": str, "storefront_url": str, "email": str, "password": str, "windows": str, "added": str,
         "next_poll": str},
        pk="name", not_null={"storefront_url", "email", "password"},
    )  # fmt: skip
    db.table("sessions").create(
        {"account": str, "state": str, "saved": str},
        pk="account",
        foreign_keys=[("account", "accounts", "name")],
        not_null={"state"},
    )


def _v7(db: sqlite_utils.Database) -> None:
    """A fleet's cancels: asked by ``ordermon cancel --account``, done by a browser worker, their
    outcome kept for whoever asked (a worker's CancelResult, or its error's exit code and line)."""
    db.table("cancels").create(
        {"id": int, "account": str, "order_id": str, "reason": str, "dry_run": int, "requested": str,
         "finished": str, "code": int, "result": str, "error": str},
        pk="id", foreign_keys=[("account", "accounts", "name")],
        not_null={"account", "order_id", "reason", "requested"},
    )  # fmt: skip


def _v8(db: sqlite_utils.Database) -> None:
    """Nothing in SQLite: the eighth is an index of a fleet's queue, in PostgreSQL (the versions of
    both stores count the same)."""


def _v9(db: sqlite_utils.Database) -> None:
    """The orders of an account's last successful poll that the site answered out of bounds (a date
    in year 9999, a negative total): unreadable, with why; skipped by the rules, shown to the user."""
    db.table("unreadable").create(
        {"account": str, "order_id": str, "why": str, "seen": str}, pk=("account", "order_id"), not_null={"why"}
    )


#: Every alert a digest carried gets a delivery of its own to each target of the digest's first,
#: carried by it (the digest's first alert stays the one sent).
CARRIED_BY_DIGEST = (
    "insert into deliveries (alert_id, target, label, state, attempts, last_error, next_attempt, delivered, "
    "carried_by) select a.id, d.target, d.label, d.state, d.attempts, d.last_error, d.next_attempt, d.delivered, "
    "a.digest_of from alerts a join deliveries d on d.alert_id = a.digest_of where a.id != a.digest_of"
)


def _v10(db: sqlite_utils.Database) -> None:
    """A delivery may carry others to its target (a digest per target, not per alert: routing sends
    an account's alerts to different targets): ``carried_by``; ``alerts.digest_of`` becomes that."""
    db.table("deliveries").add_column("carried_by", int)
    db.execute(CARRIED_BY_DIGEST)
    db.table("alerts").transform(drop={"digest_of"})


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10}
SCHEMA_VERSION = max(MIGRATIONS)


TABLES = frozenset(
    {"orders", "history", "polls", "alerts", "deliveries", "outages", "accounts", "sessions", "cancels", "unreadable"}
)
