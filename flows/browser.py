"""Finding (and if need be installing) the Chromium that flows, tests and the harness drive.

Order of preference:
1. ``ORDERMON_BROWSER_PATH``;
2. Playwright's own Chromium, if ``playwright install`` has put one in its cache;
3. ``chromium-headless-shell`` or ``chromium`` on PATH (Debian's packages).

``python -m flows.browser ensure`` installs one when none is found: Debian's
``chromium-headless-shell`` package when running as root with apt, otherwise
``playwright install chromium-headless-shell``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_VAR = "ORDERMON_BROWSER_PATH"
SYSTEM_BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
DEBIAN_PACKAGE = "chromium-headless-shell"

# Flags for a machine without network: no background fetches, no component updates.
QUIET_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]


class BrowserNotFound(RuntimeError):
    pass


def _playwright_cached() -> str | None:
    """The executable of a Chromium that ``playwright install`` downloaded, if any."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dependency
        return None
    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).exists() else None


def find_chromium(env: dict[str, str] | None = None) -> str | None:
    """The Chromium to use, as an executable path; None when there is none.

    An ``ORDERMON_BROWSER_PATH`` that does not exist is an error, not a fallback.
    """
    env = os.environ if env is None else env
    configured = env.get(ENV_VAR)
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


def require_chromium() -> str:
    found = find_chromium()
    if not found:
        raise BrowserNotFound(
            "no Chromium found: run `make browser` (or set ORDERMON_BROWSER_PATH)"
        )
    return found


def launch_options(headless: bool = True) -> dict:
    """Keyword arguments for ``browser_type.launch`` with the discovered Chromium."""
    return {"executable_path": require_chromium(), "headless": headless, "args": list(QUIET_ARGS)}


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
        subprocess.run(
            [sys.executable, "-m", "playwright", "install", "chromium-headless-shell"], check=True
        )
    return require_chromium()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "find"
    try:
        if command == "ensure":
            print(ensure_chromium())
        elif command == "find":
            print(require_chromium())
        else:
            print("usage: python -m flows.browser [find|ensure]", file=sys.stderr)
            return 2
    except (BrowserNotFound, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
