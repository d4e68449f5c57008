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
#: Start a command as a terminal does: Ctrl-C's default action, whatever this test's process
#: inherited (a shell's background job ignores SIGINT, and an ignored signal stays ignored across exec).
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(*sys.argv[1:2], sys.argv[1:])"
)


@pytest.mark.parametrize("case", hostile.CASES, ids=lambda case: case.name)
def test_a_bad_answer_is_bounded_recorded_and_contained(case, tmp_path):
    result = hostile.run_case(case, tmp_path, TIMEOUT)
    assert hostile.verdict(result, case) == [], result
    if case.ahead:  # the site's clock not used, and the user told so once
        said = (tmp_path / "stderr").read_text().splitlines()
        assert sum(line.startswith("warning: ") and "this machine's clock is used" in line for line in said) == 1


@pytest.mark.parametrize("command", [["orders"], ["monitor", "--once"]], ids=" ".join)
def test_ctrl_c_during_a_read_ends_the_command_at_once(command, tmp_path):
    """A read of a site that never answers is cancelled on Ctrl-C, not waited for: exit 130 and one
    line, long before the timeout (30 s, and its retries) would end it."""
    with hostile.HostileSite(hostile.BY_NAME["silent"]) as site:
        env = hostile.environment(site.url, tmp_path, timeout=30)
        if command == ["orders"]:  # one account's command
            env |= {"ORDERMON_STOREFRONT_URL": site.url, "ORDERMON_EMAIL": hostile.BAD, "ORDERMON_PASSWORD": "x"}
        env["PYTHONFAULTHANDLER"] = "1"  # a command that does not end says where it is (SIGABRT below)
        proc = subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, sys.executable, "-m", "monitor.cli", *command],
            env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert site.asked.wait(60), proc.communicate(timeout=60)
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)
                raise AssertionError(f"still running 10 s after Ctrl-C: {proc.communicate(timeout=10)[1]}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"], err


def test_the_password_is_typed_only_on_the_storefronts_own_origin(tmp_path):
    """A site whose sign-in page redirects to another origin gets nothing typed there: exit 5, one
    line naming both origins, and the other site received no form."""
    with hostile.ForeignSignIn() as foreign, hostile.HostileSite(hostile.BY_NAME["silent"], foreign=foreign) as site:
        env = hostile.environment(site.url, tmp_path, timeout=10)
        env |= {"ORDERMON_STOREFRONT_URL": site.url, "ORDERMON_EMAIL": hostile.BAD, "ORDERMON_PASSWORD": "x"}
        (tmp_path / "data").rename(tmp_path / "no-kept-session")  # so that ordermon signs in
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "orders"], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 5, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line == f"error: sign-in refused: the sign-in page is on {foreign.url}, not {site.url} (nothing typed)"
    assert foreign.posted == []


@pytest.mark.parametrize("name", ["lock_link", "report_link", "foreign_database"])
def test_an_unfriendly_disk_is_refused_in_one_line_and_nothing_of_the_users_is_touched(name, tmp_path):
    """The campaign's local cases that need no mount (a full or read-only tmpfs needs root: those
    run in `python -m bench.hostile`, and the exit code's mapping in tests/test_exit_codes.py)."""
    result = hostile.run_local(name, tmp_path, TIMEOUT)
    assert result["broken"] == [], result


@pytest.mark.parametrize("name", ["huge_body", "slow_body", "bad_date"])
def test_the_browsers_own_fetch_is_bounded_the_same_way(name, tmp_path):
    """ORDERMON_POLL_VIA=browser: the page's fetch reads a body through a reader bounded at 8 MiB and
    aborts at the timeout; an order out of bounds is unreadable there too."""
    case = hostile.BY_NAME[name]
    result = hostile.run_case(case, tmp_path, TIMEOUT, poll_via="browser")
    assert hostile.verdict(result, case) == [], result
