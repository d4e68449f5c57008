"""The fault campaign's short variant: nothing lost, nothing sent twice, nothing cancelled twice."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("via, faults", [("http", 60), ("browser", 30)])
def test_short_fault_campaign(via, faults):
    env = clean_env()
    result = subprocess.run([sys.executable, "-m", "bench.faults", "--faults", str(faults), "--json",
                             "--poll-via", via], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    assert report["poll_via"] == via and report["faults"] >= faults
    assert {"kill_monitor", "kill_cancel"} <= set(report["by_kind"])
    assert (report["lost"], report["duplicates"], report["double_cancels"]) == (0, 0, 0), report
    assert report["polls_failed"] >= 1 and report["polls_recovered"] >= 1
    assert result.returncode == 0
