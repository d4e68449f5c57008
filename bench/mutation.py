"""Mutation score of the modules where one wrong line costs a user money (`make mutation`).

    python -m bench.mutation [--json] [--only MODULE] [--max-children N]

Runs mutmut 3 afresh in ./mutants/ (its settings: [tool.mutmut] in pyproject.toml; the fast tests
only), then reads its results (mutants/<file>.meta) and prints, per module, killed / total, the
score and every mutant not killed. A timeout counts as killed (the tests noticed); so does a mutant
in EQUIVALENT, which no test can kill because it changes nothing observable: printed as such, and
listed in the README too. Exit 1 when a module scores below 90 %, 2 when mutmut itself fails.
Mutant names stay valid while their function's source is unchanged: an edited function renumbers them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

THRESHOLD = 90.0
#: module -> {mutated file: the functions counted (None: all of them)}: cancel.py counts its decision
#: (the rest of it drives the browser, which only the e2e tests reach).
MODULES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "rules": {"monitor/rules.py": None, "monitor/rule.py": None},
    "calendar": {"flows/calendar.py": None, "monitor/facts.py": None, "monitor/deadlines.py": None},
    "outbox": {
        "monitor/alerts.py": None,
        "monitor/store/outbox.py": None,
    },
    "cancel decision": {
        "flows/cancel.py": (
            "x_next_step",
            "x_answered",
            "xǁ_Attemptǁ__init__",
            "xǁ_Attemptǁfound",
            "xǁ_Attemptǁafter_submit",
            "xǁ_Attemptǁdry_run",
            "xǁ_Attemptǁresult",
        )
    },
}
#: Mutants no test can kill, with the reason (keep the README's list the same).
EQUIVALENT: dict[str, str] = {
    **{
        f"monitor.rule.x__destination__mutmut_{n}": "the default of REFUND_DESTINATIONS.get() is never used: the table names every PaymentMethod"
        for n in (3, 5, 7, 8)
    },
    **{
        f"monitor.rules.x_judged_with__mutmut_{n}": "another separator or length is another fingerprint, as stable: only whether two are equal is read"
        for n in (4, 9)
    },
    **{
        f"flows.calendar.xǁBusinessCalendarǁ__init____mutmut_{n}": "the name given to an extra holiday is never read: only its date counts"
        for n in (12, 14, 15, 16, 17)
    },
    **{
        f"monitor.store.outbox.xǁOutboxǁ{name}": "SQLite and PostgreSQL read keywords, table and column names in any case"
        for name in (
            "_add_alerts__mutmut_42",
            "carried__mutmut_6",
            "carried__mutmut_8",
            "due_deliveries__mutmut_6",
            "due_deliveries__mutmut_8",
            "due_deliveries__mutmut_12",
            "mark_delivered__mutmut_8",
            "mark_failed__mutmut_6",
        )
    },
    **dict.fromkeys(
        (
            "monitor.store.outbox.xǁOutboxǁ_add_alerts__mutmut_4",
            "monitor.store.outbox.xǁOutboxǁmark_delivered__mutmut_10",
            "monitor.store.outbox.xǁOutboxǁmark_delivered__mutmut_6",
            "monitor.alerts.xǁNotifierǁdeliver_due__mutmut_3",
        ),
        "now(None) is the same instant in local time, and iso() converts it to UTC (astimezone)",
    ),
    "monitor.alerts.xǁNotifierǁsend__mutmut_12": "a digest looked up for every alert: one that digests nothing has none digested into it (one query more)",
    "monitor.alerts.xǁNotifierǁ__init____mutmut_11": "the capture is discarded and Apprise's logger never propagates (monitor/redact.py): its level shows nowhere",
}
KILLED = {1, 3, 24, -24, 36, 152, 255}  # mutmut's exit codes for killed and timeout
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 37: "type check", None: "not checked"}


def patterns(files: dict[str, tuple[str, ...] | None]) -> list[str]:
    """mutmut's names for the mutants of these files (and functions)."""
    found = []
    for path, functions in files.items():
        module = path.removesuffix(".py").replace("/", ".")
        found += [f"{module}.*"] if functions is None else [f"{module}.{f}*" for f in functions]
    return found


def run_mutmut(names: list[str], max_children: int | None) -> int:
    """A fresh run (no cached verdict from before a test changed); its output goes to mutants/mutmut-run.log."""
    shutil.rmtree("mutants", ignore_errors=True)
    Path("mutants").mkdir()
    script = Path(sys.executable).with_name("mutmut")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mutmut"]
    command += ["run", *([f"--max-children={max_children}"] if max_children else []), *names]
    with open("mutants/mutmut-run.log", "w") as log:
        return subprocess.run(command, check=False, stdout=log, stderr=subprocess.STDOUT).returncode


def results(files: dict[str, tuple[str, ...] | None]) -> dict[str, int | None]:
    """Every counted mutant of these files with mutmut's exit code for it."""
    found: dict[str, int | None] = {}
    for path, functions in files.items():
        meta = json.loads(Path(f"mutants/{path}.meta").read_text())["exit_code_by_key"]
        found |= {
            name: code
            for name, code in meta.items()
            if functions is None or name.rpartition(".")[2].split("__mutmut_")[0] in functions
        }
    return found


def score(codes: dict[str, int | None]) -> dict:
    equivalent = {name: EQUIVALENT[name] for name, code in codes.items() if code not in KILLED and name in EQUIVALENT}
    not_killed = {
        name: STATUS.get(code, f"exit code {code}")
        for name, code in sorted(codes.items())
        if code not in KILLED and name not in equivalent
    }
    killed = len(codes) - len(not_killed)
    return {
        "killed": killed,
        "total": len(codes),
        "score": round(100 * killed / len(codes), 1) if codes else 0.0,
        "equivalent": equivalent,
        "not_killed": not_killed,
    }


def main(argv: list[str] | None = None) -> int:
    aliases = {name.split()[0]: name for name in MODULES}
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object: per module its figures")
    parser.add_argument("--only", choices=sorted(aliases), help="mutate and report one module only")
    parser.add_argument("--max-children", type=int, help="mutants tested at once (default: one per CPU)")
    args = parser.parse_args(argv)
    modules = [aliases[args.only]] if args.only else list(MODULES)
    started = time.monotonic()
    code = run_mutmut([p for m in modules for p in patterns(MODULES[m])], args.max_children)
    if code != 0:
        print(f"mutmut failed (exit code {code}): see mutants/mutmut-run.log", file=sys.stderr)
        return 2
    report = {m: score(results(MODULES[m])) for m in modules}
    seconds = round(time.monotonic() - started)
    if args.json:
        print(json.dumps({"seconds": seconds, "threshold": THRESHOLD, "modules": report}, indent=2))
    else:
        for module, r in report.items():
            verdict = "ok" if r["score"] >= THRESHOLD else f"below {THRESHOLD:g} %"
            print(
                f"{module:16} {r['killed']:4} / {r['total']:<4} killed {r['score']:5.1f} %  {verdict}"
                + (f"  ({len(r['equivalent'])} equivalent)" if r["equivalent"] else "")
            )
            for name, status in r["not_killed"].items():
                print(f"    {status:12} {name}")
            for name, reason in r["equivalent"].items():
                print(f"    {'equivalent':12} {name}: {reason}")
        print(
            f"{sum(r['total'] for r in report.values())} mutants in {seconds} s; "
            "`mutmut show NAME` in this folder shows one"
        )
    return 1 if any(r["score"] < THRESHOLD for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
