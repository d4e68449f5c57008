"""Slim installs: core ordermon (flows and monitor) without the storefront's or the harness's
packages; a command that needs a missing extra names it (exit 2); the pytest plugin of an
install without [harness] leaves anyone's pytest run alone."""

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from conftest import clean_env, ordermon

ROOT = Path(__file__).resolve().parents[1]
STOREFRONT_ONLY = {"starlette", "uvicorn", "python-multipart"}
HARNESS_ONLY = {"pytest-playwright"}

# Makes the extras' packages unimportable, as in an install of core ordermon alone.
BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"starlette", "uvicorn", "multipart", "python_multipart", "pytest_playwright"}

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
""")


def names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip() for r in requirements}


@pytest.fixture
def core_only(tmp_path) -> dict[str, str]:
    """Environment additions under which only core ordermon is importable."""
    folder = tmp_path / "core-only"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {"PYTHONPATH": str(folder)}


def test_core_depends_on_neither_the_storefront_nor_the_harness():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert not core & (STOREFRONT_ONLY | HARNESS_ONLY)
    assert names(extras["storefront"]) == STOREFRONT_ONLY
    assert "ordermon" in names(extras["harness"]) and names(extras["harness"]) >= HARNESS_ONLY


@pytest.mark.e2e
@pytest.mark.storefront(orders=3)
def test_core_monitors_and_the_storefront_commands_name_their_extra(cli_env, core_only, tmp_path):
    for command in (["storefront"], ["demo"]):
        result = ordermon(cli_env, *command, cwd=tmp_path, **core_only)
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"error: ordermon {command[0]} needs the storefront extra (no module 'starlette'): "
            "pip install 'ordermon[storefront]'\n"
        )
    polled = ordermon(cli_env, "monitor", "--once", cwd=tmp_path, **core_only)
    assert polled.returncode == 0, polled.stderr
    assert ordermon(cli_env, "status", "--check", cwd=tmp_path, **core_only).returncode == 0


def test_the_plugin_without_the_harness_leaves_a_pytest_run_alone(core_only, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_theirs.py").write_text("def test_theirs():\n    assert 1 + 1 == 2\n")
    # Without [harness], pytest-playwright is not installed: its own entry point is absent too.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:playwright",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-q",
            str(suite),
        ],
        capture_output=True,
        text=True,
        cwd=suite,
        env=clean_env() | core_only,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "warning" not in result.stdout.lower()
    plugins = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:playwright", "--trace-config", "-q", "--co", str(suite)],
        capture_output=True,
        text=True,
        cwd=suite,
        env=clean_env() | core_only,
        timeout=120,
    )
    assert "fixtures.pytest_plugin" in plugins.stdout  # loaded, and harmless


def test_ordermon_uses_apprise_without_its_deprecation_warning():
    use = (
        "from monitor.alerts import Notifier; from monitor.redact import describe_target; "
        "Notifier(['json://127.0.0.1:9/']).targets(); describe_target('pbul://secret')"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", use],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
