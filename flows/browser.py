"""The browser: finding (and if need be installing) the Chromium that flows, tests and
the harness drive, launching it or connecting to a remote one, and ``Browser``, one
Playwright driver with one browser process.

Order of preference:
1. ``ORDERMON_BROWSER_PATH``;
2. Playwright's own Chromium, if ``playwright install`` has put one in its cache;
3. ``chromium-headless-shell`` or ``chromium`` on PATH (Debian's packages).

``ordermon browser ensure`` (``make browser``) installs one when none is found: Debian's
``chromium-headless-shell`` package when running as root with apt, otherwise
``playwright install chromium-headless-shell``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import BrowserUnavailable, first_line
from .settings import FlowSettings

ENV_VAR = "ORDERMON_BROWSER_PATH"
SYSTEM_BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
DEBIAN_PACKAGE = "chromium-headless-shell"
log = logging.getLogger("ordermon.flows")

# Flags for a machine without network: no background fetches, no component updates.
QUIET_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
    # Fewer processes for the same work: no GPU process, no zygotes (Playwright
    # already runs Chromium with --no-sandbox, which --no-zygote needs).
    "--in-process-gpu",
    "--no-zygote",
]


class BrowserNotFound(BrowserUnavailable):
    pass


def _playwright_cached() -> str | None:
    """The executable of a Chromium that ``playwright install`` downloaded, if any.

    Read from Playwright's browsers.json and cache folder, without starting its driver.
    """
    try:
        import playwright
    except ImportError:  # pragma: no cover - playwright is a dependency
        return None
    manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    try:
        browsers = {b["name"]: b["revision"] for b in json.loads(manifest.read_text())["browsers"]}
    except (OSError, ValueError, KeyError):
        return None
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    candidates = [
        ("chromium-headless-shell", "chromium_headless_shell-{}/*/chrome-headless-shell"),
        ("chromium-headless-shell", "chromium_headless_shell-{}/*/headless_shell"),
        ("chromium", "chromium-{}/*/chrome"),
    ]
    for name, pattern in candidates:
        if name in browsers:
            for path in sorted(root.glob(pattern.format(browsers[name]))):
                if os.access(path, os.X_OK):
                    return str(path)
    return None


def find_chromium(env: dict[str, str] | None = None, configured: str | None = None) -> str | None:
    """The Chromium to use, as an executable path; None when there is none.

    ``configured`` (the ``browser_path`` setting) or ``ORDERMON_BROWSER_PATH`` that
    does not exist is an error, not a fallback.
    """
    configured = configured or (os.environ if env is None else env).get(ENV_VAR)
    if configured:
        if not Path(configured).is_file() or not os.access(configured, os.X_OK):
            raise BrowserNotFound(f"{ENV_VAR}={configured} is not an executable file")
        return configured
    cached = _playwright_cached()
    if cached:
        return cached
    for name in SYSTEM_BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium(configured: str | None = None) -> str:
    found = find_chromium(configured=configured)
    if not found:
        raise BrowserNotFound("no Chromium found: run `make browser` (or set ORDERMON_BROWSER_PATH)")
    return found


def launch_options(headless: bool = True, configured: str | None = None) -> dict:
    """Keyword arguments for ``browser_type.launch`` with the discovered Chromium."""
    return {
        "executable_path": require_chromium(configured),
        "headless": headless,
        "args": list(QUIET_ARGS),
    }


def open_browser(
    playwright,
    *,
    headless: bool = True,
    configured: str | None = None,
    endpoint: str | None = None,
    timeout: float = 30,
):
    """Launch the discovered Chromium, or connect to a remote one.

    ``endpoint``: ``ws://`` of a ``playwright run-server``, or ``http(s)://`` of a
    Chromium started with ``--remote-debugging-port`` (CDP).
    """
    chromium = playwright.chromium
    if endpoint:
        if endpoint.startswith(("ws://", "wss://")):
            # A `playwright run-server` launches the browser itself; tell it which one
            # only when one is configured (the farm's path, not a local guess).
            launch = {"headless": headless, "args": QUIET_ARGS}
            if configured:
                launch["executablePath"] = configured
            headers = {"x-playwright-launch-options": json.dumps(launch)}
            return chromium.connect(endpoint, timeout=timeout * 1000, headers=headers)
        return chromium.connect_over_cdp(endpoint, timeout=timeout * 1000)
    options = launch_options(headless, configured)
    try:
        return chromium.launch(**options, timeout=timeout * 1000)
    except Exception as exc:
        # A Chromium that exits as it starts (Playwright: the target "has been closed"; seen once in
        # some thousand launches on a loaded machine) is started once more. Anything else, a timeout
        # or a second exit, is the caller's error to report.
        if "has been closed" not in str(exc):
            raise
        log.warning("Chromium exited as it started; starting it once more: %s", " | ".join(str(exc).splitlines()[:12]))
    return chromium.launch(**options, timeout=timeout * 1000)


def _driver_env_without_settings() -> None:
    """Playwright starts its driver with a copy of this process's environment, and Chromium with the
    driver's: none of ordermon's settings go with it (the password, the accounts, alert tokens).
    Playwright offers no option for it: its copy is filtered (its pinned version's function; the
    process's own environment is left alone, other threads may read it; tests/test_secrets.py
    checks both processes' environments)."""
    from playwright._impl import _transport

    original = _transport.get_driver_env
    if getattr(original, "ordermon", False):
        return

    def get_driver_env() -> dict:
        return {name: value for name, value in original().items() if not name.startswith("ORDERMON_")}

    get_driver_env.ordermon = True  # type: ignore[attr-defined]
    _transport.get_driver_env = get_driver_env


class Browser:
    """One Playwright driver and one browser process (an account's session on it: flows/session.py).

    Pass ``browser`` to use one that is already running (e.g. pytest-playwright's).
    """

    def __init__(self, settings: FlowSettings, browser=None):
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        self.settings = settings
        self._manager = None
        if browser is not None:
            self.browser = browser
            self._owns_browser = False
            return
        self._owns_browser = True
        self._manager = sync_playwright()
        _driver_env_without_settings()
        self.playwright = self._manager.start()
        try:
            self.browser = open_browser(
                self.playwright,
                headless=settings.headless,
                configured=settings.browser_path,
                endpoint=settings.browser_endpoint,
                timeout=settings.timeout * 2,
            )
        except PlaywrightError as exc:
            self.close()
            target = settings.browser_endpoint or "the browser"
            raise BrowserUnavailable(f"cannot start or reach {target}: {first_line(exc)}") from None
        except BaseException:
            self.close()
            raise

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


def ensure_chromium() -> str:
    """Find a Chromium, or install one."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"Installing Debian's {DEBIAN_PACKAGE} ...", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGE], check=True, env=env)
    else:
        print("Installing Playwright's chromium-headless-shell ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium-headless-shell"], check=True)
    return require_chromium()
