"""One place for each fact: boundaries a change must not cross unnoticed."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_storefront_shares_only_calendar_arithmetic_with_its_client():
    crossing = {
        (path.name, name)
        for path in (ROOT / "fixtures" / "storefront").glob("*.py")
        for name in imports(path)
        if name.split(".")[0] in ("flows", "monitor") and name != "flows.calendar"
    }
    assert crossing == set()


SQL = re.compile(r"\.db\.|\.db\[|\.(execute|query|executescript)\(")


def test_only_the_store_touches_the_database():
    touching = [
        f"{path.name}:{number}"
        for path in (ROOT / "monitor").rglob("*.py")
        if path.parent.name != "store"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert touching == []


def test_no_module_grows_past_about_400_lines():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for folder in ("flows", "monitor", "fixtures")
        for p in (ROOT / folder).rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 420} == {}


def test_reporting_an_error_loads_no_browser_or_http_library():
    """`ordermon --help` and a bad-input exit need monitor.exits only: flows/ loads its names on use."""
    check = "import sys, monitor.exits; print(sorted({'playwright', 'httpx', 'pydantic'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_importing_ordermon_changes_no_library_logger():
    """The application decides where libraries' records go (`ordermon` itself keeps Apprise's and its
    scheduler's off the console); a program that imports ordermon keeps its own logging as it was."""
    check = """
import logging, sys
import apprise, apscheduler.schedulers.blocking, httpx, sqlite_utils, pydantic_settings

def snapshot():
    names = [name for name in list(logging.root.manager.loggerDict) if not name.startswith("ordermon")]
    loggers = {"": logging.getLogger()} | {name: logging.getLogger(name) for name in names}
    return {name: (lg.propagate, lg.level, len(lg.handlers), lg.disabled) for name, lg in loggers.items()}

before = snapshot()
import flows, monitor.service, monitor.alerts, monitor.redact, monitor.poller, monitor.demo, fixtures.storefront
after = snapshot()
print(sorted(name for name in before if before[name] != after.get(name)))
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr
