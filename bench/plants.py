"""`python -m bench.faults --self-test`: the campaign against planted bugs (bench/planted/), each
of which one counter exists to catch. A counter that stays 0 with its bug planted cannot fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Planted bug -> the counter that must catch it, and the injections that give the bug its chance.
PLANTS = {
    "submits_twice": ("double_submits", "layout_variant,http_500,latency"),
    "resend_after_crash": ("duplicate_deliveries", "delivering,receiver_500"),
    "writes_off_failures": ("uncertain_unexplained", "http_500,receiver_refused,receiver_500,receiver_refused"),
    "skips_a_page": ("lost_states", "http_500,receiver_500"),
    "rule_never_fires": ("missed_alerts", "receiver_500,http_500,receiver_refused,http_500"),
    "fires_early": ("false_alerts", "http_500,receiver_500"),
    "holds_twice": ("duplicate_deliveries", "http_500,receiver_500"),  # the first night's held alerts
    "reminds_after_resolution": ("false_alerts", "http_500,receiver_500,latency"),  # the late refund's
}
ROOT = Path(__file__).parent.parent


def run_planted(plant: str, plan: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMON_")}
    env |= {
        "ORDERMON_BENCH_PLANT": plant,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "bench" / "planted"), env.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--plan", plan, "--poll-via", "http", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"the campaign with {plant} planted failed: {done.stderr.strip()[-500:]}") from None


def self_test(as_json: bool, echo) -> int:
    caught = {}
    for plant, (counter, plan) in PLANTS.items():
        echo(f"planting {plant} ...")
        result = run_planted(plant, plan)
        if result.get("plant") != plant:
            raise SystemExit(f"the campaign did not run with {plant} planted")
        caught[plant] = {"counter": counter, "value": result[counter], "caught": result[counter] > 0}
        if not as_json:
            print(
                f"{plant:24} {counter:22} {result[counter]:>4}  {'caught' if result[counter] else 'MISSED'}", flush=True
            )
    if as_json:
        print(json.dumps(caught))
    return 0 if all(c["caught"] for c in caught.values()) else 1
