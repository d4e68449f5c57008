"""`python -m bench.hostile [--timeout S] [--json]`: ordermon against a site that answers badly on purpose.

An imitation of the storefront's two JSON paths (the orders list and an order's
detail; nothing else of the site, and not a word of ordermon's code) serves one
bad answer per case to the first of two accounts, and a good list of two orders
to the second. For each case `ordermon monitor --once` runs against it (then
`ordermon status`, as a user would look), and the campaign notes the exit
code, the seconds it took, its peak RSS, what the database recorded of each
account, and every place where the password or a terminal escape reached an
output or a file. Judged: every case ends within 3x `ORDERMON_TIMEOUT` (+5 s),
with the exit code the case expects (never 1), peak RSS <= 250 MB, 0 secrets,
0 escapes, and the good account recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import select
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PASSWORD = "hostile-s3cret-password"
BAD, GOOD = "bad@example.com", "good@example.com"
ESCAPES = ("\x1b", "\x07", "\u202e")
RSS_LIMIT = 250 * 2**20
HOLD = 120  # seconds a slow answer goes on at most (ordermon must have hung up long before)


# ---------------------------------------------------------------------- the site's JSON
def order(n: int, **over) -> dict:
    summary = {
        "id": f"81000000000000{n:02d}",
        "status": "awaiting_shipment",
        "status_label": "Awaiting shipment",
        "refund_status": "none",
        "store": "Hostile Store",
        "total": "12.50",
        "currency": "USD",
        "order_date": "2026-11-20",
    }
    return summary | over


def detail(n: int, **over) -> dict:
    extra = {
        "payment_method": "card",
        "payment_method_label": "Card",
        "placed_at": "2026-11-20T10:00:00+00:00",
        "paid_at": "2026-11-20T10:05:00+00:00",
        "deadlines": {"ship_by": "2026-11-27T10:05:00+00:00"},
    }
    return order(n) | extra | over


def page(orders: list[dict], total: int | None = None) -> dict:
    return {"orders": orders, "total": len(orders) if total is None else total, "page": 1, "has_more": False}


@dataclass
class Case:
    """One bad answer: ``list``/``detail`` answer the bad account's requests (a handler is given
    the request handler, and writes the answer itself), ``code`` the exit code it must end with."""

    name: str
    code: int
    list: Callable | dict = field(default_factory=lambda: page([order(1), order(2)]))
    detail: Callable | dict | None = None
    what: str = ""
    unreadable: int = 0  # the bad account's orders recorded as unreadable (the rest recorded as usual)
    bad_orders: int | None = None  # the orders the bad account has recorded (None: not checked)
    ahead: float = 0  # seconds the bad account's answers' Date header is ahead of the real clock
    date: str | None = None  # the bad account's answers' Date header, as it is
    alerts: int | None = None  # the bad account's alerts of its orders (None: not checked)


def _trickle(handler: BaseHTTPRequestHandler, head: bytes, body: bytes, *, slow_head: bool) -> None:
    """An answer one byte at a time, 0.5 s apart, for as long as the client listens (up to HOLD)."""
    data = head + body
    start = 0 if slow_head else len(head)
    handler.wfile.write(data[:start])
    handler.wfile.flush()
    until = time.monotonic() + HOLD
    for i in range(start, len(data)):
        if time.monotonic() > until or _hung_up(handler.connection, 0.5):
            return
        handler.wfile.write(data[i : i + 1])
        handler.wfile.flush()


def _hung_up(conn: socket.socket, wait: float) -> bool:
    readable, _, _ = select.select([conn], [], [], wait)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _head(status: int, length: int | None, chunked: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} OK", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def slow_body(handler) -> None:
    body = json.dumps(page([order(1)])).encode()
    _trickle(handler, _head(200, len(body)), body, slow_head=False)


def slow_headers(handler) -> None:
    body = json.dumps(page([order(1)])).encode()
    _trickle(handler, _head(200, len(body)), body, slow_head=True)


def silent(handler) -> None:
    until = time.monotonic() + HOLD
    while time.monotonic() < until and not _hung_up(handler.connection, 0.5):
        pass


def huge_body(handler) -> None:
    """A list of 500 MB (whitespace in valid JSON), sent as fast as the client reads."""
    handler.wfile.write(_head(200, None, chunked=True))
    opening = json.dumps(page([order(1)]))[:-1].encode()
    chunks = [opening, *([b" " * 2**16] * (500 * 2**20 // 2**16)), b"}"]
    for chunk in chunks:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    handler.wfile.write(b"0\r\n\r\n")


@functools.cache
def _bomb() -> bytes:
    """A list whose gzip is a tenth of a MB and whose JSON is 100 MB (whitespace)."""
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [pack.compress(json.dumps(page([order(1)]))[:-1].encode())]
    parts += [pack.compress(b" " * 2**20) for _ in range(100)]
    return b"".join([*parts, pack.compress(b"}"), pack.flush()])


def gzip_bomb(handler, encoding: str = "gzip") -> None:
    body = _bomb()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", encoding)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _fresh(n: int) -> tuple[dict, dict]:
    """An order placed an hour ago, its seller's deadline three days on (by the real clock): its
    list entry and detail."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    placed, paid, ship_by = now - dt.timedelta(hours=1), now - dt.timedelta(minutes=55), now + dt.timedelta(days=3)
    summary = order(n, order_date=f"{placed:%Y-%m-%d}")
    return summary, summary | {
        "payment_method": "card",
        "payment_method_label": "Card",
        "placed_at": placed.isoformat(),
        "paid_at": paid.isoformat(),
        "deadlines": {"ship_by": ship_by.isoformat()},
    }


def _clock_ahead(name: str, what: str, years: float) -> Case:
    """The bad account's site says it is ``years`` ahead: its fresh orders' deadlines not passed
    for all that (exit 0, both orders recorded, no alert)."""
    (one, one_detail), (two, two_detail) = _fresh(1), _fresh(2)
    details = {one["id"]: one_detail, two["id"]: two_detail}
    return Case(
        name, 0, list=page([one, two]), detail=lambda h: _send(h, 200, json.dumps(details[h.order_id]).encode()),
        what=what, bad_orders=2, ahead=years * 365.25 * 86400, alerts=0,
    )  # fmt: skip


def _unreadable(name: str, what: str, *, bad_orders: int = 1, **answers) -> Case:
    """A case of one order out of bounds: exit 0, it unreadable, the bad account's others recorded."""
    return Case(name, 0, what=what, unreadable=1, bad_orders=bad_orders, **answers)


CASES = [
    Case("slow_body", 6, list=slow_body, what="the list's body, one byte every 0.5 s"),
    Case("slow_headers", 6, list=slow_headers, what="the list's status line and headers, one byte every 0.5 s"),
    Case("silent", 6, list=silent, what="takes the request, never answers"),
    Case("huge_body", 6, list=huge_body, what="a list answer of 500 MB"),
    Case("gzip_bomb", 6, list=gzip_bomb, what="a list of 100 MB, gzipped to 0.1 MB"),
    Case("double_gzip", 6, list=lambda h: gzip_bomb(h, "gzip, gzip"), what="an answer said to be gzipped twice"),
    Case("huge_total", 6, list=page([order(n) for n in range(1, 101)], total=10**12), what="claims 10^12 orders"),
    Case("claimed_total", 6, list=page([order(1), order(2), order(3)], total=200_000), what="claims 200,000, holds 3"),
    Case("bad_total", 6, list=page([order(1)], total="1e9"), what="a total that is no number of orders"),  # type: ignore[arg-type]
    Case("deep_nesting", 6, list=lambda h: _send(h, 200, b"[" * 100_000 + b"]" * 100_000), what="100,000 nested lists"),
    Case("not_json", 6, list=lambda h: _send(h, 200, b"<html>maintenance</html>"), what="HTML for JSON"),
    Case("redirected_list", 6, list=lambda h: _redirect(h, "/elsewhere"), what="the list redirected elsewhere"),
    _unreadable("bad_date", "an order placed in year 9999", detail=detail(1, placed_at="9999-12-31T23:00:00-05:00")),
    _unreadable("bad_list_date", "a list's date in 9999", list=page([order(1, order_date="9999-12-31"), order(2)])),
    _unreadable("bad_amount", "a total of 1E+999999999", list=page([order(1, total="1E+999999999"), order(2)])),
    _unreadable("negative_amount", "a negative total", list=page([order(1, total="-5.00"), order(2)])),
    _unreadable("bad_id", "an order id with a query in it", list=page([order(1, id="1&orderId=2"), order(2)])),
    _unreadable("long_id", "an order id of 100,000 digits", list=page([order(1, id="9" * 100_000)]), bad_orders=0),
    Case(
        "escape_key",
        0,
        detail=detail(1, deadlines={"\x1b]0;owned\x07ship_by": "2026-11-27T10:05:00+00:00"}),
        what="a deadline named with terminal escapes",
    ),
    Case(
        "escape_text",
        0,
        list=page([order(1, store="\x1b[2J\x1b]0;owned\x07Evil\u202eStore\u2028\u200b"), order(2)]),
        what="a store name with escapes, bidi and invisible characters",
    ),
    _clock_ahead("clock_ahead", "a Date header 10 years ahead, orders of today", 10),
    Case(
        "date_overflow",
        0,
        date="Fri, 31 Dec 9999 23:59:59 -1200",
        bad_orders=2,
        what="a Date header past the end of any calendar (9999 at -12:00)",
    ),
]
BY_NAME = {case.name: case for case in CASES}


def _redirect(handler, where: str) -> None:
    handler.send_response(302)
    handler.send_header("Location", where)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _send(handler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


# ---------------------------------------------------------------------- the imitation site
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileSite

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.server.foreign is not None:  # a site whose sign-in page is another site's
            self.server.seen[(True, url.path)] += 1
            self.server.asked.set()
            if url.path == "/login":
                _redirect(self, self.server.foreign.url + "/login")
            else:
                _send(self, 401, b'{"error": "sign in"}')
            return
        bad = self.bad = "sid=bad" in (self.headers.get("Cookie") or "")
        self.server.seen[(bad, url.path)] += 1
        self.server.asked.set()
        case = self.server.case
        try:
            if url.path == "/p/order/list.json":
                self._answer(case.list if bad else page([order(1), order(2)]))
            elif url.path == "/p/order/detail.json":
                self.order_id = parse_qs(url.query).get("orderId", ["0"])[0]
                n = int(self.order_id[-2:] or 0)
                self._answer(case.detail if bad and case.detail and (n == 1 or case.ahead) else detail(n))
            elif url.path == "/p/order/index.html":  # a page of the site, for the browser's fetch
                body = b"<!doctype html><title>My orders</title><h1>My orders</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                _send(self, 404, b'{"error": "not found"}')
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the bad account's is the case's time ahead."""
        bad, case = getattr(self, "bad", False), self.server.case
        if bad and case.date is not None:
            return case.date
        return super().date_time_string((timestamp or time.time()) + (case.ahead if bad else 0))

    def _answer(self, answer: Callable | dict) -> None:
        if callable(answer):
            answer(self)
            self.close_connection = True
        else:
            _send(self, 200, json.dumps(answer).encode())


class _ForeignHandler(BaseHTTPRequestHandler):
    """Another site's sign-in page: a form like the storefront's; what is posted to it is kept."""

    protocol_version = "HTTP/1.1"
    server: ForeignSignIn
    FORM = (
        b'<!doctype html><title>Sign in</title><form method="post" action="/login">'
        b'<label>Email <input name="email"></label><label>Password <input name="password" type="password"></label>'
        b"<button>Sign in</button></form>"
    )

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.FORM)))
        self.end_headers()
        self.wfile.write(self.FORM)

    def do_POST(self) -> None:
        self.server.posted.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.do_GET()


class _Served(ThreadingHTTPServer):
    """A server on a loopback port of its own, serving in a thread while in its ``with``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class ForeignSignIn(_Served):
    """A sign-in page on another origin (the same host, another port), keeping what it is sent."""

    def __init__(self):
        super().__init__(_ForeignHandler)
        self.posted: list[bytes] = []


class HostileSite(_Served):
    """The imitation site, answering the bad account as ``case`` says."""

    def __init__(self, case: Case, *, foreign: ForeignSignIn | None = None):
        """``foreign``: the site asks every request to sign in, on that other site's page."""
        super().__init__(_Handler)
        self.case = case
        self.foreign = foreign
        self.seen: Counter[tuple[bool, str]] = Counter()
        self.asked = threading.Event()  # a first request came


# ---------------------------------------------------------------------- one case
def environment(url: str, folder: Path, timeout: float, poll_via: str = "http") -> dict[str, str]:
    """`ordermon`'s environment for the two accounts, each with a kept session (no sign-in)."""
    from pydantic import SecretStr

    from flows.account import Account, StateFile
    from flows.settings import FlowSettings

    data = folder / "data"
    settings = FlowSettings(_env_file=None, storefront_url=url, data_dir=data)
    for email, sid in ((BAD, "bad"), (GOOD, "good")):
        cookie = {"name": "sid", "value": sid, "domain": "127.0.0.1", "path": "/", "expires": -1, "httpOnly": True}
        StateFile(settings, Account(url, email, SecretStr(PASSWORD))).save(
            {"cookies": [cookie | {"secure": False, "sameSite": "Lax"}], "origins": []}
        )
    accounts = [
        {"name": n, "storefront_url": url, "email": e, "password": PASSWORD} for n, e in (("bad", BAD), ("good", GOOD))
    ]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
    return base | {
        "ORDERMON_ACCOUNTS": json.dumps(accounts),
        "ORDERMON_DATA_DIR": str(data),
        "ORDERMON_DB": str(folder / "ordermon.db"),
        "ORDERMON_TIMEOUT": f"{timeout:g}",
        "ORDERMON_RETRY_BACKOFF": "0.1",
        "ORDERMON_FAILURE_THRESHOLD": "1",
        "ORDERMON_POLL_VIA": poll_via,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # this checkout's ordermon
    }


def run_case(case: Case, folder: Path, timeout: float, poll_via: str = "http") -> dict:
    """`ordermon monitor --once` against the case; what it did, and what it left. ``poll_via``
    "browser": the page's own fetch reads the answers (the peak RSS is then ordermon's process
    alone, not Chromium's)."""
    folder.mkdir(parents=True, exist_ok=True)
    with HostileSite(case) as site:
        env = environment(site.url, folder, timeout, poll_via)
        ran = _ordermon(["monitor", "--once"], env, folder, timeout)
        if case.code == 0:  # orders were recorded: what a user then sees of them, on a terminal
            (folder / "status").write_bytes(_status(env))
        requests = {f"{'bad' if bad else 'good'} {path}": n for (bad, path), n in sorted(site.seen.items())}
    return {
        "case": case.name,
        "what": case.what,
        **ran,
        "expected_exit": case.code,
        "requests": requests,
        "polls": _polls(folder / "ordermon.db"),
        "secrets": _found(folder, [PASSWORD]),
        "escapes": _found(folder, list(ESCAPES)),
    }


def _status(env: dict[str, str]) -> bytes:
    """What `ordermon status` prints (the same command, in this process: it only reads the database)."""
    from click.testing import CliRunner

    from monitor.cli import cli

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERMON_")}
    shown = CliRunner().invoke(cli, ["status"], env=unset | env, prog_name="ordermon")
    return shown.stdout_bytes + shown.stderr_bytes


def _ordermon(args: list[str], env: dict[str, str], folder: Path, timeout: float) -> dict:
    """One `ordermon` command, as a user runs it: its exit code, time, peak RSS and last lines."""
    out, err = folder / "stdout", folder / "stderr"
    started = time.monotonic()
    with out.open("ab") as stdout, err.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", *args], env=env, cwd=folder, stdout=stdout, stderr=stderr
        )
        killed, peak = False, [0]
        try:
            status = _wait(proc, 3 * timeout + 60, peak)
        except TimeoutError:
            proc.kill()
            _, status = os.waitpid(proc.pid, 0)
            killed = True
    return {
        "exit": os.waitstatus_to_exitcode(status) if not killed else "killed",
        "seconds": round(time.monotonic() - started, 2),
        "bound": 3 * timeout + 5,
        "peak_rss_mb": round(peak[0] / 1024, 1),
        "stderr": err.read_text(errors="replace").strip().splitlines()[-3:],
    }


# ---------------------------------------------------------------------- an unfriendly disk
VICTIM = "the user's own file\n"


def _victim(folder: Path) -> Path:
    path = folder / "victim.txt"
    path.write_text(VICTIM)
    return path


def lock_link(folder: Path, env: dict) -> tuple[list[str], Callable[[], list[str]]]:
    victim = _victim(folder)
    (folder / "ordermon.db.lock").symlink_to(victim)
    return ["monitor", "--once"], lambda: [] if victim.read_text() == VICTIM else ["the lock's target was written"]


def report_link(folder: Path, env: dict) -> tuple[list[str], Callable[[], list[str]]]:
    victim = _victim(folder)
    subprocess.run([sys.executable, "-m", "monitor.cli", "monitor", "--once"], env=env, cwd=folder,
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    (folder / "report.html").symlink_to(victim)

    def check() -> list[str]:
        report = folder / "report.html"
        broken = [] if victim.read_text() == VICTIM else ["the report's link target was written"]
        return broken + ([] if report.is_file() and not report.is_symlink() else ["no report written"])

    return ["report", "--out", "report.html"], check


def foreign_database(folder: Path, env: dict) -> tuple[list[str], Callable[[], list[str]]]:
    path = folder / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table orders (reference text, amount real)")
        conn.execute("PRAGMA user_version = 4")  # an older ordermon's version, claimed
    conn.close()
    before = path.read_bytes()
    env["ORDERMON_DB"] = str(path)
    return ["monitor", "--once"], lambda: [] if path.read_bytes() == before else ["the foreign file was changed"]


def _mounted(folder: Path, options: str) -> Path:
    """A small tmpfs at ``folder``/disk (root only: else the case is not available here)."""
    disk = folder / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], capture_output=True)
    if done.returncode != 0:
        raise NotAvailable(f"no tmpfs mount here: {done.stderr.decode(errors='replace').strip()[:80]}")
    return disk


def full_disk(folder: Path, env: dict) -> tuple[list[str], Callable[[], list[str]]]:
    env["ORDERMON_DB"] = str(_mounted(folder, "size=48k") / "ordermon.db")
    return ["monitor", "--once"], lambda: []


def read_only_folder(folder: Path, env: dict) -> tuple[list[str], Callable[[], list[str]]]:
    env["ORDERMON_DB"] = str(_mounted(folder, "ro,size=48k") / "ordermon.db")
    return ["monitor", "--once"], lambda: []


class NotAvailable(Exception):
    """A local case this machine cannot set up (a tmpfs needs root)."""


LOCAL = {
    "lock_link": (lock_link, 7, "a symbolic link planted at the database's lock"),
    "report_link": (report_link, 0, "a symbolic link planted at the report's path"),
    "foreign_database": (foreign_database, 7, "a file with an orders table claiming an older ordermon's schema"),
    "full_disk": (full_disk, 7, "the database on a full disk (a 48 KB tmpfs)"),
    "read_only_folder": (read_only_folder, 7, "the database in a read-only folder (a read-only tmpfs)"),
}


def run_local(name: str, folder: Path, timeout: float) -> dict:
    """A local case: the site answers well, the disk does not; the command and what it left."""
    setup, code, what = LOCAL[name]
    folder.mkdir(parents=True, exist_ok=True)
    with HostileSite(Case("good", 0)) as site:
        env = environment(site.url, folder, timeout)
        try:
            args, check = setup(folder, env)
        except NotAvailable as exc:
            return {"case": name, "what": what, "skipped": str(exc), "broken": []}
        try:
            ran = _ordermon(args, env, folder, timeout)
            broken = check()
        finally:
            if (folder / "disk").is_mount():
                subprocess.run(["umount", str(folder / "disk")], check=False)
    if ran["exit"] != code:
        broken.append(f"exit {ran['exit']}, expected {code}")
    if code and len(ran["stderr"]) != 1:
        broken.append(f"not one line: {ran['stderr']}")
    found = _found(folder, [PASSWORD])
    return {"case": name, "what": what, **ran, "expected_exit": code, "secrets": found, "broken": broken + found}


def _wait(proc: subprocess.Popen, timeout: float, peak: list[int]) -> int:
    """The child's exit status, waited for at most ``timeout``; ``peak[0]``: its peak RSS in KB, its
    own memory's high-water mark (/proc VmHWM) read every 20 ms. Not wait4's ru_maxrss: Linux
    starts a forked child's at its parent's size (a test worker of 370 MB made every case 370 MB)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        peak[0] = max(peak[0], _high_water(proc.pid))
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status
        time.sleep(0.02)  # another process: its memory is watched through /proc
    raise TimeoutError


def _high_water(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def _polls(db: Path) -> dict[str, dict]:
    """Each account's last poll: its error, and the orders it has recorded."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        out = {}
        for account, error in conn.execute("SELECT account, error FROM polls ORDER BY id"):
            out[account] = {"error": error}
        for account, count in conn.execute("SELECT account, count(*) FROM orders GROUP BY account"):
            out.setdefault(account, {})["orders"] = count
        for account, rule in conn.execute("SELECT account, rule FROM alerts"):
            kind = "health_alerts" if rule.startswith("monitor_") else "alerts"
            out.setdefault(account, {}).setdefault(kind, []).append(rule)
        with contextlib.suppress(sqlite3.OperationalError):  # an ordermon without the table
            for account, count in conn.execute("SELECT account, count(*) FROM unreadable GROUP BY account"):
                out.setdefault(account, {})["unreadable"] = count
    return out


def _found(folder: Path, needles: list[str]) -> list[str]:
    """Every file under ``folder`` (outputs, kept state; the database's text, as a dump of it)
    holding one of ``needles``."""
    hits = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.endswith(("-wal", "-shm", ".lock")):
            continue  # the database's binary files: its text is read from its dump
        if path.name.endswith(".db"):
            with sqlite3.connect(path) as conn:
                data = "\n".join(conn.iterdump()).encode()
        else:
            data = path.read_bytes()
        hits += [f"{path.relative_to(folder)}: {n!r}" for n in needles if n.encode() in data]
    return hits


def verdict(result: dict, case: Case) -> list[str]:
    """What a case's result breaks of the campaign's rules (empty: it holds)."""
    broken = []
    if result["exit"] != result["expected_exit"]:
        broken.append(f"exit {result['exit']}, expected {result['expected_exit']}")
    if result["seconds"] > result["bound"]:
        broken.append(f"{result['seconds']} s, more than {result['bound']} s")
    if result["peak_rss_mb"] * 2**20 > RSS_LIMIT:
        broken.append(f"peak RSS {result['peak_rss_mb']} MB")
    if result["secrets"] or result["escapes"]:
        broken.append(f"found: {result['secrets'] + result['escapes']}")
    good, bad = result["polls"].get("good", {}), result["polls"].get("bad", {})
    if good.get("error") or good.get("orders") != 2:
        broken.append(f"the good account: {good}")
    if result["expected_exit"] and not bad.get("error"):
        broken.append("the bad account's failed poll was not recorded")
    if result["expected_exit"] and bad.get("health_alerts") != ["monitor_failing"]:  # the threshold is 1
        broken.append(f"the bad account's monitor_failing alert: {bad.get('health_alerts')}")
    if case.alerts is not None and len(bad.get("alerts", [])) != case.alerts:
        broken.append(f"the bad account's alerts: {bad.get('alerts')}, expected {case.alerts}")
    if bad.get("unreadable", 0) != case.unreadable or case.bad_orders not in (None, bad.get("orders", 0)):
        broken.append(f"the bad account: {bad}, expected {case.bad_orders} orders and {case.unreadable} unreadable")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="ORDERMON_TIMEOUT of each run (default 5)")
    parser.add_argument("--case", action="append", choices=sorted([*BY_NAME, *LOCAL]), help="only these cases")
    parser.add_argument("--poll-via", choices=["http", "browser"], default="http", help="how ordermon reads")
    parser.add_argument("--json", action="store_true", help="the results as JSON")
    args = parser.parse_args(argv)
    import tempfile

    results = []
    names = args.case or [*BY_NAME, *LOCAL]
    with tempfile.TemporaryDirectory(prefix="ordermon-hostile-") as tmp:
        for name in names:
            if name in LOCAL:
                result = run_local(name, Path(tmp) / name, args.timeout)
            else:
                result = run_case(BY_NAME[name], Path(tmp) / name, args.timeout, args.poll_via)
                result["broken"] = verdict(result, BY_NAME[name])
            results.append(result)
            if args.json:
                continue
            if "skipped" in result:
                print(f"--  {name:16} not available: {result['skipped']}", flush=True)
                continue
            mark = "ok " if not result["broken"] else "BAD"
            print(
                f"{mark} {name:16} exit {result['exit']!s:>3}  {result['seconds']:6.2f} s  "
                f"{result['peak_rss_mb']:6.1f} MB  {'; '.join(result['broken'])}",
                flush=True,
            )
    failed = [r["case"] for r in results if r["broken"]]
    if args.json:
        print(
            json.dumps(
                {"timeout": args.timeout, "poll_via": args.poll_via, "cases": results, "failed": failed}, indent=2
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
