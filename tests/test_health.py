"""`ordermon status --check`: exit 0 while the monitor works, 8 when its last successful poll is
older than two intervals or an outage is open (for systemd, Docker HEALTHCHECK, Nagios-style checks)."""

import json

import pytest
from conftest import READ_ONLY, ordermon, ordermon_here

pytestmark = pytest.mark.e2e


@pytest.fixture
def run(cli_env, tmp_path):
    def run(*args: str, **extra: str):
        if args[0] in READ_ONLY:
            return ordermon_here(cli_env, *args, **extra)
        return ordermon(cli_env, *args, cwd=tmp_path, **extra)

    return run


@pytest.mark.storefront(orders=3)
def test_healthy_after_a_poll_then_stale_after_two_intervals(run, storefront):
    assert run("monitor", "--once").returncode == 0
    healthy = run("status", "--check", "--interval", "900")
    assert healthy.returncode == 0, healthy.stderr
    label = f"{storefront.email}@{storefront.url.removeprefix('http://')}"
    assert healthy.stdout.startswith(f"ok: {label}: last successful poll at ")
    # The same poll against a monitor that should poll every 10 ms: two intervals have passed.
    stale = run("status", "--check", "--interval", "0.01")
    assert stale.returncode == 8
    assert stale.stderr.startswith(f"error: unhealthy: {label}: last successful poll ")
    assert "more than two intervals" in stale.stderr and len(stale.stderr.splitlines()) == 1
    report = json.loads(run("status", "--check", "--json", "--interval", "0.01").stdout)
    assert report["healthy"] is False and report["accounts"][0]["healthy"] is False


@pytest.mark.storefront(orders=3)
def test_an_open_outage_is_unhealthy_until_a_poll_succeeds(run, storefront):
    assert run("monitor", "--once").returncode == 0
    storefront.admin.faults(error_rate=1.0)
    assert run("monitor", "--once", ORDERMON_RETRIES="0").returncode == 6
    storefront.admin.faults(error_rate=0.0)
    result = run("status", "--check", "--json")
    assert result.returncode == 8
    report = json.loads(result.stdout)
    assert report["accounts"][0]["outage_since"] and "1 failed poll(s)" in report["problems"][0]
    assert "500" in result.stderr
    assert run("monitor", "--once").returncode == 0  # the site is back: the outage ends
    assert run("status", "--check").returncode == 0


def test_no_poll_yet_is_unhealthy_and_no_database_is_a_local_state_error(run, storefront, tmp_path):
    assert run("status", "--check").returncode == 7  # no database at all: nothing ever ran
    from monitor.store import SqliteStore

    SqliteStore(tmp_path / "ordermon.db").close()
    result = run("status", "--check")
    assert result.returncode == 8 and result.stderr.endswith(": no successful poll recorded\n"), result.stderr


def test_the_service_unit_and_the_cron_line_run_real_commands():
    import configparser
    from pathlib import Path

    from monitor.exits import Exit

    docs = Path(__file__).resolve().parents[1] / "docs"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string((docs / "ordermon.service").read_text())
    service = unit["Service"]
    program, command = service["ExecStart"].split()
    assert program.endswith("/bin/ordermon") and command == "monitor"
    assert service["EnvironmentFile"] and service["Restart"] == "on-failure"
    assert {int(code) for code in service["RestartPreventExitStatus"].split()} == {Exit.USAGE, Exit.LOCAL_STATE}
    assert unit["Install"]["WantedBy"] == "default.target"
    cron = [line for line in (docs / "cron.md").read_text().splitlines() if line.startswith("*/")]
    assert len(cron) == 1 and 'ordermon" monitor --once' in cron[0]
    text = " ".join((docs / "cron.md").read_text().split())
    assert "`ordermon status --check` exits 0" in text and f"and {int(Exit.UNHEALTHY)} otherwise" in text
