"""The one reader of the site's JSON: the orders list (every page) and orders' details, for every
account at once, over any transport (HTTP with the browser's cookies, or the signed-in page's own
fetch).

A read goes in stages, each one batch of requests for every account at once:
the list's first page (it says how many there are), its other pages, then the
details a planner asks for once it has seen the list. Each stage is where the
site's answers are handled, once for every transport: the site's clock (its
Date header), a new sign-in when the site asks for one (then the same requests
once more), and the retry policy (flows/retry.py) for the requests that got no
answer or a server error. The paths and the JSON are the ``Site``'s.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from .account import Account
from .domain import Tab
from .errors import FlowError, ListChanged, SignInFailed, SiteUnavailable, first_line
from .models import Listed, OrderDetail, OrderSummary, Planner, Reading
from .retry import policy
from .settings import FlowSettings
from .site import SITE, Response, Site

log = logging.getLogger("ordermon.flows")

Request = tuple[str, str]  # (key, path)
Progress = Callable[[str, int, int, str], None]  # (account, done, total, what: "pages" or "details")
OnAnswer = Callable[[str], None]  # a transport calls it with the account's label for every answer

#: After a stage's first try that left requests without an answer, the stage tries again only
#: while a try could still end within this many timeouts more: a site too slow every time ends a
#: stage within about three timeouts, however many retries are set (and a long first try of a big
#: account, its answers coming, is not counted against it).
RETRY_TIMEOUTS = 2
#: The most of one answer a transport reads: a page of the list (100 orders) is ~40 KB, an order's
#: detail ~3 KB. Past it the answer counts as none (the site unavailable), read no further.
MAX_ANSWER = 8 * 2**20


#: The sites whose clock was found too far from this machine's, each said once per process.
_SKEWED: set[str] = set()


def too_big() -> str:
    return f"an answer of more than {MAX_ANSWER // 2**20} MiB (not read further)"


class Transport(Protocol):
    """How requests reach the site for each account (by label)."""

    def account(self, label: str) -> Account: ...

    def fetch(self, requests: dict[str, list[Request]], on_answer: OnAnswer) -> dict[str, list[Response] | Exception]:
        """GET every request of every account at once: each account's answers in the order asked
        (no answer at all: status 0), or the error that stopped all of its requests."""
        ...

    def sign_in(self, label: str) -> None:
        """Sign the account in again; the requests that follow carry the new session."""
        ...


class SiteReader:
    def __init__(
        self, settings: FlowSettings, transport: Transport, *, site: Site = SITE, progress: Progress | None = None
    ):
        self.settings = settings
        self.transport = transport
        self.site = site
        self.progress = progress
        self.clock: dict[str, dt.datetime] = {}

    def site_now(self, label: str) -> dt.datetime | None:
        """The site's own time at its last answer to the account."""
        return self.clock.get(label)

    def note_clock(self, label: str, said: dt.datetime) -> None:
        """The site's clock at an answer, unless it is further from this machine's than
        ``max_clock_skew``: then this machine's (said once per site), so that a site's clock set
        years ahead makes no deadline pass."""
        mine = dt.datetime.now(dt.UTC)
        skew = abs((said - mine).total_seconds())
        if skew <= self.settings.max_clock_skew:
            self.clock[label] = said
            return
        self.clock[label] = mine
        if (site := self.transport.account(label).storefront_url) not in _SKEWED:
            _SKEWED.add(site)
            log.warning(
                "%s: the site's clock says %s, %.1f days from this machine's: this machine's clock is used"
                " (ORDERMON_MAX_CLOCK_SKEW)",
                site,
                f"{said:%Y-%m-%d %H:%M:%S} UTC",
                skew / 86_400,
            )

    def order_url(self, label: str, order_id: str) -> str:
        return self.transport.account(label).storefront_url + self.site.order_page(order_id)

    # ---------------------------------------------------------------- reads
    def read(self, plans: dict[str, Planner], tab: Tab = Tab.ALL) -> dict[str, Reading | Exception]:
        """Every account's list; then, once each planner has seen its account's list (at the
        site's time), the details it asks for."""
        lists = self.lists(list(plans), tab)
        wanted = {
            label: plans[label](found.orders, self.site_now(label) or dt.datetime.now(dt.UTC))
            for label, found in lists.items()
            if not isinstance(found, Exception)
        }
        details = self.details(wanted)
        out: dict[str, Reading | Exception] = {}
        for label, found in lists.items():
            got: Mapping[str, OrderDetail] | Exception = details.get(label, {})
            if isinstance(found, Exception):
                out[label] = found
            elif isinstance(got, Exception):
                out[label] = got
            else:
                out[label] = Reading(found.orders, got, self.site_now(label), found.unreadable)
        return out

    def lists(self, labels: list[str], tab: Tab = Tab.ALL) -> dict[str, Listed | Exception]:
        """Every page of each account's list (read once more where it changed meanwhile)."""
        found = self._lists(labels, tab)
        changed = [label for label, result in found.items() if isinstance(result, ListChanged)]
        return found | (self._lists(changed, tab) if changed else {})

    def _lists(self, labels: list[str], tab: Tab) -> dict[str, Listed | Exception]:
        out: dict[str, Listed | Exception] = {}
        firsts = self._get({label: [("1", self.site.list_json(tab, 1))] for label in labels}, "pages")
        pages: dict[str, int] = {}
        for label, answers in firsts.items():
            try:
                pages[label] = self.site.pages(_answered(answers)[0], most=self.settings.max_orders)
            except FlowError as exc:
                out[label] = exc
        rest = self._get(
            {label: [(str(p), self.site.list_json(tab, p)) for p in range(2, n + 1)] for label, n in pages.items()},
            "pages",
            done=1,
        )
        for label in pages:
            try:
                out[label] = self.site.orders([_answered(firsts[label])[0], *_answered(rest[label])])
            except FlowError as exc:
                out[label] = exc
        return out

    def details(self, wanted: dict[str, list[str]]) -> dict[str, Details | Exception]:
        """Each account's wanted orders' details, by order id (typed as each is taken)."""
        answers = self._get(
            {label: [(i, self.site.detail_json(i)) for i in ids] for label, ids in wanted.items() if ids}, "details"
        )
        out: dict[str, Details | Exception] = {}
        for label, found in answers.items():
            try:
                out[label] = Details(_answered(found), self.site)
            except FlowError as exc:
                out[label] = exc
        return out

    def check(self, label: str) -> None:
        """Whether the account's session is still good (signing in again if not): one small read."""
        _answered(self._get({label: [("1", self.site.list_json(Tab.ALL, 1, size=1))]}, "pages")[label])

    # ---------------------------------------------------------------- one stage
    def _get(
        self, requests: dict[str, list[Request]], what: str, done: int = 0
    ) -> dict[str, list[Response] | Exception]:
        """Every account's requests at once: the clock noted, a new sign-in where the site asks
        (the same requests once more), and the retry policy for those without an answer (within
        ``RETRY_TIMEOUTS`` timeouts of the first try that left some)."""
        stage = _Stage(self, requests, what, done)
        try:
            policy(self.settings, until=lambda: stage.until)(stage.attempt)
        except SiteUnavailable:
            stage.failed |= {label: stage.down[label] for label in stage.pending}
        return {
            label: stage.failed[label] if label in stage.failed else [stage.answered[label][key] for key, _ in asked]
            for label, asked in requests.items()
        }


class Details(Mapping[str, OrderDetail]):
    """Orders' details as the site answered them, each typed by the ``Site`` when looked up (and not
    kept): a read of thousands never holds thousands of typed details at once. A detail the site
    answered badly raises its error (``UnexpectedPage``, ``OrderNotFound``) when looked up."""

    def __init__(self, answers: list[Response], site: Site):
        self._answers = {answer.key: answer for answer in answers}
        self._site = site

    def __getitem__(self, order_id: str) -> OrderDetail:
        return self._site.detail(self._answers[order_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._answers)

    def __len__(self) -> int:
        return len(self._answers)


class _Stage:
    """One batch of requests in flight, across its tries."""

    def __init__(self, reader: SiteReader, requests: dict[str, list[Request]], what: str, done: int):
        self.reader, self.transport, self.site, self.what = reader, reader.transport, reader.site, what
        self.pending = {label: list(asked) for label, asked in requests.items() if asked}
        self.answered: dict[str, dict[str, Response]] = {label: {} for label in requests}
        self.failed: dict[str, Exception] = {}
        self.down: dict[str, SiteUnavailable] = {}  # why an account's requests are still pending
        self.signed_in: set[str] = set()
        self.counts = dict.fromkeys(requests, done)
        self.until: float | None = None  # no try starts that could end later (set at the first failure)
        self.totals = {label: done + len(asked) for label, asked in requests.items()}

    def attempt(self) -> None:
        if not self.pending:
            return  # nothing asked (an account's list of one page has no other pages)
        self.pending = self._once(self.pending)
        if self.pending:
            if self.until is None:
                self.until = time.monotonic() + RETRY_TIMEOUTS * self.reader.settings.timeout
            raise self.down[next(iter(self.pending))]

    def on_answer(self, label: str) -> None:
        self.counts[label] += 1
        done, total, progress = self.counts[label], self.totals[label], self.reader.progress
        if progress and (self.what == "pages" or done % 100 == 0 or done == total):
            progress(label, done, total, self.what)

    def _once(self, pending: dict[str, list[Request]]) -> dict[str, list[Request]]:
        """One try of the pending requests; those still without an answer (the site unavailable)."""
        again: dict[str, list[Request]] = {}
        expired: dict[str, list[Request]] = {}
        for label, found in self.transport.fetch(pending, self.on_answer).items():
            if isinstance(found, SiteUnavailable):
                again[label], self.down[label] = pending[label], found
                continue
            if isinstance(found, Exception):
                self.failed[label] = found
                continue
            for request, response in zip(pending[label], found, strict=True):
                if (now := self.site.clock(response)) is not None:
                    self.reader.note_clock(label, now)
                if self.site.signed_out(response):
                    expired.setdefault(label, []).append(request)
                elif self.site.unavailable(response):
                    again.setdefault(label, []).append(request)
                    self.down[label] = self._why(label, request, response)
                else:
                    self.answered[label][request[0]] = response
        for label, asked in expired.items():
            if label in self.signed_in:
                self.failed[label] = SignInFailed("signed in, but the site still says not signed in")
                continue
            self.signed_in.add(label)
            try:
                self.transport.sign_in(label)
            except FlowError as exc:
                self.failed[label] = exc
                continue
            for other, left in self._once({label: asked}).items():
                again.setdefault(other, []).extend(left)
        return {label: asked for label, asked in again.items() if label not in self.failed}

    def _why(self, label: str, request: Request, response: Response) -> SiteUnavailable:
        account = self.transport.account(label)
        where = account.storefront_url
        if response.status == 0:
            via = f" through its proxy {account.proxy_label}" if account.proxy else ""
            return SiteUnavailable(f"{where} unavailable{via}: {first_line(response.text) or 'no answer'}")
        return SiteUnavailable(f"{where}{request[1].split('?')[0]} answered HTTP {response.status}")


def listed_orders(listed: Listed) -> list[OrderSummary]:
    """The list's orders, for a command that shows them; one the site answered out of bounds is
    said (a warning), not listed."""
    for order in listed.unreadable:
        log.warning("order %s of the list is unreadable: %s", order.order_id, order.why)
    return listed.orders


def _answered(found: list[Response] | Exception) -> list[Response]:
    if isinstance(found, Exception):
        raise found
    return found
