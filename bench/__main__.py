"""`python -m bench [--quick] [--json] [--only NAME,...]`: every figure with its target."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from . import figures
from .env import cores

FULL = {
    "poll_small": lambda: [figures.poll_vs_http(1000, repeat=7)],
    "poll_large": lambda: [figures.poll_vs_http(10000, repeat=5)],
    "naive": lambda: [figures.poll_vs_naive(1000)],
    "cancel": lambda: [figures.cancel_vs_page_loads(samples=10)],
    "memory": lambda: [figures.peak_memory(10000)],
    "growth": lambda: [figures.memory_growth(500, polls=500)],
    "db": lambda: figures.db_growth(10000, polls=20),
    "accounts": lambda: [figures.many_accounts(20, 500)],
}
QUICK = {
    "poll_small": lambda: [figures.poll_vs_http(1000, repeat=5)],
    "poll_large": lambda: [figures.poll_vs_http(2000, repeat=3)],
    "naive": lambda: [figures.poll_vs_naive(300)],
    "cancel": lambda: [figures.cancel_vs_page_loads(samples=4)],
    "memory": lambda: [figures.peak_memory(2000)],
    "growth": lambda: [figures.memory_growth(500, polls=60)],
    "db": lambda: figures.db_growth(2000, polls=10),
    "accounts": lambda: [figures.many_accounts(20, 100)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about two minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(FULL)}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    chosen = args.only.split(",") if args.only else list(plan)
    unknown = [name for name in chosen if name not in plan]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(plan)}")
    results, started = [], time.perf_counter()
    for name in chosen:
        if not args.json:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
        results.extend(plan[name]())
    report = {
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"cores": cores(), "python": platform.python_version(), "platform": platform.platform()},
        "results": [r.to_dict() for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        width = max(len(r.name) for r in results)
        print(f"{'figure':{width}}  {'value':>10}  {'unit':9}  {'target':8}  met  detail")
        for r in results:
            print(f"{r.name:{width}}  {r.value:10.2f}  {r.unit:9}  {r.target:8}  {'yes' if r.met else 'NO ':3}  {r.detail}")
        print(f"{sum(r.met for r in results)}/{len(results)} targets met in {report['seconds']} s ({report['mode']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
