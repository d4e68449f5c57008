"""The buyer's password never reaches a log, trace, screenshot, artifact, the database or output."""

import stat
import zipfile
from pathlib import Path

import pytest
from conftest import ordermon as run

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


@pytest.mark.long
def test_password_is_nowhere(storefront, tmp_path, alert_receiver, cli_env):
    password = storefront.password
    env = cli_env | {"ORDERMON_ALERT_URLS": alert_receiver.url, "ORDERMON_DEBUG": ""}
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
    for result in outputs:
        assert password not in result.stdout and password not in result.stderr
    secret = password.encode()
    for where, data in all_bytes(tmp_path):
        assert secret not in data, where
    for item in alert_receiver.received:
        assert password not in str(item)

    private = [tmp_path / "ordermon.db", *artifacts, *(tmp_path / "data").glob("state-*.json")]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
