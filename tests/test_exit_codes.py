"""Bad input against every command: the README's exit code and one line on stderr, nothing changed.

Every case below asserts the code it declares; ``test_the_matrix_covers_the_readme``
checks that the declared codes are exactly the README's table.
"""

import errno
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import READ_ONLY, free_port, one_line_error, ordermon, ordermon_here

from monitor.exits import Exit, code_for, message_for
from monitor.lock import MonitorLock

pytestmark = pytest.mark.e2e

README = Path(__file__).parent.parent / "README.md"


@dataclass
class World:
    """What a case may prepare and check: the storefront, the environment, a folder, the database."""

    storefront: object
    env: dict
    tmp: Path

    @property
    def db(self) -> Path:
        return Path(self.env["ORDERMON_DB"])

    def poll(self) -> None:
        result = ordermon(self.env, "monitor", "--once")
        assert result.returncode == 0, result.stderr


def empty_database(world: World) -> Path:
    from monitor.store import SqliteStore

    SqliteStore(world.db).close()
    return world.db


@dataclass
class Case:
    code: int
    args: list[str]
    text: str
    env: dict = field(default_factory=dict)
    before: Callable[[World], object] | None = None  # prepares; what it returns goes to ``after``
    after: Callable[[World, object], None] | None = None  # checks that nothing changed

    def __str__(self) -> str:
        return f"{self.code}-{'-'.join(self.args)[:40]}"


def shippable(w: World) -> str:
    return w.storefront.admin.create_order(status="awaiting_shipment", seller="silent")["id"]


def under_maintenance(w: World) -> str:
    order_id = shippable(w)
    w.storefront.admin.faults(maintenance=True)
    return order_id


def no_request_made(w: World, order_id: str) -> None:
    assert w.storefront.admin.order(order_id)["cancel_requests"] == 0


def a_file(name: str, content: bytes):
    def make(w: World) -> Path:
        path = w.tmp / name
        path.write_bytes(content)
        return path

    return make


def newer_database(w: World) -> Path:
    path = w.tmp / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    return path


def unchanged(content: bytes | None = None):
    def check(w: World, path: Path) -> None:
        assert path.read_bytes() == (content if content is not None else path.read_bytes())

    return check


def corrupt_state(w: World) -> Path:
    w.poll()
    (state,) = (w.tmp / "data").glob("state-*.json")
    state.write_text("{broken")
    return state


def state_of(w: World, content: str | None) -> Path:
    """The kept session replaced: by ``content``, or by a folder."""
    state = corrupt_state(w)
    state.unlink()
    if content is None:
        state.mkdir()
    else:
        state.write_text(content)
    return state


def other_app(w: World) -> Path:
    path = w.tmp / "other-app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table notes (id integer primary key, text text)")
        conn.execute("insert into notes (text) values ('mine')")
    conn.close()
    return path


def first_schema(w: World) -> Path:
    path = w.tmp / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "data" / "schema_v1.sql").read_text())
    conn.close()
    return path


NOT_SQLITE = b"not a database\n" * 100
CASES = [
    # 2: bad usage, a bad or missing setting, an unknown or ambiguous reason
    Case(2, ["status"], "ORDERMON_POLL_INTERVAL", env={"ORDERMON_POLL_INTERVAL": "abc"}),
    Case(2, ["report"], "ORDERMON_POLL_INTERVAL", env={"ORDERMON_POLL_INTERVAL": "abc"}),
    Case(2, ["alerts"], "ORDERMON_ACCOUNTS", env={"ORDERMON_ACCOUNTS": "[{not json"}),
    Case(2, ["monitor", "--once"], "ORDERMON_ACCOUNTS", env={"ORDERMON_ACCOUNTS": '[{"email": "x"}]'}),
    Case(2, ["monitor", "--once"], "ORDERMON_ALERT_URLS", env={"ORDERMON_ALERT_URLS": "nonsense://nowhere"}),
    Case(2, ["orders"], "ORDERMON_PASSWORD", env={"ORDERMON_PASSWORD": ""}),
    Case(2, ["orders"], "ORDERMON_TIMEOUT", env={"ORDERMON_TIMEOUT": "-1"}),
    Case(
        2,
        ["cancel", "8100000000001234", "--reason", "wrong"],
        "ORDERMON_STOREFRONT_URL",
        env={"ORDERMON_STOREFRONT_URL": "ftp://x"},
    ),
    Case(2, ["cancel", "12ab", "--reason", "wrong"], "16 digits"),
    Case(2, ["cancel", "\uff18\uff11\uff17\uff19" * 4, "--reason", "wrong"], "16 digits"),  # full-width digits
    Case(
        2,
        ["monitor", "--once"],
        "user name or password",
        env={"ORDERMON_STOREFRONT_URL": "http://bob:s3cret@x:1"},
        after=lambda w, _: not w.db.exists() or pytest.fail("a database was made"),
    ),
    Case(2, ["orders", "--tab", "nope"], "--tab"),
    Case(2, ["status", "--bogus"], "--bogus"),
    Case(2, ["history"], "ORDER_ID"),
    Case(2, ["demo", "--seconds", "1"], "--seconds"),
    Case(2, ["storefront", "--time-scale", "0"], "--time-scale"),
    Case(2, ["nosuch"], "No such command"),
    Case(
        2,
        ["cancel", "{order}", "--reason", "supplier"],
        "I placed a duplicate order",
        before=shippable,
        after=no_request_made,
    ),
    Case(2, ["cancel", "{order}", "--reason", "teleported"], "unknown reason", before=shippable, after=no_request_made),
    # 3: the order cannot be cancelled in its state
    Case(
        3,
        ["cancel", "{order}", "--reason", "wrong"],
        "Awaiting delivery",
        before=lambda w: w.storefront.admin.create_order(status="awaiting_delivery")["id"],
        after=no_request_made,
    ),
    # 4: order not found
    Case(4, ["cancel", "8100000000000000", "--reason", "wrong"], "not found"),
    Case(4, ["history", "8100000000000000"], "is not in", before=lambda w: w.poll()),
    # 5: sign-in failed
    Case(5, ["orders"], "incorrect", env={"ORDERMON_PASSWORD": "definitely-wrong"}),
    Case(5, ["monitor", "--once"], "captcha", before=lambda w: w.storefront.admin.faults(captcha=True)),
    # 6: site unavailable after the retries
    Case(6, ["orders", "--retries", "1", "--storefront-url", "{closed_port}"], "unavailable"),
    Case(
        6,
        ["monitor", "--once", "--retries", "1"],
        "HTTP 500",
        before=lambda w: w.storefront.admin.faults(error_rate=1.0),
    ),
    # 7: local state unusable
    Case(
        7,
        ["status", "--db", "{tmp}/missing.db"],
        "no database",
        after=lambda w, _: not (w.tmp / "missing.db").exists() or pytest.fail("created"),
    ),
    Case(
        7,
        ["status", "--db", "{tmp}/notes.txt"],
        "not an ordermon database",
        before=a_file("notes.txt", NOT_SQLITE),
        after=unchanged(NOT_SQLITE),
    ),
    Case(
        7,
        ["alerts", "--db", "{tmp}/newer.db"],
        "newer than this ordermon",
        before=newer_database,
        after=lambda w, path: None,
    ),
    Case(
        7,
        ["orders"],
        "delete it",
        before=corrupt_state,
        after=lambda w, state: state.read_text() == "{broken" or pytest.fail("rewritten"),
    ),
    Case(7, ["orders"], "delete it", before=lambda w: state_of(w, json.dumps({"cookies": [{"name": 1}]}))),
    Case(
        7,
        ["orders"],
        "delete it",
        before=lambda w: state_of(
            w,
            json.dumps({"cookies": [{"name": "a", "value": "b", "domain": "", "path": "/", "sameSite": "Sometimes"}]}),
        ),
    ),
    Case(7, ["orders"], "delete it", before=lambda w: state_of(w, None)),
    Case(7, ["status", "--db", "{tmp}/other-app.db"], "not an ordermon database", before=other_app),
    Case(
        7,
        ["status"],
        "not a database file",
        env={"ORDERMON_DB": "/dev/null"},
        after=lambda w, _: not Path("/dev/null-journal").exists() or pytest.fail("journal"),
    ),
    Case(7, ["alerts", "--db", "{tmp}/old.db"], "older ordermon", before=first_schema),
    Case(7, ["monitor", "--once"], "another ordermon monitor", before=lambda w: MonitorLock(w.db).acquire()),
    # 8: status --check finds the monitor unhealthy (the database is only read)
    Case(8, ["status", "--check"], "no successful poll recorded", before=lambda w: empty_database(w)),
    Case(8, ["status", "--check", "--interval", "0.001"], "more than two intervals", before=lambda w: w.poll()),
    # 2: a command whose extra is not installed is the usage table's; checked in tests/test_extras.py
    Case(2, ["cancel", "--reason", "wrong"], "give an ORDER_ID or --from FILE"),
    Case(2, ["cancel", "--from", "{tmp}/missing.txt", "--reason", "wrong"], "missing.txt"),
    # 6 too: the site answered its JSON with something else (a maintenance page): the site's fault
    Case(6, ["orders"], "order list", before=lambda w: w.storefront.admin.faults(maintenance=True)),
    # 1: unexpected (a page the cancel flow does not know keeps artifacts)
    Case(1, ["cancel", "{order}", "--reason", "wrong"], "unexpected", before=lambda w: under_maintenance(w)),
]


def _marked(case: Case):
    """Signing in is what a case of code 5 is about: its commands start without a kept session."""
    return pytest.param(case, id=str(case), marks=[pytest.mark.fresh_sign_in] if case.code == 5 else [])


@pytest.mark.parametrize("case", [_marked(case) for case in CASES])
def test_bad_input(case: Case, storefront, cli_env, tmp_path):
    world = World(storefront, cli_env, tmp_path)
    prepared = case.before(world) if case.before else None
    fill = {
        "order": prepared if isinstance(prepared, str) else "",
        "tmp": str(tmp_path),
        "closed_port": f"http://127.0.0.1:{free_port()}",
    }
    args = [arg.format(**fill) for arg in case.args]
    before = prepared.read_bytes() if isinstance(prepared, Path) and prepared.is_file() else None
    run = ordermon_here if args[0] in READ_ONLY else ordermon
    one_line_error(run(cli_env, *args, **case.env), case.code, case.text)
    if case.after:
        case.after(world, prepared)
    if before is not None:
        assert prepared.read_bytes() == before  # refused untouched


def test_the_matrix_covers_the_readme():
    section = README.read_text().split("**Exit codes**", 1)[1].split("\n\n", 2)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert documented - {0} == {case.code for case in CASES}


@pytest.mark.parametrize(
    "refused",
    [
        OSError(errno.ENOSPC, "No space left on device", "/data/ordermon.db"),
        PermissionError(errno.EACCES, "Permission denied", "/read-only/ordermon.db"),
        OSError(errno.EROFS, "Read-only file system", "/mnt/ro/report.html"),
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("attempt to write a readonly database"),
    ],
    ids=["disk full", "no permission", "read-only file system", "sqlite: disk full", "sqlite: read-only"],
)
def test_a_disk_that_refuses_ordermons_files_is_local_state_in_one_line(refused):
    """Root ignores folder permissions and a full disk needs a mount: the mapping itself, here."""
    assert code_for(refused) == Exit.LOCAL_STATE
    assert message_for(refused).startswith("cannot write ordermon's files: ")
    assert code_for(PermissionError(errno.EACCES, "Permission denied")) == Exit.UNEXPECTED  # a socket's: no file
