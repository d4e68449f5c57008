"""The hostile-site campaign's short variant: each bad answer of an imitation site (bench/hostile.py)
against `ordermon monitor --once` with two accounts; every case bounded in time and memory, with its
documented exit code, its failure recorded, the other account recorded, no secret and no escape
anywhere."""

import signal
import subprocess
import sys

import pytest

from bench import hostile

pytestmark = pytest.mark.e2e

TIMEOUT = 2.0


@pytest.mark.parametrize("case", hostile.CASES, ids=lambda case: case.name)
def test_a_bad_answer_is_bounded_recorded_and_contained(case, tmp_path):
    result = hostile.run_case(case, tmp_path, TIMEOUT)
    assert hostile.verdict(result, case.good_orders) == [], result


@pytest.mark.parametrize("command", [["orders"], ["monitor", "--once"]], ids=" ".join)
def test_ctrl_c_during_a_read_ends_the_command_at_once(command, tmp_path):
    """A read of a site that never answers is cancelled on Ctrl-C, not waited for: exit 130 and one
    line, long before the timeout (30 s, and its retries) would end it."""
    with hostile.HostileSite(hostile.BY_NAME["silent"]) as site:
        env = hostile.environment(site.url, tmp_path, timeout=30)
        if command == ["orders"]:  # one account's command
            env |= {"ORDERMON_STOREFRONT_URL": site.url, "ORDERMON_EMAIL": hostile.BAD, "ORDERMON_PASSWORD": "x"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", *command], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert site.asked.wait(60), proc.communicate(timeout=60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"], err
