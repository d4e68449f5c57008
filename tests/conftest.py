import json
import locale
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from flows.http import tls

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(response: httpx.Response) -> str:
    match = CSRF.search(response.text)
    assert match, f"no CSRF token on {response.url}"
    return match.group(1)


@pytest.fixture
def buyer_http(storefront):
    """An httpx client signed in to the storefront as the demo buyer."""
    with httpx.Client(base_url=storefront.url, follow_redirects=False, timeout=10, verify=tls()) as client:
        token = csrf_from(client.get("/login"))
        response = client.post(
            "/login", data={"email": storefront.email, "password": storefront.password, "csrf_token": token}
        )
        assert response.status_code == 303
        yield client


@pytest.fixture
def victim(tmp_path):
    """A file of the user's that a planted link points at: it must come out as it went in."""
    path = tmp_path / "victim.txt"
    path.write_text("the user's own file\n")
    return path


def free_port() -> int:
    """A loopback port nobody listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This process's environment without any ORDERMON_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}


@pytest.fixture
def cli_env(storefront, tmp_path, request) -> dict[str, str]:
    """The environment of an `ordermon` command run against the storefront fixture. Its data folder
    holds the buyer's kept session, as after a first run, so that a command needs no browser to sign
    in; a test of signing in itself is marked ``fresh_sign_in`` (an empty data folder)."""
    return command_env(storefront, tmp_path, signed_in=not request.node.get_closest_marker("fresh_sign_in"))


def command_env(storefront, folder, *, signed_in: bool = True) -> dict[str, str]:
    """`cli_env` for a folder of one's own (``folder``/data, ``folder``/ordermon.db)."""
    data = folder / "data"
    if signed_in:
        keep_session(storefront, data)
    return clean_env() | {
        "ORDERMON_STOREFRONT_URL": storefront.url,
        "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password,
        "ORDERMON_DATA_DIR": str(data),
        "ORDERMON_DB": str(folder / "ordermon.db"),
        "ORDERMON_RETRY_BACKOFF": "0.05",
        "ORDERMON_POLL_JITTER": "0",
        "ORDERMON_MAX_CLOCK_SKEW": "inf",  # the storefront fixture travels in time
    }


_SESSIONS: dict[str, list[dict]] = {}  # per storefront (one per worker): the buyer's session cookies


def keep_session(storefront, data_dir) -> None:
    """The buyer's session where ordermon keeps it (a Playwright storage state), signed in once per
    worker over plain HTTP: a storefront reset keeps sessions, and one the site no longer knows makes
    ordermon sign in again with the browser, as it would for a user."""
    from flows.account import Account, StateFile
    from flows.settings import FlowSettings

    if storefront.url not in _SESSIONS:
        with httpx.Client(base_url=storefront.url, follow_redirects=False, timeout=10, verify=tls()) as client:
            token = csrf_from(client.get("/login"))
            data = {"email": storefront.email, "password": storefront.password, "csrf_token": token}
            assert client.post("/login", data=data).status_code == 303
            host = httpx.URL(storefront.url).host
            _SESSIONS[storefront.url] = [
                {"name": c.name, "value": c.value, "domain": host, "path": c.path, "expires": -1, "httpOnly": True,
                 "secure": False, "sameSite": "Lax"}
                for c in client.cookies.jar
            ]  # fmt: skip
    settings = FlowSettings(_env_file=None, storefront_url=storefront.url, data_dir=data_dir)
    account = Account(storefront.url, storefront.email, storefront.password)
    StateFile(settings, account).save({"cookies": _SESSIONS[storefront.url], "origins": []})


def ordermon(env: dict, *args: str, cwd=None, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess:
    """Run the `ordermon` command as a user does, in a process of its own; its output never holds the
    password. The process is forked from tests/zygote.py's server (the libraries imported once) unless
    the environment changes how an interpreter starts (a PYTHON* or locale variable): then it is a new
    interpreter, as is a command run while another thread of the test runs one."""
    env = env | extra
    starts_alike = all(env.get(k) == os.environ.get(k) for k in {*env, *os.environ} if k.startswith(_STARTUP))
    if starts_alike and _ZYGOTE.lock.acquire(blocking=False):
        try:
            result = _ZYGOTE.run(list(args), env, cwd, timeout)
        finally:
            _ZYGOTE.lock.release()
    else:
        result = subprocess.run(
            [sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, env=env, cwd=cwd,
            timeout=timeout,
        )  # fmt: skip
    password = env.get("ORDERMON_PASSWORD")
    if password:
        assert password not in result.stdout + result.stderr
    return result


_STARTUP = ("PYTHON", "LANG", "LC_")


class _Zygote:
    """This test process's connection to tests/zygote.py's server, started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server: subprocess.Popen | None = None

    def run(self, args: list[str], env: dict, cwd, timeout: float) -> subprocess.CompletedProcess:
        if self.server is None or self.server.poll() is not None:
            zygote = os.path.join(os.path.dirname(__file__), "zygote.py")
            self.server = subprocess.Popen(
                [sys.executable, zygote], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env(), bufsize=0
            )  # unbuffered: select() below sees every answer the server wrote
        with tempfile.TemporaryDirectory() as folder:
            out, err = os.path.join(folder, "out"), os.path.join(folder, "err")
            for path in (out, err):
                open(path, "wb").close()
            request = {"args": args, "env": env, "cwd": str(cwd) if cwd else None, "out": out, "err": err}
            self.server.stdin.write(json.dumps(request).encode() + b"\n")
            pid = int(self.server.stdout.readline())
            ready, _, _ = select.select([self.server.stdout], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                self.server.stdout.readline()
                raise subprocess.TimeoutExpired(["ordermon", *args], timeout)
            code = int(self.server.stdout.readline())
            stdout, stderr = (_text(path) for path in (out, err))
        return subprocess.CompletedProcess(["ordermon", *args], code, stdout, stderr)


def _text(path: str) -> str:
    """A stream's bytes read as subprocess.run(text=True) reads them (locale encoding, universal newlines)."""
    with open(path, encoding=locale.getpreferredencoding(False)) as stream:
        return stream.read()


_ZYGOTE = _Zygote()


#: Commands that read the database only, or stop at their usage: run in the test's own process.
READ_ONLY = frozenset({"status", "alerts", "history", "report", "calendar", "demo", "storefront", "serve", "nosuch"})


def ordermon_here(env: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """`ordermon` through click's CliRunner, the same entry point (exit codes, the one-line error on
    stderr) without a new interpreter: for a command of ``READ_ONLY`` (no site, no browser)."""
    from click.testing import CliRunner

    from monitor.cli import cli

    assert args[0] in READ_ONLY, f"`ordermon {args[0]}` runs as a process of its own: ordermon()"
    done = CliRunner().invoke(cli, list(args), env=env | extra, prog_name="ordermon")
    result = subprocess.CompletedProcess(["ordermon", *args], done.exit_code, done.stdout, done.stderr)
    password = env.get("ORDERMON_PASSWORD")
    if password:
        assert password not in result.stdout + result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.stderr


@pytest.fixture
def own_settings(shopper_settings, tmp_path):
    """The shopper's settings with a session folder of the test's own (not the worker's shared one)."""
    return shopper_settings.model_copy(update={"data_dir": tmp_path / "own-session"})


# ---------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of the tests' own (fixtures/postgres.py), with a template database that
    has ordermon's schema: each test's database is a copy of it."""
    from fixtures.postgres import LocalPostgres
    from monitor.store.postgres import PostgresStore

    with LocalPostgres() as server:
        PostgresStore(server.create_database("ordermon_template")).close()
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A database of the test's own on the tests' PostgreSQL server."""
    return postgres_server.create_database(f"test_{uuid.uuid4().hex[:16]}", template="ordermon_template")


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request, tmp_path) -> str:
    """What ``ORDERMON_DB`` would say, for each store: a SQLite file, a PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ordermon.db")
    return request.getfixturevalue("postgres_url")


LONG_TIMEOUT = 600  # a long test runs two to three times slower beside three other workers on 2 cores


def _expected_seconds(item) -> float:
    """A long test's time alone, as its marker says (``long(seconds=70)``); 20 s if it does not."""
    marker = item.get_closest_marker("long")
    return marker.kwargs.get("seconds", 20) if marker else 0


def pytest_collection_modifyitems(items):
    # xdist hands tests out in this order, two to each worker at first and one at a time then
    # (--maxschedchunk=1 in pyproject.toml; by default each worker would get a quarter of its share
    # at once, so all the long tests would run one after another on the first worker): the longest
    # tests start first, two workers apart.
    items.sort(key=_expected_seconds, reverse=True)
    for item in items:
        if item.get_closest_marker("long") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """ordermon's own suite launches with ordermon's quiet flags (the plugin adds none to other suites)."""
    from flows.browser import QUIET_ARGS

    return {**browser_type_launch_args, "args": [*browser_type_launch_args.get("args", []), *QUIET_ARGS]}


def lines_until(stream, done: Callable[[str], bool], timeout: float = 60) -> list[str]:
    """The lines of a child's ``stream`` up to the first one ``done`` accepts, read in a thread:
    waiting longer than ``timeout`` seconds, or the stream ending first, fails the test."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline, seen = time.monotonic() + timeout, []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no awaited line within {timeout} s; got {seen[-3:]}")
        if line is None:
            pytest.fail(f"the output ended without the awaited line; got {seen[-3:]}")
        seen.append(line)
        if done(line):
            return seen


def line_with(stream, text: str, timeout: float = 60) -> str:
    """The first line of ``stream`` that contains ``text`` (see ``lines_until``)."""
    return lines_until(stream, lambda line: text in line, timeout)[-1]


def facts(order_id, status, *, site_deadlines=None, episodes=None, last_shown=None, **known):
    """An order as the rules' tests write it: its facts, and the deadlines its page shows
    (``site_deadlines``), with their episodes and what the page last showed."""
    from monitor.order import Order

    site, episodes, last = site_deadlines or {}, episodes or {}, last_shown or {}
    deadlines = {
        name: {"site": site.get(name), "last_shown": last.get(name, site.get(name)), "episode": episodes.get(name, 0)}
        for name in {*site, *episodes, *last}
    }
    return Order(order_id=order_id, status=status, deadlines=deadlines, **known)
