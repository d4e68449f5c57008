"""The browser's transports for the reader (flows/reading.py): they neither retry nor sign in by
themselves (the reader does both, the same way for every transport).

``PageTransport`` sends the requests with the signed-in page's own ``fetch``, for a
site that only answers a real browser (the monitor's browser mode): one call from
Python starts an account's requests in its page, a few at a time; a second one
collects them, so every account's page fetches at the same time.
``ContextTransport`` sends a few requests through the signed-in context itself
(Playwright's API requests, with the context's cookies): no page needs to be on
the site first, for the one-shot reads (a session check, an order's detail).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from .account import Account
from .errors import SiteUnavailable, first_line
from .reading import MAX_ANSWER, OnAnswer, Request, too_big
from .site import SITE, Response

if TYPE_CHECKING:
    from .session import AccountSession

CONCURRENCY = 6  # Chromium's connections per host
CHUNK = 500  # requests per call: bounds what one call holds in the page and in Python
RECYCLE_BYTES = 8 * 2**20  # a fetching page is replaced after reading this much

# Every URL of ``arg.urls``, ``arg.limit`` at a time: {status, date, text, redirected, url} each
# (status 0: no whole answer within ``arg.timeout`` ms or ``arg.most`` bytes; its text says why).
MANY_JS = """async (arg) => {
  const out = new Array(arg.urls.length);
  let next = 0;
  const body = async (r) => {  // the body's text, or null past arg.most bytes (read no further)
    const reader = r.body.getReader(), parts = [];
    let size = 0;
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      size += value.length;
      if (size > arg.most) { reader.cancel(); return null; }
      parts.push(value);
    }
    const all = new Uint8Array(size);
    parts.reduce((at, part) => (all.set(part, at), at + part.length), 0);
    return new TextDecoder().decode(all);
  };
  const one = async (url) => {
    try {
      const r = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"},
                                  signal: AbortSignal.timeout(arg.timeout)});
      const text = r.body ? await body(r) : "";
      if (text === null) return {status: 0, date: null, text: arg.tooBig, redirected: false, url: url};
      return {status: r.status, date: r.headers.get("date"), text: text, redirected: r.redirected, url: r.url};
    } catch (e) {
      return {status: 0, date: null, text: String(e), redirected: false, url: url};
    }
  };
  const worker = async () => {
    while (next < arg.urls.length) {
      const i = next++;
      out[i] = await one(arg.urls[i]);
    }
  };
  await Promise.all(Array.from({length: Math.min(arg.limit, arg.urls.length)}, worker));
  return out;
}"""

COLLECT_JS = """key => {
  const pending = (window.__ordermon || {})[key];
  if (window.__ordermon) delete window.__ordermon[key];
  return pending || null;
}"""


@functools.cache
def _starter(script: str) -> str:
    # The same source every time (the key travels as an argument): a page that
    # compiled a new script per call would keep them all.
    return f"([key, arg]) => {{ (window.__ordermon ||= {{}})[key] = ({script})(arg); return true; }}"


class PageTransport:
    """The requests of each account (by label) in its session's page."""

    def __init__(self, sessions: dict[str, AccountSession]):
        self.sessions = sessions
        self._started = 0
        self._fetched: dict[str, int] = dict.fromkeys(sessions, 0)

    def account(self, label: str) -> Account:
        return self.sessions[label].account

    def sign_in(self, label: str) -> None:
        self.sessions[label].sign_in()

    def fetch(self, requests: dict[str, list[Request]], on_answer: OnAnswer) -> dict[str, list[Response] | Exception]:
        out: dict[str, list[Response] | Exception] = {label: [] for label in requests}
        for start in range(0, max((len(asked) for asked in requests.values()), default=0), CHUNK):
            chunk = {label: asked[start : start + CHUNK] for label, asked in requests.items()}
            started = {}
            for label, asked in chunk.items():
                if asked and not isinstance(out[label], Exception):
                    try:
                        started[label] = self._start(label, asked)
                    except SiteUnavailable as exc:
                        out[label] = exc
            for label, key in started.items():
                try:
                    answers = self._collect(label, chunk[label], key)
                except SiteUnavailable as exc:
                    out[label] = exc
                    continue
                found = out[label]
                if isinstance(found, list):
                    found.extend(answers)
                for _ in answers:
                    on_answer(label)
        return out

    # ---------------------------------------------------------------- in the page
    def _page(self, label: str) -> Page:
        """A page on the site's origin. One that has fetched many megabytes is replaced:
        Chromium keeps what a page fetched (for DevTools) and the renderer would only grow."""
        session = self.sessions[label]
        if self._fetched[label] > RECYCLE_BYTES:
            session.drop_page()
            self._fetched[label] = 0
        page = session.page
        if not page.url.startswith(session.base_url + "/"):
            session.goto(SITE.orders_page())
        return page

    def _arg(self, label: str, asked: list[Request]) -> dict[str, Any]:
        timeout = self.sessions[label].settings.timeout * 1000
        return {
            "urls": [path for _, path in asked],
            "limit": CONCURRENCY,
            "timeout": timeout,
            "most": MAX_ANSWER,
            "tooBig": too_big(),
        }

    def _start(self, label: str, asked: list[Request]) -> str:
        self._started += 1
        key = f"f{self._started}"
        try:
            self._page(label).evaluate(_starter(MANY_JS), [key, self._arg(label, asked)])
        except PlaywrightError as exc:
            raise self._unreachable(label, exc) from None
        return key

    def _collect(self, label: str, asked: list[Request], key: str) -> list[Response]:
        session = self.sessions[label]
        raw = None
        with contextlib.suppress(PlaywrightError):  # the page went away: fetch again, now
            raw = session.page.evaluate(COLLECT_JS, key)
        if raw is None:
            try:
                raw = self._page(label).evaluate(MANY_JS, self._arg(label, asked))
            except PlaywrightError as exc:
                raise self._unreachable(label, exc) from None
        self._fetched[label] += sum(len(r.get("text") or "") for r in raw)
        return [_response(key, r) for (key, _), r in zip(asked, raw, strict=True)]

    def _unreachable(self, label: str, exc: Exception) -> SiteUnavailable:
        return SiteUnavailable(f"{self.sessions[label].base_url} unreachable from the page: {first_line(exc)}")


class ContextTransport:
    """A few requests of each account (by label) through its signed-in context, one after the other."""

    def __init__(self, sessions: dict[str, AccountSession]):
        self.sessions = sessions

    def account(self, label: str) -> Account:
        return self.sessions[label].account

    def sign_in(self, label: str) -> None:
        self.sessions[label].sign_in()

    def fetch(self, requests: dict[str, list[Request]], on_answer: OnAnswer) -> dict[str, list[Response] | Exception]:
        out: dict[str, list[Response] | Exception] = {}
        for label, asked in requests.items():
            session, answers = self.sessions[label], []
            for key, path in asked:
                answers.append(_requested(session, key, path))
                on_answer(label)
            out[label] = answers
        return out


def _requested(session: AccountSession, key: str, path: str) -> Response:
    timeout = session.settings.timeout * 1000
    try:
        response = session.context.request.fetch(
            session.url(path), method="GET", max_redirects=0, timeout=timeout, fail_on_status_code=False
        )
    except PlaywrightError as exc:
        return Response(key, 0, first_line(exc))
    try:
        headers = response.headers
        return Response(key, response.status, response.text(), headers.get("date"), headers.get("location"))
    finally:
        response.dispose()  # else the driver keeps every body until the context closes


def _response(key: str, r: dict[str, Any]) -> Response:
    """A page fetch's answer; one redirected to the sign-in page reads as that redirect."""
    if r.get("redirected") and SITE.is_sign_in(r.get("url") or ""):
        return Response(key, 302, "", r.get("date"), r.get("url"))
    return Response(key, r["status"], r.get("text") or "", r.get("date"))
