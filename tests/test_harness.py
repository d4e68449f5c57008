"""The harness as a stranger uses it: a new directory, only the documented fixtures."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures.storefront import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e

README = Path(__file__).parent.parent / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Test harness", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERMON_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_readme_example_runs_green_in_a_new_directory(tmp_path):
    (tmp_path / "test_cancel_journey.py").write_text(readme_example())
    result = run_pytest(tmp_path, "-q")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


def test_xdist_gives_each_worker_its_own_storefront(tmp_path):
    (tmp_path / "test_cancel_journey.py").write_text(readme_example())
    result = run_pytest(tmp_path, "-q", "-n", "2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout


FAILING = """
def test_fails_after_signing_in(shopper, storefront):
    order = storefront.scenarios.awaiting_shipment()
    shopper.page.goto(f"{storefront.url}/p/order/detail.html?orderId={order['id']}")
    assert shopper.orders("to_ship")
    assert False, "deliberate failure"
"""


def test_a_failing_test_leaves_trace_and_screenshot_without_the_password(tmp_path):
    (tmp_path / "test_fails.py").write_text(FAILING)
    out = tmp_path / "out"
    result = run_pytest(
        tmp_path, "-q", "--tracing", "retain-on-failure", "--screenshot", "only-on-failure", "--output", str(out)
    )
    assert result.returncode == 1 and "deliberate failure" in result.stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    traces = [p for p in files if p.name == "trace.zip"]
    shots = [p for p in files if p.suffix == ".png"]
    assert traces and shots, files
    password = DEFAULT_PASSWORD.encode()
    for path in files:
        assert password not in path.read_bytes(), path
    for trace in traces:
        with zipfile.ZipFile(trace) as archive:
            names = archive.namelist()
            assert any(name.endswith(".trace") for name in names)
            for name in names:
                assert password not in archive.read(name), name
            # the trace did record the work after sign-in
            assert any(b"detail.html" in archive.read(name) for name in names)
