"""The fault campaign, short: every counter 0 in both poll modes, and each counter catching the
bug planted for it (`python -m bench.faults --self-test`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent
COUNTERS = ("missed_alerts", "false_alerts", "duplicate_deliveries", "double_submits", "lost_states")
PHASES = ("signing_in", "reading", "writing", "delivering", "submitting")


def campaign(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.faults", "--json", *args], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("via, faults", [("http", 16), ("browser", 8)])
def test_short_fault_campaign(via, faults):
    done = campaign("--faults", str(faults), "--poll-via", via)
    report = json.loads(done.stdout)
    assert report["poll_via"] == via and report["injections"] >= faults
    assert sum(report["kills"].values()) == sum(report["by_kind"].get(p, 0) for p in PHASES)
    assert all(report["kills"][phase] >= 1 for phase in PHASES), report["kills"]
    assert {name: report[name] for name in COUNTERS} == dict.fromkeys(COUNTERS, 0), report
    assert report["alerts_owed"] >= 1 and report["uncertain_deliveries"] <= report["kills"]["delivering"] + \
        report["kills"]["unproven"]
    assert report["requests_affected"] >= 1
    assert done.returncode == 0


def test_every_counter_catches_its_planted_bug():
    done = subprocess.run([sys.executable, "-m", "bench.faults", "--self-test", "--json"], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=600)
    caught = json.loads(done.stdout)
    assert {c["counter"] for c in caught.values()} == set(COUNTERS)
    assert all(c["value"] > 0 for c in caught.values()), caught
    assert done.returncode == 0
