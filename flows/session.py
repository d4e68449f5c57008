"""A browser, and a signed-in context per buyer account, reused between flows.

Sign-in happens in a separate, short-lived context that is never traced, so a
typed password can reach no trace; the signed-in cookies are then handed to
the account's context and kept (mode 0600) for the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from playwright.sync_api import Browser as PWBrowser
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from pydantic import SecretStr

from . import browser as discovery
from .errors import FlowError, SignInFailed, SiteUnavailable, UnexpectedPage, first_line
from .pages import SignInPage
from .settings import FlowSettings

# Pages need no images, fonts or media to be read or clicked.
BLOCKED_RESOURCE_TYPES = ("Image", "Font", "Media")
RECYCLE_BYTES = 8 * 2**20  # a fetching page is replaced after reading this much
HEAVY = ("png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "svg", "woff", "woff2", "ttf", "otf",
         "mp4", "webm", "mp3")
BLOCKED = re.compile(r"\.(" + "|".join(HEAVY) + r")(\?.*)?$", re.I)  # fallback without CDP


@dataclass(frozen=True)
class Account:
    storefront_url: str
    email: str
    password: SecretStr = field(repr=False)
    name: str | None = None

    @property
    def label(self) -> str:
        """How the account is named in the database and in alerts."""
        return self.name or f"{self.email}@{urlparse(self.storefront_url).netloc}"

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.storefront_url}\n{self.email}".encode()).hexdigest()[:16]

    @classmethod
    def from_settings(cls, settings: FlowSettings) -> Account:
        missing = [name for name in ("email", "password") if getattr(settings, name) is None]
        if missing:
            raise FlowError(
                "missing setting " + " and ".join(f"ORDERMON_{m.upper()}" for m in missing)
            )
        return cls(settings.storefront_url, settings.email, settings.password)


class StateFileCorrupt(FlowError):
    exit_code = 7
    outcome = "error"


def write_private(path: Path, data: str) -> None:
    """Write a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Browser:
    """One Playwright driver and one browser process; a context per account.

    Pass ``browser`` to use one that is already running (e.g. pytest-playwright's).
    """

    def __init__(self, settings: FlowSettings, browser: PWBrowser | None = None):
        self.settings = settings
        self._manager = None
        if browser is not None:
            self.browser = browser
            self._owns_browser = False
            return
        self._owns_browser = True
        self._manager = sync_playwright()
        self.playwright: Playwright = self._manager.start()
        try:
            self.browser = discovery.open_browser(
                self.playwright, headless=settings.headless, configured=settings.browser_path,
                endpoint=settings.browser_endpoint, timeout=settings.timeout * 2,
            )
        except PlaywrightError as exc:
            self.close()
            target = settings.browser_endpoint or "the browser"
            raise FlowError(f"cannot start or reach {target}: {first_line(exc)}") from None
        except Exception:
            self.close()
            raise

    def session(self, account: Account, **options) -> AccountSession:
        return AccountSession(self, account, **options)

    def close(self) -> None:
        if self._owns_browser and getattr(self, "browser", None) is not None:
            with contextlib.suppress(Exception):
                self.browser.close()
        if self._manager is not None:
            self.playwright.stop()
            self._manager = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AccountSession:
    """A signed-in browser context for one account, with its own page.

    ``context``/``page``: use ones made elsewhere (e.g. pytest-playwright's, which
    may trace them itself: then ``own_tracing=False``).
    """

    def __init__(self, browser: Browser, account: Account, *, context: BrowserContext | None = None,
                 page: Page | None = None, own_tracing: bool = True):
        self.browser = browser
        self.settings = browser.settings
        self.account = account
        self.base_url = account.storefront_url
        self.own_tracing = own_tracing
        self.state_path = self.settings.data_dir / f"state-{account.key}.json"
        state = self._load_state()
        if context is None:
            self.context = self._new_context(state)
        else:
            self.context = context
            self._configure(context)
            if state:
                context.add_cookies(state["cookies"])
        self._page: Page | None = page
        self.sign_ins = 0
        self.site_now: dt.datetime | None = None
        self._fetches = 0
        self._fetched_bytes = 0
        self._cdp_sessions: list = []
        if page is not None:
            self._block_heavy(page)

    # ---------------------------------------------------------------- context
    def _new_context(self, state: dict | None) -> BrowserContext:
        context = self.browser.browser.new_context(
            base_url=self.base_url, storage_state=state, service_workers="block",
        )
        self._configure(context)
        return context

    def _configure(self, context: BrowserContext) -> None:
        context.set_default_timeout(self.settings.timeout * 1000)
        context.set_default_navigation_timeout(self.settings.timeout * 1000)

    def _block_heavy(self, page: Page) -> None:
        """No images, fonts or media. Chromium pauses only those (by resource type) and
        we fail them; a Playwright route would pass every request, the JSON included,
        through the driver."""
        try:
            cdp = page.context.new_cdp_session(page)
            cdp.on("Fetch.requestPaused", lambda event: cdp.send(
                "Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"}))
            cdp.send("Fetch.enable", {"patterns": [
                {"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
                for kind in BLOCKED_RESOURCE_TYPES]})
            self._cdp_sessions.append(cdp)
        except PlaywrightError:  # not Chromium, or no CDP through this connection
            page.route(BLOCKED, lambda route: route.abort())

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    def _load_state(self) -> dict | None:
        if not self.state_path.exists():
            return None
        try:
            state = json.loads(self.state_path.read_text())
            if not isinstance(state, dict) or not isinstance(state.get("cookies"), list):
                raise ValueError("not a storage state")
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileCorrupt(
                f"storage state {self.state_path} is corrupt ({exc}); delete it to sign in again"
            ) from None
        return state

    @property
    def page(self) -> Page:
        if self._page is None or self._page.is_closed():
            self._page = self.context.new_page()
            self._block_heavy(self._page)
        return self._page

    # ---------------------------------------------------------------- fetching in the page
    def _fetch_page(self) -> Page:
        """The page whose own fetch reads the site's JSON: it must be on the site's origin.

        A page that has fetched many megabytes is replaced by a fresh one: Chromium
        keeps what a page fetched (for DevTools) and the renderer would only grow.
        """
        if self._fetched_bytes > RECYCLE_BYTES and self._page is not None:
            with contextlib.suppress(PlaywrightError):
                self._page.close()
            self._page = None
            self._fetched_bytes = 0
        page = self.page
        if not page.url.startswith(self.base_url + "/"):
            self.goto("/p/order/index.html")
        return page

    def start_fetch(self, script: str, arg: dict) -> PendingFetch:
        """Start ``script(arg)`` fetching in the page; ``collect()`` its responses later."""
        self._fetches += 1
        key = f"f{self._fetches}"
        page = self._fetch_page()
        try:
            # The same source every time (the key travels as an argument): a page that
            # compiled a new script per call would keep them all.
            page.evaluate(_starter(script), [key, arg])
        except PlaywrightError as exc:
            raise SiteUnavailable(f"{self.base_url} unreachable from the page: {first_line(exc)}") from None
        return PendingFetch(self, script, arg, key)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()

    # ---------------------------------------------------------------- sign-in
    def sign_in(self) -> None:
        """Sign in in a separate, untraced context and hand the cookies over."""
        context = self.browser.browser.new_context(base_url=self.base_url, service_workers="block")
        context.set_default_timeout(self.settings.timeout * 1000)
        try:
            page = context.new_page()
            SignInPage(page).sign_in(self.account.email, self.account.password.get_secret_value())
            state = context.storage_state()
        except PlaywrightError as exc:
            raise SiteUnavailable(f"sign-in page unavailable: {first_line(exc)}") from None
        finally:
            context.close()
        self.context.clear_cookies()
        self.context.add_cookies(state["cookies"])
        write_private(self.state_path, json.dumps(state))
        self.sign_ins += 1

    def ensure_signed_in(self) -> None:
        response = self._request("GET", "/p/order/list.json", params={"pageSize": 1})
        status = response.status
        response.dispose()
        if status == 401:
            self.sign_in()

    # ---------------------------------------------------------------- JSON the pages fetch
    def _request(self, method: str, path: str, params: dict | None = None):
        try:
            response = self.context.request.fetch(
                self.url(path), method=method, params=params, max_redirects=0,
                timeout=self.settings.timeout * 1000, fail_on_status_code=False,
            )
        except PlaywrightError as exc:
            raise SiteUnavailable(f"{self.base_url} unreachable: {first_line(exc)}") from None
        if response.status >= 500:
            raise SiteUnavailable(f"{self.base_url}{path} answered HTTP {response.status}")
        self._note_site_time(response.headers.get("date"))
        return response

    def _note_site_time(self, header: str | None) -> None:
        """The site's own clock, from its Date header: deadlines are judged by it."""
        if not header:
            return
        try:
            self.site_now = email.utils.parsedate_to_datetime(header).astimezone(dt.UTC)
        except (TypeError, ValueError):
            pass

    def get_json(self, path: str, params: dict | None = None) -> tuple[int, Any]:
        """GET a JSON endpoint through the signed-in context; signs in again once on 401."""
        for attempt in range(2):
            response = self._request("GET", path, params)
            if response.status == 401 and attempt == 0:
                self.sign_in()
                continue
            if response.status == 401:
                raise SignInFailed("signed in, but the site still says not signed in")
            try:
                return response.status, response.json()
            except (PlaywrightError, ValueError):
                raise UnexpectedPage(f"{path} did not answer JSON (HTTP {response.status})") from None
            finally:
                response.dispose()  # else the driver keeps every body until the context closes
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- navigation
    def goto(self, path: str):
        """Open a page, signing in again if the session has expired."""
        for attempt in range(2):
            try:
                response = self.page.goto(self.url(path), wait_until="domcontentloaded")
            except PlaywrightError as exc:
                raise SiteUnavailable(f"{self.base_url}{path} unavailable: {first_line(exc)}") from None
            if response is not None and response.status >= 500:
                raise SiteUnavailable(f"{self.base_url}{path} answered HTTP {response.status}")
            if SignInPage.is_sign_in_url(self.page.url) and attempt == 0:
                self.sign_in()
                continue
            return response
        raise SignInFailed("signed in, but the site keeps asking to sign in")

    # ---------------------------------------------------------------- artifacts
    @contextlib.contextmanager
    def traced(self, name: str) -> Iterator[None]:
        """Trace the block; on an unexpected failure keep the trace and a screenshot."""
        tracing = self.context.tracing if self.own_tracing else None
        if tracing:
            tracing.start(screenshots=False, snapshots=True, sources=False)
        try:
            yield
        except Exception as exc:
            if isinstance(exc, FlowError) and not isinstance(exc, UnexpectedPage):
                with contextlib.suppress(Exception):
                    if tracing:
                        tracing.stop()
                raise  # an answer the flow expects: no artifacts needed
            artifacts = self._save_artifacts(name, trace=tracing is not None)
            with contextlib.suppress(Exception):
                if tracing:
                    tracing.stop(path=artifacts[-1])
                    os.chmod(artifacts[-1], 0o600)
            if isinstance(exc, FlowError):
                exc.artifacts = artifacts
                raise
            raise UnexpectedPage(
                f"unexpected {'page' if isinstance(exc, PlaywrightError) else 'error'}: {first_line(exc)}",
                artifacts=artifacts,
            ) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                if tracing:
                    tracing.stop()
            raise
        else:
            if tracing:
                tracing.stop()

    def _save_artifacts(self, name: str, trace: bool = True) -> list[str]:
        folder = self.settings.artifacts
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = folder / f"{stamp}-{name}"
        screenshot = base.with_suffix(".png")
        saved = []
        with contextlib.suppress(Exception):
            self.page.screenshot(path=screenshot, full_page=True)
            os.chmod(screenshot, 0o600)
            saved.append(str(screenshot))
        if trace:
            saved.append(str(base.with_suffix(".trace.zip")))
        return saved

    def screenshot(self, name: str) -> str:
        folder = self.settings.artifacts
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        os.chmod(path, 0o600)
        return str(path)


COLLECT_JS = """key => {
  const pending = (window.__ordermon || {})[key];
  if (window.__ordermon) delete window.__ordermon[key];
  return pending || null;
}"""


@functools.lru_cache(maxsize=8)
def _starter(script: str) -> str:
    return f"([key, arg]) => {{ (window.__ordermon ||= {{}})[key] = ({script})(arg); return true; }}"


class PendingFetch:
    """Responses being fetched in a page; ``collect`` waits for them and checks them."""

    def __init__(self, session: AccountSession, script: str, arg: dict, key: str):
        self.session, self.script, self.arg, self.key = session, script, arg, key

    def collect(self, allow: set[int] = frozenset()) -> list[dict]:
        session = self.session
        try:
            responses = session.page.evaluate(COLLECT_JS, self.key)
            if responses is None:  # the page was reloaded meanwhile: fetch again, now
                responses = session._fetch_page().evaluate(self.script, self.arg)
        except PlaywrightError as exc:
            raise SiteUnavailable(f"{session.base_url} unreachable from the page: {first_line(exc)}") from None
        if any(r["status"] == 401 for r in responses):
            session.sign_in()
            try:
                responses = session._fetch_page().evaluate(self.script, self.arg)
            except PlaywrightError as exc:
                raise SiteUnavailable(f"{session.base_url} unreachable: {first_line(exc)}") from None
        for response in responses:
            session._fetched_bytes += len(response.get("text") or "")
            session._note_site_time(response.get("date"))
            status = response["status"]
            if status == 0:
                raise SiteUnavailable(f"{session.base_url} unreachable: {response['text'][:200]}")
            if status >= 500:
                raise SiteUnavailable(f"{session.base_url} answered HTTP {status}")
            if status == 401:
                raise SignInFailed("signed in, but the site still says not signed in")
            if status != 200 and status not in allow:
                raise UnexpectedPage(f"the site answered HTTP {status} to its own JSON request")
        return responses


def retrying(settings: FlowSettings, action, *args, **kwargs):
    """Run ``action``, retrying with backoff while the site is unavailable."""
    delay = settings.retry_backoff
    for attempt in range(settings.retries + 1):
        try:
            return action(*args, **kwargs)
        except SiteUnavailable:
            if attempt == settings.retries:
                raise
            time.sleep(delay)  # backoff between retries, not a wait for the page
            delay *= 2
    raise AssertionError("unreachable")
