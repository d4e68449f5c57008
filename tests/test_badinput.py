"""The bad-input campaign's short variant: no 5xx, no refused request that changed anything,
every bad command one line with a documented code, no secret anywhere."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env

pytestmark = pytest.mark.e2e


@pytest.mark.long
def test_short_bad_input_campaign():
    result = subprocess.run(
        [sys.executable, "-m", "bench.badinput", "--examples", "10", "--json"],
        cwd=Path(__file__).parent.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["requests"] >= 100 and report["cli_runs"] >= 10
    assert (
        report["server_errors"],
        report["refused_changed_state"],
        report["cli_bad_exits"],
        report["secrets_found"],
    ) == (0, 0, 0, 0), report
    assert result.returncode == 0
