"""`python -m bench [--quick] [--json] [--only NAME,...]`: every figure with its target."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from . import figures
from .env import cores

# figure: (what measures it, its arguments in a full run, in a --quick run)
FIGURES = {
    "poll_small": (figures.poll_vs_http, dict(orders=1000, repeat=7), dict(orders=1000, repeat=5)),
    "poll_large": (figures.poll_vs_http, dict(orders=10000, repeat=5), dict(orders=2000, repeat=3)),
    "naive": (figures.poll_vs_naive, dict(orders=1000), dict(orders=300)),
    "cancel": (figures.cancel_vs_page_loads, dict(samples=10), dict(samples=4)),
    "memory": (figures.peak_memory, dict(orders=10000), dict(orders=2000)),
    "growth": (figures.memory_growth, dict(orders=500, polls=500), dict(orders=500, polls=60)),
    "db": (figures.db_growth, dict(orders=10000, polls=20), dict(orders=2000, polls=10)),
    "accounts": (figures.many_accounts, dict(accounts_count=20, orders=500), dict(accounts_count=20, orders=100)),
}


def measure(name: str, quick: bool) -> list:
    function, full, fast = FIGURES[name]
    found = function(**(fast if quick else full))
    return found if isinstance(found, list) else [found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about two minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(FIGURES)
    unknown = [name for name in chosen if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    results, started = [], time.perf_counter()
    for name in chosen:
        if not args.json:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
        results.extend(measure(name, args.quick))
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
