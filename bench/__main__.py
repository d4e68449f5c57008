"""`python -m bench [--quick] [--json | --markdown] [--only NAME,...]`: every figure with its target."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from . import figures, serve
from .env import Result, cores

# figure: (what measures it, its arguments in a full run, in a --quick run)
FIGURES: dict[str, tuple[Callable[..., Result | list[Result]], dict[str, Any], dict[str, Any]]] = {
    "poll_http": (figures.poll_vs_http, dict(orders=10000, repeat=7), dict(orders=2000, repeat=5)),
    "poll_browser": (
        figures.poll_vs_http,
        dict(orders=10000, repeat=5, via="browser"),
        dict(orders=2000, repeat=5, via="browser"),
    ),
    "memory": (figures.monitor_memory, dict(orders=10000), dict(orders=2000)),
    "growth": (figures.memory_growth, dict(orders=500, count=500), dict(orders=200, count=60)),
    "accounts": (
        figures.many_accounts,
        dict(accounts_count=20, orders=500, repeat=5),
        dict(accounts_count=10, orders=100, repeat=5),
    ),
    "harness": (figures.harness_shopper_vs_page, dict(count=15), dict(count=8)),
    "cancel": (figures.cancel_figures, dict(samples=10), dict(samples=5)),
    "db": (figures.db_growth, dict(orders=500, count=1000), dict(orders=200, count=200)),
    "naive": (figures.poll_vs_naive, dict(orders=1000, repeat=5), dict(orders=200, repeat=5)),
    "serve": (serve.serve_figures, dict(orders=10000, repeat=21), dict(orders=2000, repeat=11, starts=2, polls=3)),
}


def measure(name: str, quick: bool) -> list[Result]:
    function, full, fast = FIGURES[name]
    found = function(**(fast if quick else full))
    return found if isinstance(found, list) else [found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(FIGURES)
    unknown = [name for name in chosen if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    results: list[Result] = []
    started = time.perf_counter()
    for name in chosen:
        if not (args.json or args.markdown):
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
    elif args.markdown:
        print(markdown(results))
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            met = "context" if r.target == "context" else ("yes" if r.met else "NO")
            print(f"{r.name:{width}}  {r.shown:28}  {r.target:8}  {met:7}  {r.detail}")
        print(
            f"{sum(r.met for r in results if r.target != 'context')}/"
            f"{sum(r.target != 'context' for r in results)} targets met in {report['seconds']} s ({report['mode']})"
        )
    return 0


def markdown(results: list[Result]) -> str:
    """The README's table: median [min–max] of each figure, its target, met or not."""
    rows = ["| figure | median [min–max] | target | met | measured |", "|---|---|---|---|---|"]
    for r in results:
        met = "context" if r.target == "context" else ("yes" if r.met else "**no**")
        target = r.target.replace("<=", "≤").replace(">=", "≥")
        rows.append(f"| `{r.name}` | {r.shown} | {target} | {met} | {r.detail} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
