"""Bad input: a one-line error, a distinct exit code, nothing changed or lost."""

import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from monitor.store import MIGRATIONS, SCHEMA_VERSION, Store

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(storefront, tmp_path):
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
        "ORDERMON_STOREFRONT_URL": storefront.url, "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password, "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_DB": str(tmp_path / "ordermon.db"), "ORDERMON_RETRY_BACKOFF": "0.05",
    }


def run(env, *args, **extra):
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True,
                          env=env | extra, timeout=180)


def one_line(result, code, text):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


def test_unreachable_storefront(env):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    one_line(run(env, "orders", "--retries", "1", ORDERMON_STOREFRONT_URL=f"http://127.0.0.1:{port}"), 6,
             "unavailable")


def test_corrupt_storage_state(env, storefront, tmp_path):
    assert run(env, "orders").returncode == 0
    (state,) = (tmp_path / "data").glob("state-*.json")
    state.write_text("{broken")
    one_line(run(env, "orders"), 7, "corrupt")
    assert state.read_text() == "{broken"


def test_older_schema_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    import sqlite_utils

    db = sqlite_utils.Database(path)
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 1")
    db["orders"].insert({"account": "a", "order_id": "8100000000001234", "status": "closed"})
    db["alerts"].insert({"account": "a", "order_id": "8100000000001234", "rule": "refund_overdue",
                         "deadline": "2026-01-01T00:00:00+00:00", "message": "m"})
    db.close()
    store = Store(path)
    assert store.migrated_from == 1 and store.version == SCHEMA_VERSION
    assert store.orders()[0]["order_id"] == "8100000000001234"
    assert store.alerts()[0]["level"] == ""
    store.close()


def test_newer_schema_is_refused_untouched(env, tmp_path):
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    one_line(run(env, "status", "--db", str(path)), 7, "newer than this ordermon")
    assert path.read_bytes() == before


def test_bad_reason_and_order_id_change_nothing(env, storefront):
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    one_line(run(env, "cancel", order["id"], "--reason", "zzz"), 2, "unknown reason")
    one_line(run(env, "cancel", "not-an-id", "--reason", "wrong"), 2, "16 digits")
    assert storefront.admin.order(order["id"])["cancel_requests"] == 0


def test_storefront_binds_loopback_by_default():
    from fixtures.storefront import StorefrontServer

    with StorefrontServer() as server:
        assert server.host == "127.0.0.1"
    result = subprocess.run([sys.executable, "-m", "monitor.cli", "storefront", "--help"], capture_output=True,
                            text=True)
    assert "default: 127.0.0.1" in " ".join(result.stdout.split())
