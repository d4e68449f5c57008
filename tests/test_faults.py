"""The fault campaign, short: every counter 0 in both poll modes, and each counter catching the
bug planted for it (`python -m bench.faults --self-test`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env

from bench.faults import FAILS as COUNTERS
from bench.fleet_faults import FAILS as FLEET_COUNTERS
from bench.fleet_faults import overlapping
from bench.kills import PHASES
from bench.plants import PLANTS, run_planted

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent


def campaign(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.faults", "--json", *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.long
@pytest.mark.parametrize("via, faults", [("http", 12), ("browser", 6)])
def test_short_fault_campaign(via, faults):
    done = campaign("--faults", str(faults), "--poll-via", via)
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["poll_via"] == via and report["injections"] >= faults
    assert sum(report["kills"].values()) == sum(report["by_kind"].get(p, 0) for p in PHASES)
    assert all(report["kills"][phase] >= 1 for phase in PHASES), report["kills"]
    assert {name: report[name] for name in COUNTERS} == dict.fromkeys(COUNTERS, 0), report
    assert report["alerts_owed"] >= 1 and report["uncertain_deliveries"] <= report["kills_while_sending"]
    assert report["requests_affected"] >= 1
    assert done.returncode == 0


@pytest.mark.parametrize("plant", PLANTS)
def test_each_counter_catches_the_bug_planted_for_it(plant):
    """What `python -m bench.faults --self-test` runs, one planted bug per test (they spread over workers)."""
    counter, plan = PLANTS[plant]
    result = run_planted(plant, plan)
    assert result["plant"] == plant
    assert result[counter] > 0, result


def test_the_counters_cover_every_failure_the_campaign_reports():
    assert {counter for counter, _ in PLANTS.values()} == set(COUNTERS)


@pytest.mark.long(seconds=55)
def test_short_fleet_fault_campaign():
    """Three workers on PostgreSQL: one killed while polling, one while cancelling, one frozen past
    the heartbeat limit, PostgreSQL restarted; nothing missed, false, sent or submitted twice, lost,
    or read by two workers at once. (Kills while signing in and delivering: the single campaign here,
    and the fleet's at 300 injections, README.)"""
    plan = ["polling", "cancelling", "stopped", "pg_restart"]
    done = campaign("--fleet", "--plan", ",".join(plan))
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert all(report["kills"][kill] >= 1 for kill in plan), report["kills"]
    # In full (a string): what was seen and recorded of a lost state, which kill a late account had.
    why = json.dumps({k: report[k] for k in ("examples", "late_by_kind", "overlaps_by_kind")})
    assert {name: report[name] for name in FLEET_COUNTERS} == dict.fromkeys(FLEET_COUNTERS, 0), why
    assert report["alerts_owed"] >= 1 and report["uncertain_deliveries"] <= report["kills_while_sending"]


def test_two_processes_at_one_buyer_at_once_are_seen_in_the_access_log():
    a, b = "ordermon/0.1.0 (pid 1)", "ordermon/0.1.0 (pid 2)"
    visits = [
        {"buyer": "x", "agent": a, "started": 0.0, "client_until": 1.0},
        {"buyer": "x", "agent": a, "started": 0.5, "client_until": 2.0},  # one process's requests side by side
        {"buyer": "x", "agent": b, "started": 2.5, "client_until": 3.0},  # another process, after
        {"buyer": "y", "agent": b, "started": 0.2, "client_until": 0.4},  # another buyer
        {"buyer": "x", "agent": "Mozilla/5.0 HeadlessChrome", "started": 0.1, "client_until": 0.2},  # not a poll
        {"buyer": None, "agent": b, "started": 0.1, "client_until": 0.2},  # nobody signed in
    ]
    assert overlapping(visits) == []
    visits.append({"buyer": "x", "agent": b, "started": 1.5, "client_until": 1.6})
    assert overlapping(visits) == [("x", a, b)]
    visits[1]["client_until"] = 1.2  # ``a`` hung up on its held request before ``b`` came
    assert overlapping(visits) == []
