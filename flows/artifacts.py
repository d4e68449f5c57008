"""What a flow leaves behind when it meets a page it does not know: a screenshot and the
page's HTML, mode 0600 in the artifacts folder; nothing when all goes well, so it costs
nothing then. ``ORDERMON_TRACE=true`` records a Playwright trace of every flow as well
(slower: DOM snapshots at each step), kept on failure without cookies or credentials.
Expected answers (not cancellable, not found, sign-in failed, site down) leave nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

from .account import private_folder, write_private
from .errors import FlowError, UnexpectedPage, first_line
from .session import AccountSession


def _folder(session: AccountSession) -> Path:
    folder = session.settings.artifacts
    private_folder(folder)
    return folder


def _base(session: AccountSession, name: str) -> Path:
    return _folder(session) / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{name}"


def screenshot(session: AccountSession, name: str) -> str:
    path = _base(session, name).with_suffix(".png")
    session.page.screenshot(path=path, full_page=True)
    os.chmod(path, 0o600)
    return str(path)


def _keep(session: AccountSession, name: str) -> list[str]:
    """A screenshot and the HTML of the page as it is now."""
    saved = []
    with contextlib.suppress(Exception):
        saved.append(screenshot(session, name))
    with contextlib.suppress(Exception):
        html = _base(session, name).with_suffix(".html")
        write_private(html, f"<!-- {session.page.url} -->\n{session.page.content()}")
        saved.append(str(html))
    return saved


@contextlib.contextmanager
def kept_on_failure(session: AccountSession, name: str) -> Iterator[None]:
    """Run the block; on an unexpected failure keep a screenshot and the page's HTML (and the trace)."""
    tracing = session.context.tracing if session.own_tracing and session.settings.trace else None
    if tracing:
        tracing.start(screenshots=False, snapshots=True, sources=False)
    try:
        yield
    except Exception as exc:
        if isinstance(exc, FlowError) and not isinstance(exc, UnexpectedPage):
            _stop(tracing)
            raise  # an answer the flow expects: no artifacts needed
        saved = _keep(session, name)
        if tracing:
            trace = _base(session, name).with_suffix(".trace.zip")
            _stop(tracing, trace)
            saved.append(str(trace))
        if isinstance(exc, FlowError):
            exc.artifacts = saved
            raise
        what = "page" if isinstance(exc, PlaywrightError) else "error"
        raise UnexpectedPage(f"unexpected {what}: {first_line(exc)}", artifacts=saved) from exc
    except BaseException:
        _stop(tracing)
        raise
    else:
        _stop(tracing)


def _stop(tracing, path: Path | None = None) -> None:
    if tracing is None:
        return
    with contextlib.suppress(Exception):
        tracing.stop(path=path)
        if path is not None:
            scrub_trace(path)
            os.chmod(path, 0o600)


SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})


def _scrubbed(value):
    """The recorded network without cookies or credentials (a shared trace must not be a session),
    and the context's options without its proxy's (the server alone stays; Playwright records the
    proxy's user and password as ``httpCredentials`` as well)."""
    if isinstance(value, dict):
        return {
            k: [] if k in ("cookies", "httpCredentials")
            else {"server": v.get("server")} if k == "proxy" and isinstance(v, dict)
            else _scrubbed(v)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [
            _scrubbed(v)
            for v in value
            if not (isinstance(v, dict) and str(v.get("name", "")).lower() in SECRET_HEADERS and "value" in v)
        ]
    return value


def scrub_trace(path: Path) -> None:
    """Rewrite a Playwright trace without the cookies and credentials its network log recorded."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename.endswith((".network", ".trace")):
                lines = [json.dumps(_scrubbed(json.loads(line))) for line in data.decode().splitlines() if line]
                data = "\n".join(lines).encode()
            target.writestr(info, data)
    os.replace(tmp, path)
