"""The HTTP transport: the site's JSON over plain HTTP (httpx), with the session the browser signed in.

The browser signs in (untraced) and keeps its cookies in the storage state
(flows/account.py); this sends the reader's requests (flows/reading.py) with
those cookies: every account at once, keep-alive, a few connections per account.
Cookies the site rotates go back to the storage state. It neither retries nor
signs in by itself: the reader does both, the same way for every transport.
No browser library is imported here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import http.cookiejar
import os
import signal
import ssl
import threading
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from .account import Account, keeper
from .errors import ReadAbandoned, first_line
from .reading import MAX_ANSWER, OnAnswer, Request, too_big
from .settings import FlowSettings
from .site import Response

CONCURRENCY = 8  # connections per account: a careful script's share of a site


@functools.cache
def user_agent(pid: int) -> str:
    """What ordermon calls itself to a site: its name and version, and the process (a site's log
    then tells two workers of a fleet apart at one account)."""
    from importlib.metadata import version

    return f"ordermon/{version('ordermon')} (pid {pid})"


SignIn = Callable[[Account], None]


# ---------------------------------------------------------------------- cookies
def _to_cookie(c: dict) -> http.cookiejar.Cookie:
    domain = c["domain"]
    if "." not in domain.lstrip("."):  # the standard library files a dotless host as "<host>.local"
        domain += ".local"
    expires = c.get("expires", -1)
    # The standard library reads a nonstandard attribute's presence (HttpOnly) from a None value too.
    rest: dict[str, str] = {"HttpOnly": None} if c.get("httpOnly") else {}  # type: ignore[dict-item]
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


class _Cookies:
    """One account's cookies, as its kept storage state holds them."""

    def __init__(self, settings: FlowSettings, account: Account):
        self.account = account
        self.state_file = keeper(settings, account)
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


class HttpTransport:
    """The reader's requests over HTTP; ``sign_in(account)`` is the browser's, for when the site asks."""

    def __init__(
        self,
        settings: FlowSettings,
        accounts: list[Account],
        sign_in: SignIn,
        *,
        lease: Callable[[], float] | None = None,
    ):
        """A request, sent or answered, takes at most the timeout in all. ``lease()``, asked
        before each request, says how many seconds it may take at most, or raises to leave it
        unsent (a fleet's job sends nothing its worker's lease would not outlast)."""
        self.settings = settings
        self.cookies = {a.label: _Cookies(settings, a) for a in accounts}
        self._sign_in = sign_in
        self._lease = lease

    def account(self, label: str) -> Account:
        return self.cookies[label].account

    def sign_in(self, label: str) -> None:
        self._sign_in(self.account(label))
        self.cookies[label].reload()

    def fetch(self, requests: dict[str, list[Request]], on_answer: OnAnswer) -> dict[str, list[Response] | Exception]:
        try:
            return own_loop(self._gather(requests, on_answer))
        finally:
            for label in requests:
                self.cookies[label].keep()

    async def _gather(self, requests: dict[str, list[Request]], on_answer: OnAnswer) -> dict[str, Any]:
        async def account(label: str, asked: list[Request]) -> list[Response]:
            slots = asyncio.Semaphore(CONCURRENCY)  # thousands queued on httpx's pool cost it quadratic time
            async with self._client(label) as client:

                async def one(key: str, path: str) -> Response:
                    async with slots:
                        answer = await _get(client, key, path, self._bound())
                    on_answer(label)
                    return answer

                return list(await asyncio.gather(*(one(key, path) for key, path in asked)))

        labels = [label for label, asked in requests.items() if asked]
        found = await asyncio.gather(*(account(label, requests[label]) for label in labels), return_exceptions=True)
        for result in found:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # KeyboardInterrupt and the like
        return dict(zip(labels, found, strict=True)) | {label: [] for label, asked in requests.items() if not asked}

    def _bound(self) -> float:
        """Seconds the next request may take in all: the timeout, or less if the lease ends sooner."""
        if self._lease is None:
            return self.settings.timeout
        return min(self.settings.timeout, self._lease())

    def _client(self, label: str) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        return httpx.AsyncClient(
            base_url=self.account(label).storefront_url,
            proxy=self.account(label).http_proxy(),
            cookies=self.cookies[label].jar,
            limits=limits,
            timeout=self.settings.timeout,
            follow_redirects=False,
            verify=tls(),
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",  # what _body decompresses itself
                "User-Agent": user_agent(os.getpid()),
            },
        )


async def _get(client: httpx.AsyncClient, key: str, path: str, bound: float) -> Response:
    # httpx's timeout bounds each step (connect, each read); a site that trickles its answer would
    # hold a request for as long as it likes: the whole request is bounded as well, and its size.
    try:
        async with asyncio.timeout(bound), client.stream("GET", path) as response:
            body = await _body(response)
    except (httpx.TransportError, httpx.DecodingError) as exc:
        return Response(key, 0, first_line(exc))
    except TimeoutError:
        return Response(key, 0, f"no whole answer within {bound:g} s")
    except _Unread as exc:
        return Response(key, 0, str(exc))
    return Response(
        key,
        response.status_code,
        body.decode(response.encoding or "utf-8", errors="replace"),
        response.headers.get("date"),
        response.headers.get("location"),
    )


class _Unread(Exception):
    """An answer not read whole: more than ``MAX_ANSWER``, or encoded in a way ordermon does not take."""


async def _body(response: httpx.Response) -> bytes:
    """The answer's body, decompressed here, never past ``MAX_ANSWER`` (httpx would decompress a
    whole network chunk at once: a few KB of gzip can be gigabytes, twice gzipped)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and (len(length) > 12 or int(length) > MAX_ANSWER):
        raise _Unread(too_big())
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in _INFLATE:
        raise _Unread(f"an answer encoded as {encoding[:30]!r}, which ordermon does not read")
    inflate = _INFLATE[encoding]()
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            if inflate is None:
                body += chunk
            else:
                body += inflate.decompress(chunk, MAX_ANSWER + 1 - len(body))
                if inflate.unconsumed_tail:
                    raise _Unread(too_big())
            if len(body) > MAX_ANSWER:
                raise _Unread(too_big())
    except zlib.error as exc:
        raise _Unread(f"a badly compressed answer ({exc})") from None
    return bytes(body)


#: The encodings ordermon asks for (Accept-Encoding), each with a decompressor made per answer.
_INFLATE = {
    "identity": lambda: None,
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),
}


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _forget_loop() -> None:
    global _loop
    _loop = None  # a forked child has no thread running the parent's loop


os.register_at_fork(after_in_child=_forget_loop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    # Ctrl-C and SIGTERM must reach the main thread: one the kernel gave this thread would leave the
    # main thread asleep in its wait for the reads (a lock's wait wakes only for its own thread's
    # signals). Threads this one starts (the loop's resolver) inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    loop.run_forever()


def own_loop(coroutine):
    """Run the reads in the event loop of ordermon's HTTP thread: Playwright's sync API may hold
    this thread's loop. One thread and loop for the process, started at the first read (a loop and
    a thread of their own for every read cost more CPU than a small poll's requests). Interrupted
    (Ctrl-C), or abandoned (``abandon_reads``), the reads are cancelled, not waited for."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_serve, args=(_loop,), name="ordermon-http", daemon=True).start()
        loop = _loop
    if _abandoning.is_set():
        coroutine.close()
        raise ReadAbandoned("no read now: ordermon stops")
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    _under_way.add(future)
    if _abandoning.is_set():  # a stop that came while it was being sent found nothing to cancel
        future.cancel()
    try:
        return _result(future)
    except concurrent.futures.CancelledError:
        raise ReadAbandoned("the read under way was abandoned: ordermon stops") from None
    except BaseException:
        future.cancel()
        raise
    finally:
        _under_way.discard(future)


_under_way: set[concurrent.futures.Future] = set()
_abandoning = threading.Event()


def abandon_reads() -> None:
    """Cancel every read under way, and refuse new ones until ``allow_reads()`` (the monitor stops
    on a signal, maybe between two tries of a read): each caller gets ``ReadAbandoned`` at once.
    Fit for a signal handler: it waits for nothing."""
    _abandoning.set()
    for future in list(_under_way):
        future.cancel()


def allow_reads() -> None:
    _abandoning.clear()


def _result(future: concurrent.futures.Future):
    # Waits of a second at a time, each time looking whether ordermon stops: a signal's handler
    # that ran between the future's check and its wait then still ends the wait within a second.
    while True:
        try:
            return future.result(timeout=1.0)
        except TimeoutError:
            if future.done():
                return future.result()  # it ended just then (or it raised a TimeoutError of its own)
            if _abandoning.is_set():
                future.cancel()
