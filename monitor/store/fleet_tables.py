"""A fleet's tables, in the SQL both stores read: its accounts and their kept sessions, when each
is polled next, and the cancels asked of its browser workers (what ``SqlStore`` adds for a fleet)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .common import AccountExists, Statements, StoreError, iso


class FleetTables(Statements):
    """The fleet's queries."""

    name: str

    # ---------------------------------------------------------------- accounts (a fleet's)
    def add_account(self, name: str, *, storefront_url: str, email: str, password: str, windows: str) -> None:
        """A new account (``password`` sealed, ``windows`` its own as JSON); one by that name is an error."""
        with self._writing():
            if self._tuples("select 1 from accounts where name = ?", [name]):
                raise AccountExists(f"an account named {name!r} is already in {self.name}")
            self._execute(
                "insert into accounts (name, storefront_url, email, password, windows, added) "
                "values (?, ?, ?, ?, ?, ?)",
                [name, storefront_url, email, password, windows, iso(dt.datetime.now(dt.UTC))],
            )

    def accounts(self) -> list[dict[str, Any]]:
        return self._rows("select * from accounts order by name")

    def account(self, name: str) -> dict[str, Any]:
        rows = self._rows("select * from accounts where name = ?", [name])
        if not rows:
            raise StoreError(f"no account named {name!r} in {self.name}")
        return rows[0]

    def remove_account(self, name: str) -> None:
        """The account and its kept session, gone (what was recorded of its orders stays)."""
        with self._writing():
            self._execute("delete from sessions where account = ?", [name])
            self._execute("delete from cancels where account = ?", [name])
            if not self._execute("delete from accounts where name = ?", [name]):
                raise StoreError(f"no account named {name!r} in {self.name}")

    def schedule_poll(self, name: str, at: dt.datetime) -> None:
        with self._writing():
            self._execute("update accounts set next_poll = ? where name = ?", [iso(at), name])

    def session(self, account: str) -> str | None:
        """The account's kept session, sealed."""
        rows = self._tuples("select state from sessions where account = ?", [account])
        return rows[0][0] if rows else None

    def save_session(self, account: str, sealed: str) -> None:
        with self._writing():
            self._execute(
                "insert into sessions (account, state, saved) values (?, ?, ?) "
                "on conflict (account) do update set state = excluded.state, saved = excluded.saved",
                [account, sealed, iso(dt.datetime.now(dt.UTC))],
            )

    # ---------------------------------------------------------------- cancels (a fleet's)
    def request_cancel(self, account: str, order_id: str, reason: str, *, dry_run: bool) -> int:
        """A cancel asked of the fleet; its id. (PostgresStore queues the worker's job with it.)"""
        with self._writing():
            self.account(account)  # one that is not there: said now
            ((request,),) = self._tuples(
                "insert into cancels (account, order_id, reason, dry_run, requested) values (?, ?, ?, ?, ?) "
                "returning id",
                [account, order_id, reason, int(dry_run), iso(dt.datetime.now(dt.UTC))],
            )
            self._cancel_requested(int(request), account)
        return int(request)

    def _cancel_requested(self, request: int, account: str) -> None:
        """Nothing runs it here (PostgresStore: a job for a browser worker, in the same transaction)."""

    def cancel_request(self, request: int) -> dict[str, Any] | None:
        rows = self._rows("select * from cancels where id = ?", [request])
        return rows[0] if rows else None

    def finish_cancel(self, request: int, *, code: int, result: str | None = None, error: str | None = None) -> None:
        """A cancel's outcome: the CancelResult as JSON, or its error's exit code and line."""
        with self._writing():
            self._execute(
                "update cancels set finished = ?, code = ?, result = ?, error = ? where id = ?",
                [iso(dt.datetime.now(dt.UTC)), code, result, error, request],
            )
