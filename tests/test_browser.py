"""Browser discovery: one module for flows, tests and the harness."""

import os

import pytest

from flows import browser


def test_finds_a_chromium():
    path = browser.find_chromium()
    assert path and os.access(path, os.X_OK)


def test_configured_path_wins(tmp_path):
    exe = tmp_path / "my-chrome"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert browser.find_chromium({browser.ENV_VAR: str(exe)}) == str(exe)


def test_configured_path_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(browser.BrowserNotFound, match="ORDERMON_BROWSER_PATH"):
        browser.find_chromium({browser.ENV_VAR: str(tmp_path / "missing")})


def test_launch_options_never_ask_for_new_headless():
    options = browser.launch_options()
    assert options["executable_path"]
    assert not any(arg.startswith("--headless") for arg in options["args"])
