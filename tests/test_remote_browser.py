"""ORDERMON_BROWSER_ENDPOINT: polls through a `playwright run-server` on loopback."""

import json
import os
import secrets
import signal
import subprocess
import sys

import pytest
from conftest import clean_env, free_port, line_with

from flows import browser as discovery

pytestmark = pytest.mark.e2e

MARK = "REMOTE_BROWSER_MARK"  # in the run-server's environment only: what it launches inherits it


@pytest.fixture
def run_server():
    """``(ws endpoint, mark)``: a run-server in a process group of its own (its Node driver and the
    browsers it launches end with it), with ``mark`` in its environment."""
    port = free_port()
    mark = secrets.token_hex(8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--port", str(port), "--host", "127.0.0.1", "--unsafe"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {MARK: mark},
        start_new_session=True,
    )
    try:
        line_with(proc.stdout, "Listening on", timeout=60)  # it says where it listens once it does
        yield f"ws://127.0.0.1:{port}/", mark
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_monitor_polls_through_a_remote_playwright_server(run_server, storefront, tmp_path):
    endpoint, mark = run_server
    # The Chromium to launch is a wrapper that notes who launched it: the run-server's environment
    # carries the mark, the monitor's does not. A monitor that ignored the endpoint and launched the
    # same path itself would leave a line without it.
    launches = tmp_path / "launches.log"
    wrapper = tmp_path / "chromium"
    wrapper.write_text(
        f'#!/bin/sh\necho "${{{MARK}:-launched-locally}}" >> "{launches}"\nexec "{discovery.require_chromium()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {k: v for k, v in clean_env().items() if k != MARK} | {
        "ORDERMON_STOREFRONT_URL": storefront.url,
        "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password,
        "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_DB": str(tmp_path / "ordermon.db"),
        "ORDERMON_BROWSER_ENDPOINT": endpoint,
        "ORDERMON_BROWSER_PATH": str(wrapper),
    }
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "monitor", "--once", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    poll = json.loads(result.stdout)
    assert poll["orders_seen"] == 40 and poll["error"] is None
    assert storefront.admin.state()["requests"].get("POST /login") == 1  # the browser signed in
    assert launches.read_text().split() == [mark]  # one browser, launched by the run-server


def test_unreachable_endpoint_is_a_clear_error(tmp_path, storefront):
    env = clean_env() | {
        "ORDERMON_STOREFRONT_URL": storefront.url,
        "ORDERMON_EMAIL": storefront.email,
        "ORDERMON_PASSWORD": storefront.password,
        "ORDERMON_DATA_DIR": str(tmp_path / "data"),
        "ORDERMON_BROWSER_ENDPOINT": "ws://127.0.0.1:9/",
        "ORDERMON_TIMEOUT": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "orders"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot start or reach ws://127.0.0.1:9/")
