"""ordermon's pytest plugin stays out of other suites.

tests/data/other_suite is another project's suite (pytest-playwright's fixtures only).
It runs twice, with ordermon's plugin and with ``-p no:ordermon``: the outcomes, the
launch arguments its tests see, the browser command lines Playwright runs, the
artifacts and the warnings must be the same. The one intended difference: a Chromium
launch for which Playwright has no browser of its own gets the Chromium ordermon finds.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.browser_launch import lending_chromium
from flows import browser as discovery

OTHER_SUITE = Path(__file__).parent / "data" / "other_suite"
HEAVY = {
    "flows",
    "monitor",
    "starlette",
    "uvicorn",
    "httpx",
    "holidays",
    "playwright",
    "pytest_playwright",
    "apprise",
    "pydantic",
    "jinja2",
}


@dataclass
class Run:
    process: subprocess.CompletedProcess
    outcomes: dict[str, list[tuple[str, str]]]  # test id -> [(error|failure|skipped, message)], [] = passed
    records: dict[str, object]  # what the suite's tests recorded (check_browser.record)
    launches: list[str]  # the command lines Playwright ran (browsers and ffmpeg), normalized
    warnings: str  # the "warnings summary" section
    artifacts: list[str]  # files in --output, relative

    def passed(self, test_id: str) -> bool:
        return self.outcomes[test_id] == []


def start(folder: Path, *args: str, plugin: bool, cwd: Path = OTHER_SUITE, **env: str) -> subprocess.Popen:
    folder.mkdir(parents=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERMON_", "PYTEST_", "PLAYWRIGHT_", "DEBUG"))}
    env = (
        clean
        | {
            "PYTHONDONTWRITEBYTECODE": "1",
            "OTHER_SUITE_RECORD": str(folder / "record.jsonl"),
            "DEBUG": "pw:browser",
            "DEBUG_FILE": str(folder / "playwright.log"),
        }
        | env
    )
    # (hypothesis's plugin, in both runs, only costs a second per start)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        *([] if plugin else ["-p", "no:ordermon"]),
        f"--rootdir={cwd}",
        f"--junitxml={folder / 'junit.xml'}",
        *args,
    ]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, folder: Path, output: Path | None = None) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert (folder / "junit.xml").exists(), stdout[-3000:] + stderr[-3000:]
    outcomes = {}
    for case in ET.parse(folder / "junit.xml").getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcomes[test_id] = [
            (child.tag, child.get("message", "")) for child in case if child.tag in ("error", "failure", "skipped")
        ]
    record = folder / "record.jsonl"
    records = {}
    for line in record.read_text().splitlines() if record.exists() else []:
        entry = json.loads(line)
        records[entry["test"]] = entry["value"]
    log = folder / "playwright.log"
    launches = [
        normalize(line.split("<launching> ", 1)[1])
        for line in (log.read_text().splitlines() if log.exists() else [])
        if "<launching> " in line
    ]
    summary = re.search(r"=+ warnings summary =+\n(.*?)\n-- Docs:", stdout, re.S)
    artifacts = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()) if output else []
    return Run(done, outcomes, records, launches, summary.group(1) if summary else "", artifacts)


def normalize(command_line: str) -> str:
    """A launch command line without what differs from run to run (temporary names, times)."""
    command_line = re.sub(r"playwright_\w+_profile-\w+", "PROFILE", command_line)
    command_line = re.sub(r"creation_time=\S+", "creation_time=T", command_line)
    return re.sub(r"\S+\.webm\b", "VIDEO.webm", command_line)


def with_and_without_ordermon(tmp_path: Path, *args: str, output: bool = False, **env: str) -> tuple[Run, Run]:
    """The same run with ordermon's plugin and with -p no:ordermon, side by side."""
    runs = []
    for name, plugin in (("with", True), ("without", False)):
        folder = tmp_path / name
        extra = (f"--output={folder / 'output'}",) if output else ()
        runs.append((start(folder, *args, *extra, plugin=plugin, **env), folder))
    try:
        return tuple(finish(process, folder, folder / "output" if output else None) for process, folder in runs)
    finally:
        for process, _ in runs:
            if process.poll() is None:
                process.kill()
                process.wait()


def same(with_: Run, without: Run) -> None:
    assert with_.outcomes == without.outcomes
    assert with_.records == without.records
    assert with_.launches == without.launches
    assert with_.warnings == without.warnings
    assert with_.artifacts == without.artifacts


@pytest.fixture(scope="session")
def managed_browsers(tmp_path_factory) -> Path:
    """A PLAYWRIGHT_BROWSERS_PATH in which Playwright finds "its" Chromium headless shell (the
    system's, linked where `playwright install` would put it) and an ffmpeg for videos (a
    stand-in that keeps the raw frames)."""
    system = next(filter(None, map(shutil.which, discovery.SYSTEM_BROWSERS)), None)
    assert system, "no system Chromium: `make browser` installs one"
    import playwright

    manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    revisions = {b["name"]: b["revision"] for b in json.loads(manifest.read_text())["browsers"]}
    arch = "linux-arm64" if platform.machine() in ("aarch64", "arm64") else "linux64"
    root = tmp_path_factory.mktemp("ms-playwright")
    shell = root / f"chromium_headless_shell-{revisions['chromium-headless-shell']}" / f"chrome-headless-shell-{arch}"
    shell.mkdir(parents=True)
    (shell / "chrome-headless-shell").symlink_to(system)
    ffmpeg = root / f"ffmpeg-{revisions['ffmpeg']}" / "ffmpeg-linux"
    ffmpeg.parent.mkdir()
    ffmpeg.write_text(
        f"#!{sys.executable}\nimport shutil, sys\n"
        "with open(sys.argv[-1], 'wb') as out:\n    shutil.copyfileobj(sys.stdin.buffer, out)\n"
    )
    ffmpeg.chmod(0o755)
    return root


@pytest.mark.long
@pytest.mark.e2e
def test_another_suite_runs_the_same_with_and_without_ordermon(tmp_path, managed_browsers):
    """Chromium that Playwright finds itself, Firefox and WebKit (not installed), videos and
    screenshots: the same outcomes, launch arguments, command lines, artifacts and warnings."""
    with_, without = with_and_without_ordermon(
        tmp_path,
        "--browser",
        "chromium",
        "--browser",
        "firefox",
        "--browser",
        "webkit",
        "--video",
        "on",
        "--screenshot",
        "on",
        output=True,
        PLAYWRIGHT_BROWSERS_PATH=str(managed_browsers),
    )
    same(with_, without)
    for test in ("test_page", "test_context_by_hand", "test_new_context", "test_per_test_launch_args"):
        chromium = next(k for k in with_.outcomes if k.startswith(f"check_browser::{test}[chromium"))
        assert with_.passed(chromium), with_.outcomes[chromium]
        for browser in ("firefox", "webkit"):
            other = next(k for k in with_.outcomes if k.startswith(f"check_browser::{test}[{browser}"))
            [(kind, message)] = with_.outcomes[other]
            assert kind == "error" and "Executable doesn't exist" in message and f"{browser}-" in message
    shot = next(
        p for p in with_.artifacts if p.startswith("check-browser-py-test-page-chromium") and p.endswith(".png")
    )
    assert (tmp_path / "with" / "output" / shot).read_bytes().startswith(b"\x89PNG")
    assert any(p.endswith("video.webm") for p in with_.artifacts)
    # per-test launch options reach pytest-playwright: a second browser with its own flag
    assert with_.records["per_test_launch_args[chromium]"] == {"args": ["--mute-audio"]}
    browsers = [line for line in with_.launches if "chrome-headless-shell " in line]
    assert len(browsers) == 2 and browsers[0].startswith(str(managed_browsers))
    assert not any(flag in line for line in with_.launches for flag in ("--no-zygote", "--in-process-gpu"))
    # the suite's own deprecations are reported, not filtered away
    assert "old_api() is deprecated" in with_.warnings and "'resource' fixture" in with_.warnings


@pytest.mark.e2e
def test_without_playwrights_chromium_ordermon_lends_the_one_it_finds(tmp_path, monkeypatch):
    """The one difference: Playwright has no Chromium. Without ordermon the Chromium tests
    fail for want of a browser; with it they run on the Chromium ordermon finds, with
    Playwright's own flags. Firefox is left alone in the same run."""
    empty = tmp_path / "no-browsers"
    empty.mkdir()
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(empty))
    monkeypatch.delenv(discovery.ENV_VAR, raising=False)
    found = discovery.find_chromium()
    assert found, "no Chromium: `make browser` installs one"
    with_, without = with_and_without_ordermon(
        tmp_path,
        "check_browser.py",
        "--browser",
        "chromium",
        "--browser",
        "firefox",
        PLAYWRIGHT_BROWSERS_PATH=str(empty),
    )
    # the launch arguments the tests see (without ordermon, one test fails before recording them)
    assert {name: with_.records[name] for name in without.records} == without.records
    assert with_.records["per_test_launch_args[chromium]"] == {"args": ["--mute-audio"]}
    for test_id, outcome in without.outcomes.items():
        if "chromium" in test_id and test_id != "check_browser::test_launch_args[chromium]":
            assert "Executable doesn't exist" in outcome[0][1]
            assert with_.passed(test_id), with_.outcomes[test_id]
        else:
            assert with_.outcomes[test_id] == outcome
    assert without.launches == []
    assert [line.split(" ", 1)[0] for line in with_.launches] == [found, found]
    assert not any(flag in line for line in with_.launches for flag in ("--no-zygote", "--in-process-gpu"))


def blockers(folder: Path, *names: str) -> Path:
    """A PYTHONPATH entry that makes these packages missing, and logs who asked for them."""
    for name in names:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            "import os\n"
            f"with open(os.environ['BLOCKED_LOG'], 'a') as log: log.write({name!r} + '\\n')\n"
            f"raise ModuleNotFoundError('blocked for the test', name={name!r})\n"
        )
    return folder


def test_without_pytest_playwright_the_plugin_imports_nothing(tmp_path):
    """Installed without [harness]: no pytest-playwright, Playwright or Starlette. Another
    suite runs as without ordermon, and nothing ordermon brings is imported at start-up."""
    path = blockers(tmp_path / "blocked", *sorted(HEAVY - {"flows", "monitor"}))
    log = tmp_path / "blocked.log"
    env = {"PYTHONPATH": str(path), "BLOCKED_LOG": str(log)}
    with_, without = with_and_without_ordermon(tmp_path, "check_plain.py", "-p", "no:playwright", **env)
    same(with_, without)
    assert all(with_.passed(test_id) for test_id in with_.outcomes) and len(with_.outcomes) == 4
    assert with_.records["modules"] == [] and not log.exists()
    assert "old_api() is deprecated" in with_.warnings and "'resource' fixture" in with_.warnings


def test_the_storefront_fixture_names_the_extra_it_needs(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_shop.py").write_text("def test_shop(storefront):\n    pass\n")
    path = blockers(tmp_path / "blocked", "starlette", "uvicorn", "pytest_playwright")
    process = start(
        tmp_path / "run",
        "-p",
        "no:playwright",
        plugin=True,
        cwd=tmp_path / "suite",
        PYTHONPATH=str(path),
        BLOCKED_LOG=str(tmp_path / "blocked.log"),
    )
    run = finish(process, tmp_path / "run")
    [(kind, _)] = run.outcomes["test_shop::test_shop"]
    assert kind == "error" and " ERROR at setup of test_shop " in run.process.stdout, run.process.stdout
    report = run.process.stdout.split(" ERROR at setup of test_shop ")[1].split("\n")[1:3]
    assert report[1].startswith(("-", "=")), run.process.stdout  # the message, one line, no traceback
    assert re.fullmatch(
        r"the storefront fixture needs the harness extra \(no module '(starlette|uvicorn)'\): "
        r"pip install 'ordermon\[harness\]'",
        report[0],
    ), report


def test_importing_the_plugin_imports_nothing_heavy():
    code = "import sys, fixtures.pytest_plugin; print(' '.join(sorted(sys.modules)))"
    modules = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )
    assert {m for m in modules if m.split(".")[0] in HEAVY} == set()
    assert {m for m in modules if m.startswith("fixtures")} == {"fixtures", "fixtures.pytest_plugin"}


class FakeLaunch:
    """pytest-playwright's launch_browser, failing the way Playwright does without its Chromium."""

    def __init__(self, *errors: str):
        self.errors, self.calls = list(errors), []

    def __call__(self, **kwargs):
        from playwright.sync_api import Error

        self.calls.append(kwargs)
        if self.errors:
            raise Error(self.errors.pop(0))
        return "browser"


MISSING = "BrowserType.launch: Executable doesn't exist at /ms-playwright/chromium_headless_shell-1/x"


def test_a_chromium_is_lent_only_where_playwright_has_none(monkeypatch):
    monkeypatch.setattr(discovery, "find_chromium", lambda: "/usr/bin/found-chromium")
    works = FakeLaunch()
    assert lending_chromium(works, {})(headless=True) == "browser" and works.calls == [{"headless": True}]
    missing = FakeLaunch(MISSING)
    assert lending_chromium(missing, {"args": ["--x"]})(slow_mo=5) == "browser"
    assert missing.calls == [{"slow_mo": 5}, {"slow_mo": 5, "executable_path": "/usr/bin/found-chromium"}]
    for launch_args, kwargs, error in (
        ({"channel": "chrome"}, {}, MISSING),
        ({}, {"executable_path": "/x"}, MISSING),
        ({}, {}, "BrowserType.launch: Target page, context or browser has been closed"),
    ):
        other = FakeLaunch(error)
        with pytest.raises(Exception, match=re.escape(error)):
            lending_chromium(other, launch_args)(**kwargs)
        assert len(other.calls) == 1
    monkeypatch.setattr(discovery, "find_chromium", lambda: None)  # none found: Playwright's own error
    with pytest.raises(Exception, match="Executable doesn't exist"):
        lending_chromium(FakeLaunch(MISSING), {})()
