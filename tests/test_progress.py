"""Progress on long work: a bar with a percentage on a terminal (the first poll over many orders,
`orders` over many pages, a batch cancel), never with --json, never when stderr is not a terminal."""

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

import pytest
from conftest import ordermon

pytestmark = pytest.mark.e2e


def on_terminal(env: dict, *args: str, cwd) -> tuple[int, str, str]:
    """Run `ordermon` with its stderr on a pseudo-terminal: (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(process.stdout.read()))
    reader.start()
    shown, deadline = bytearray(), time.monotonic() + 180
    while True:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            process.kill()
            pytest.fail(f"ordermon {' '.join(args)} still writing after 180 s")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    code = process.wait(timeout=180)
    reader.join(timeout=60)
    assert env["ORDERMON_PASSWORD"] not in shown.decode() + out[0].decode()
    return code, out[0].decode(), shown.decode()


@pytest.mark.storefront(orders=350)
def test_orders_over_many_pages(cli_env, tmp_path):
    code, out, shown = on_terminal(cli_env, "orders", cwd=tmp_path)
    assert code == 0
    assert "reading pages" in shown and "4/4" in shown and "100%" in shown
    assert len(out.splitlines()) == 1 + 350 and "%" not in out
    code, out, shown = on_terminal(cli_env, "orders", "--json", cwd=tmp_path)
    assert code == 0 and len(json.loads(out)) == 350 and "%" not in shown
    piped = ordermon(cli_env, "orders", cwd=tmp_path)  # stderr not a terminal
    assert piped.returncode == 0 and "%" not in piped.stderr and piped.stderr.strip() == "350 orders"


@pytest.mark.storefront(orders=350)
def test_the_first_poll_over_many_orders(cli_env, tmp_path):
    code, _, shown = on_terminal(cli_env, "monitor", "--once", cwd=tmp_path)
    assert code == 0
    assert "reading order details" in shown and "300/350" in shown and "350/350" in shown and "100%" in shown
    assert shown.rstrip().splitlines()[-1].startswith("poll ")  # the poll's line comes after the bar
    code, out, shown = on_terminal(cli_env, "monitor", "--once", "--json", cwd=tmp_path)
    assert code == 0 and "%" not in shown and json.loads(out)["orders_seen"] == 350


@pytest.mark.storefront(orders=0)
def test_a_batch_cancel(cli_env, storefront, tmp_path):
    ids = [storefront.admin.create_order(status="awaiting_shipment", seller="silent")["id"] for _ in range(2)]
    code, out, shown = on_terminal(cli_env, "cancel", *ids, "--reason", "out of stock", "--dry-run", cwd=tmp_path)
    assert code == 0
    assert "cancelling" in shown and "2/2" in shown and "100%" in shown
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == ids
    code, out, shown = on_terminal(
        cli_env, "cancel", *ids, "--reason", "out of stock", "--dry-run", "--json", cwd=tmp_path
    )
    assert code == 0 and "%" not in shown and len(out.splitlines()) == 2
