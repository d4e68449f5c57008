"""`ordermon storefront` as a user runs it: a real process serving real HTTP."""

import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from conftest import lines_until

ORDERMON = [sys.executable, "-m", "monitor.cli"]


@pytest.fixture
def served():
    proc = subprocess.Popen(
        [*ORDERMON, "storefront", "--port", "0", "--orders", "3", "--admin-token", "tok"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = lines_until(proc.stdout, lambda line: line.startswith("Orders:"))
    yield proc, "".join(lines)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_serves_and_prints_url_credentials_and_token(served):
    proc, out = served
    url = re.search(r"Storefront:\s+(http://127\.0\.0\.1:\d+)/p/order/index.html", out).group(1)
    assert "buyer@example.com / ordermon-demo" in out
    assert "X-Admin-Token: tok" in out
    assert httpx.get(url + "/login").status_code == 200
    state = httpx.get(url + "/__admin/state", headers={"X-Admin-Token": "tok"}).json()
    assert len(state["orders"]) == 3
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_port_in_use_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*ORDERMON, "storefront", "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr


def test_bad_option_is_usage_error():
    result = subprocess.run([*ORDERMON, "storefront", "--time-scale", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--time-scale" in result.stderr


def test_a_password_given_on_the_command_line_is_not_printed():
    proc = subprocess.Popen(
        [*ORDERMON, "storefront", "--port", "0", "--orders", "0", "--password", "my-own-s3cret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = lines_until(proc.stdout, lambda line: line.startswith("Orders:"))
        assert "my-own-s3cret" not in "".join(banner) and "(the --password you gave)" in "".join(banner)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_stop_signal_as_soon_as_the_url_is_announced_ends_it_cleanly():
    """A supervisor may stop the storefront the moment it reads the URL, before uvicorn runs: the
    storefront must stop (exit 0), not die by the signal nor serve on."""
    code = (
        "import os, signal; from fixtures.storefront import Site, serve_forever; "
        "serve_forever(Site(orders=0), '127.0.0.1', 0, log_level='warning', "
        "announce=lambda url: os.kill(os.getpid(), signal.SIGTERM))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
