"""Reading the site's JSON with the page's own ``fetch``, in the signed-in browser page.

One call from Python starts many requests in the page at once, each retried in
the page while the site answers 5xx or not at all (one retry loop, ``GET_JS``);
``collect`` later waits for them. Starting and collecting apart lets the
monitor have every account's page fetching at the same time.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from .errors import SignInFailed, SiteUnavailable, UnexpectedPage, check_available, first_line

if TYPE_CHECKING:
    from .session import AccountSession

RECYCLE_BYTES = 8 * 2**20  # a fetching page is replaced after reading this much

# GET a URL as JSON, retrying network errors and 5xx with a doubling backoff;
# answers {status, date, text} (status 0: no answer at all).
GET_JS = """async (url, {retries, backoff, timeout}) => {
  for (let attempt = 0; ; attempt++) {
    let r;
    try {
      r = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"},
                            signal: AbortSignal.timeout(timeout)});
    } catch (e) {
      if (attempt >= retries) return {status: 0, date: null, text: String(e)};
      await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
      continue;
    }
    if (r.status >= 500 && attempt < retries) {
      await new Promise(ok => setTimeout(ok, backoff * 2 ** attempt));
      continue;
    }
    return {status: r.status, date: r.headers.get("date"), text: await r.text()};
  }
}"""


def _script(body: str) -> str:
    return f"async (arg) => {{\n  const get = {GET_JS};\n{body}\n}}"


# Page 1 of a paged list (``prefix`` + page number), then every other page at once.
PAGED_JS = _script("""
  const first = await get(arg.prefix + 1, arg);
  if (first.status !== 200) return [first];
  let total;
  try { total = JSON.parse(first.text).total; } catch (e) { return [first]; }
  const pages = Math.ceil(total / arg.size);
  const rest = [];
  for (let start = 2; start <= pages; start += 24) {
    const chunk = [];
    for (let p = start; p < Math.min(start + 24, pages + 1); p++) chunk.push(get(arg.prefix + p, arg));
    rest.push(...await Promise.all(chunk));
  }
  return [first, ...rest];""")

# Every URL of ``urls``, ``limit`` at a time; each answer keeps its ``key``.
MANY_JS = _script("""
  const out = new Array(arg.urls.length);
  let next = 0;
  const worker = async () => {
    while (next < arg.urls.length) {
      const i = next++;
      out[i] = {key: arg.keys[i], ...(await get(arg.urls[i], arg))};
    }
  };
  await Promise.all(Array.from({length: Math.min(arg.limit, arg.urls.length)}, worker));
  return out;""")

COLLECT_JS = """key => {
  const pending = (window.__ordermon || {})[key];
  if (window.__ordermon) delete window.__ordermon[key];
  return pending || null;
}"""


@functools.lru_cache(maxsize=8)
def _starter(script: str) -> str:
    # The same source every time (the key travels as an argument): a page that
    # compiled a new script per call would keep them all.
    return f"([key, arg]) => {{ (window.__ordermon ||= {{}})[key] = ({script})(arg); return true; }}"


class PageFetcher:
    """The page of one session whose own fetch reads the site's JSON."""

    def __init__(self, session: AccountSession):
        self.session = session
        self._started = 0
        self._fetched_bytes = 0

    def page(self) -> Page:
        """A page on the site's origin. One that has fetched many megabytes is replaced:
        Chromium keeps what a page fetched (for DevTools) and the renderer would only grow."""
        session = self.session
        if self._fetched_bytes > RECYCLE_BYTES:
            session.drop_page()
            self._fetched_bytes = 0
        page = session.page
        if not page.url.startswith(session.base_url + "/"):
            session.goto("/p/order/index.html")
        return page

    def start(self, script: str, arg: dict) -> PendingFetch:
        """Start ``script(arg)`` fetching in the page; ``collect()`` its responses later."""
        self._started += 1
        key = f"f{self._started}"
        arg = arg | self._retry_args()
        try:
            self.page().evaluate(_starter(script), [key, arg])
        except PlaywrightError as exc:
            raise SiteUnavailable(f"{self.session.base_url} unreachable from the page: {first_line(exc)}") from None
        return PendingFetch(self, script, arg, key)

    def run(self, script: str, arg: dict) -> list[dict]:
        try:
            return self.page().evaluate(script, arg)
        except PlaywrightError as exc:
            raise SiteUnavailable(f"{self.session.base_url} unreachable from the page: {first_line(exc)}") from None

    def _retry_args(self) -> dict:
        s = self.session.settings
        return {"retries": s.retries, "backoff": s.retry_backoff * 1000, "timeout": s.timeout * 1000}

    def count(self, responses: list[dict]) -> None:
        self._fetched_bytes += sum(len(r.get("text") or "") for r in responses)


class PendingFetch:
    """Responses being fetched in a page; ``collect`` waits for them and checks them."""

    def __init__(self, fetcher: PageFetcher, script: str, arg: dict, key: str):
        self.fetcher, self.script, self.arg, self.key = fetcher, script, arg, key

    def collect(self, allow: frozenset[int] = frozenset()) -> list[dict]:
        fetcher, session = self.fetcher, self.fetcher.session
        responses = None
        with contextlib.suppress(PlaywrightError):  # the page went away: fetch again, now
            responses = session.page.evaluate(COLLECT_JS, self.key)
        if responses is None:
            responses = fetcher.run(self.script, self.arg)
        if any(r["status"] == 401 for r in responses):
            session.sign_in()
            responses = fetcher.run(self.script, self.arg)
        fetcher.count(responses)
        for response in responses:
            session.note_site_time(response.get("date"))
            status = response["status"]
            if status == 0:
                raise SiteUnavailable(f"{session.base_url} unreachable: {response['text'][:200]}")
            check_available(status, session.base_url)
            if status == 401:
                raise SignInFailed("signed in, but the site still says not signed in")
            if status != 200 and status not in allow:
                raise UnexpectedPage(f"the site answered HTTP {status} to its own JSON request")
        return responses
