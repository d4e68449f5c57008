"""ORDERMON_BROWSER_ENDPOINT: polls through a `playwright run-server` on loopback."""

import json
import os
import socket
import subprocess
import sys

import pytest

from flows import browser as discovery

pytestmark = pytest.mark.e2e


@pytest.fixture
def run_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "playwright", "run-server", "--port", str(port),
                             "--host", "127.0.0.1", "--unsafe"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # it says where it listens once it does
            if "Listening on" in line:
                break
        yield f"ws://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_monitor_polls_through_a_remote_playwright_server(run_server, storefront, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
        "ORDERMON_STOREFRONT_URL": storefront.url, "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password, "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_DB": str(tmp_path / "ordermon.db"), "ORDERMON_BROWSER_ENDPOINT": run_server,
        "ORDERMON_BROWSER_PATH": discovery.require_chromium(),
    }
    result = subprocess.run([sys.executable, "-m", "monitor.cli", "monitor", "--once", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    poll = json.loads(result.stdout)
    assert poll["orders_seen"] == 40 and poll["error"] is None


def test_unreachable_endpoint_is_a_clear_error(tmp_path, storefront):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")} | {
        "ORDERMON_STOREFRONT_URL": storefront.url, "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password, "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_BROWSER_ENDPOINT": "ws://127.0.0.1:9/", "ORDERMON_TIMEOUT": "2",
    }
    result = subprocess.run([sys.executable, "-m", "monitor.cli", "orders"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot start or reach ws://127.0.0.1:9/")
