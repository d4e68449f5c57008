"""The buyer's password, and its proxy's, never reach a log, trace, screenshot, artifact, the database
or output."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ordermon as run
from counting_proxy import CountingProxy

pytestmark = pytest.mark.e2e


def all_bytes(path: Path):
    """Every file below ``path``, and every member of every zip (traces) among them."""
    for file in path.rglob("*"):
        if not file.is_file():
            continue
        data = file.read_bytes()
        yield str(file), data
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                for name in archive.namelist():
                    yield f"{file}!{name}", archive.read(name)


PROXY_SECRET = "proxy-pa55word-Q7"


@pytest.fixture
def proxy():
    with CountingProxy("proxy-user", PROXY_SECRET) as counting:
        yield counting


@pytest.mark.long
def test_password_is_nowhere(storefront, tmp_path, alert_receiver, cli_env, proxy):
    password = storefront.password
    env = cli_env | {"ORDERMON_ALERT_URLS": alert_receiver.url, "ORDERMON_DEBUG": ""}
    env["ORDERMON_PROXY"] = f"http://proxy-user:{PROXY_SECRET}@{proxy.address}"  # every request through it
    outputs = []
    order = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    outputs.append(run(env, "cancel", order["id"], "--reason", "wrong", "--json"))
    outputs.append(run(env, "orders", "--json"))
    outputs.append(run(env, "monitor", "--once", "--json"))
    outputs.append(run(env, "alerts", "--json"))
    # A failure with artifacts: the session expires, the site shows a maintenance page.
    other = storefront.admin.create_order(status="awaiting_shipment", seller="silent")
    storefront.admin.faults(expire_sessions=True)
    storefront.admin.faults(maintenance=True, target="GET /p/order/detail.html")
    failed = run(env, "cancel", other["id"], "--reason", "wrong", "--json", "--timeout", "2", ORDERMON_TRACE="true")
    outputs.append(failed)
    assert failed.returncode == 1 and "artifacts" in failed.stdout
    storefront.admin.faults(clear=True)
    outputs.append(run(env, "report", "--out", str(tmp_path / "report.html")))

    artifacts = list((tmp_path / "data" / "artifacts").iterdir())
    assert any(p.name.endswith(".trace.zip") for p in artifacts) and any(p.suffix == ".png" for p in artifacts)
    assert proxy.passed > 0
    for secret in (password, PROXY_SECRET):
        for result in outputs:
            assert secret not in result.stdout and secret not in result.stderr
        for where, data in all_bytes(tmp_path):
            assert secret.encode() not in data, where
        for item in alert_receiver.received:
            assert secret not in str(item)

    private = [tmp_path / "ordermon.db", *artifacts, *(tmp_path / "data").glob("state-*.json")]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_browser_and_its_driver_start_without_ordermons_settings(tmp_path):
    """Playwright's driver and the Chromium it launches get no ORDERMON_* variable (a helper that
    logs or crashes with its environment must not carry the password), and ordermon keeps them.
    In a process of its own: this one may run pytest-playwright's driver already."""
    probe = (
        "import json, os, psutil\n"
        "from flows.browser import Browser\n"
        "from flows.settings import FlowSettings\n"
        "with Browser(FlowSettings(_env_file=None)):\n"
        "    found = [p.environ() for p in psutil.Process().children(recursive=True)]\n"
        "print(json.dumps({'helpers': found, 'own': os.environ.get('ORDERMON_PASSWORD')}))\n"
    )
    env = os.environ | {"ORDERMON_PASSWORD": "env-s3cret-password", "ORDERMON_DATA_DIR": str(tmp_path)}
    env["ORDERMON_ACCOUNTS"] = '[{"password": "env-s3cret-password"}]'
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found["helpers"]) >= 2  # the driver, and Chromium's processes
    assert [name for helper in found["helpers"] for name in helper if name.startswith("ORDERMON_")] == []
    assert "env-s3cret-password" not in json.dumps(found["helpers"])
    assert found["own"] == "env-s3cret-password"
