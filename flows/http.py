"""Reading the site's JSON over plain HTTP, with the session the browser signed in.

The browser signs in (untraced) and keeps its cookies in the storage state
(flows/account.py); these read the same JSON the orders page fetches with
httpx: every page of every account at once, keep-alive, each request retried
while the site answers 5xx or not at all. A session the site no longer knows (a
401, or a redirect to sign-in) is handed back to the browser to sign in again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import email.utils
import functools
import http.cookiejar
import json
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from .account import Account, StateFile
from .domain import Tab
from .errors import (
    FlowError,
    ListChanged,
    SignInFailed,
    SiteUnavailable,
    UnexpectedPage,
    check_available,
    first_line,
)
from .models import OrderDetail, OrderSummary, Planner, Reading
from .orders import (
    DETAIL_JSON,
    PAGE_SIZE,
    detail_page,
    details_from_responses,
    list_prefix,
    orders_from_pages,
    read_planned,
)
from .retry import backoffs
from .settings import FlowSettings

CONCURRENCY = 8  # connections per account: a careful script's share of a site
SignIn = Callable[[Account], None]
Progress = Callable[[str, int, int, str], None]  # (account, done, total, what: pages or details)


class SessionExpired(FlowError):
    """The site asks to sign in again."""


# ---------------------------------------------------------------------- cookies
def _to_cookie(c: dict) -> http.cookiejar.Cookie:
    domain = c["domain"]
    if "." not in domain.lstrip("."):  # the standard library files a dotless host as "<host>.local"
        domain += ".local"
    expires = c.get("expires", -1)
    rest = {"HttpOnly": None} if c.get("httpOnly") else {}
    if c.get("sameSite"):
        rest["SameSite"] = c["sameSite"]
    return http.cookiejar.Cookie(
        0,
        c["name"],
        c["value"],
        None,
        False,
        domain,
        domain.startswith("."),
        domain.startswith("."),
        c.get("path", "/"),
        True,
        bool(c.get("secure")),
        None if expires is None or expires < 0 else int(expires),
        expires is None or expires < 0,
        None,
        None,
        rest,
    )


def _from_cookie(k: http.cookiejar.Cookie) -> dict:
    return {
        "name": k.name,
        "value": k.value,
        "domain": k.domain.removesuffix(".local"),
        "path": k.path,
        "expires": float(k.expires) if k.expires is not None else -1,
        "httpOnly": k.has_nonstandard_attr("HttpOnly"),
        "secure": bool(k.secure),
        "sameSite": k.get_nonstandard_attr("SameSite") or "Lax",
    }


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every client: loading the certificates costs ~60 ms a client."""
    return httpx.create_ssl_context()


class HttpAccount:
    """One account over HTTP: its cookies (from the kept storage state) and the site's clock."""

    def __init__(self, settings: FlowSettings, account: Account):
        self.settings = settings
        self.account = account
        self.state_file = StateFile(settings, account)
        self.site_now: dt.datetime | None = None
        self.reload()

    def reload(self) -> None:
        """The cookies as the storage state holds them (after a sign-in)."""
        self._state = self.state_file.load() or {"cookies": [], "origins": []}
        self.jar = http.cookiejar.CookieJar()
        for cookie in self._state["cookies"]:
            self.jar.set_cookie(_to_cookie(cookie))
        self._kept = sorted((c["name"], c["value"]) for c in self._state["cookies"])

    def keep(self) -> None:
        """Cookies the site set meanwhile (a rotated session) go back to the storage state."""
        cookies = [_from_cookie(k) for k in self.jar]
        if sorted((c["name"], c["value"]) for c in cookies) != self._kept:
            self.state_file.save(self._state | {"cookies": cookies})
            self._kept = sorted((c["name"], c["value"]) for c in cookies)

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        return httpx.AsyncClient(
            base_url=self.account.storefront_url,
            cookies=self.jar,
            limits=limits,
            timeout=self.settings.timeout,
            follow_redirects=False,
            verify=tls(),
            headers={"Accept": "application/json"},
        )

    async def get(self, client: httpx.AsyncClient, url: str, key: str = "") -> dict[str, Any]:
        """One JSON answer as ``{key, status, text}``, retried while the site is unavailable."""
        async with self._slots():  # thousands queued on httpx's pool would cost it quadratic time
            return await self._get(client, url, key)

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if getattr(self, "_slots_loop", None) is not loop:
            self._slots_loop, self._semaphore = loop, asyncio.Semaphore(CONCURRENCY)
        return self._semaphore

    async def _get(self, client: httpx.AsyncClient, url: str, key: str) -> dict[str, Any]:
        delays = backoffs(self.settings)
        while True:
            try:
                response = await client.get(url)
            except httpx.TransportError as exc:
                failure: FlowError = SiteUnavailable(f"{self.account.storefront_url} unavailable: {first_line(exc)}")
            else:
                self._note_site_time(response.headers.get("date"))
                if response.status_code == 401 or (
                    response.is_redirect and "/login" in response.headers.get("location", "")
                ):
                    raise SessionExpired("the site asks to sign in again")
                try:
                    check_available(response.status_code, f"{self.account.storefront_url}{url.split('?')[0]}")
                    return {"key": key, "status": response.status_code, "text": response.text}
                except SiteUnavailable as exc:
                    failure = exc
            delay = next(delays, None)
            if delay is None:
                raise failure
            await asyncio.sleep(delay)  # backoff between attempts

    def _note_site_time(self, header: str | None) -> None:
        if header:
            try:
                self.site_now = email.utils.parsedate_to_datetime(header).astimezone(dt.UTC)
            except (TypeError, ValueError):
                pass


class HttpReader:
    """The poller's reads over HTTP; ``sign_in(account)`` is the browser's, for when the site asks."""

    def __init__(
        self, settings: FlowSettings, accounts: list[Account], sign_in: SignIn, progress: Progress | None = None
    ):
        self.accounts = {a.label: HttpAccount(settings, a) for a in accounts}
        self.sign_in = sign_in
        self.progress = progress

    def site_now(self, label: str) -> dt.datetime | None:
        return self.accounts[label].site_now

    def read(self, plans: dict[str, Planner]) -> dict[str, Reading | Exception]:
        return read_planned(self, plans)

    def order_url(self, label: str, order_id: str) -> str:
        return self.accounts[label].account.storefront_url + detail_page(order_id)

    def lists(self, labels: list[str], tab: Tab = Tab.ALL) -> dict[str, list[OrderSummary] | Exception]:
        return self._run({label: (lambda acct, client: self._list(acct, client, tab)) for label in labels})

    def details(self, wanted: dict[str, list[str]]) -> dict[str, dict[str, OrderDetail] | Exception]:
        return self._run(
            {
                label: (lambda acct, client, ids=ids: self._details(acct, client, ids))
                for label, ids in wanted.items()
                if ids
            }
        )

    # ---------------------------------------------------------------- every account at once
    def _run(self, work: dict[str, Callable]) -> dict[str, Any]:
        results = own_loop(self._gather(work))
        expired = [label for label, result in results.items() if isinstance(result, SessionExpired)]
        for label in expired:  # the browser signs in (outside the event loop), then once more
            try:
                self.sign_in(self.accounts[label].account)
                self.accounts[label].reload()
            except FlowError as exc:
                results[label] = exc
        again = {label: work[label] for label in expired if isinstance(results[label], SessionExpired)}
        if again:
            for label, result in own_loop(self._gather(again)).items():
                results[label] = (
                    SignInFailed("signed in, but the site still says not signed in")
                    if isinstance(result, SessionExpired)
                    else result
                )
        for label in work:
            self.accounts[label].keep()
        return results

    async def _gather(self, work: dict[str, Callable]) -> dict[str, Any]:
        async def one(label: str, job: Callable):
            acct = self.accounts[label]
            async with acct.client() as client:
                return await job(acct, client)

        labels = list(work)
        found = await asyncio.gather(*(one(label, work[label]) for label in labels), return_exceptions=True)
        for result in found:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # KeyboardInterrupt and the like
        return dict(zip(labels, found, strict=True))

    async def _list(self, acct: HttpAccount, client: httpx.AsyncClient, tab: Tab) -> list[OrderSummary]:
        prefix = list_prefix(tab)
        for _ in range(2):  # an order that came or went meanwhile: once more
            first = await acct.get(client, f"{prefix}1")
            if first["status"] != 200:
                raise UnexpectedPage(f"the order list answered HTTP {first['status']}")
            pages = -(-_total(first["text"]) // PAGE_SIZE)
            done = 1

            async def page(number: int) -> dict:
                nonlocal done
                answer = await acct.get(client, f"{prefix}{number}")
                done += 1
                if self.progress:
                    self.progress(acct.account.label, done, pages, "pages")
                return answer

            rest = await asyncio.gather(*(page(number) for number in range(2, pages + 1)))
            try:
                return orders_from_pages([first, *rest])
            except ListChanged as exc:
                last = exc
        raise last

    async def _details(self, acct: HttpAccount, client: httpx.AsyncClient, ids: list[str]) -> dict[str, OrderDetail]:
        done = 0

        async def one(order_id: str) -> dict:
            nonlocal done
            answer = await acct.get(client, f"{DETAIL_JSON}?orderId={order_id}", key=order_id)
            done += 1
            if self.progress and (done % 100 == 0 or done == len(ids)):
                self.progress(acct.account.label, done, len(ids), "details")
            return answer

        return details_from_responses(list(await asyncio.gather(*(one(i) for i in ids))))


def own_loop(coroutine):
    """Run the reads in an event loop of their own: Playwright's sync API may hold this thread's."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ordermon-http") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _total(text: str) -> int:
    try:
        return int(json.loads(text)["total"])
    except (ValueError, KeyError, TypeError):
        raise UnexpectedPage("the order list answered something else than an order list") from None
