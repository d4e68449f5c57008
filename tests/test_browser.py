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


def _exits_first(tmp_path, times: int) -> str:
    """A Chromium that exits as it starts, the first ``times`` times."""
    real, count = browser.find_chromium(), tmp_path / "starts"
    exe = tmp_path / "chromium-exits-first"
    exe.write_text(
        f'#!/bin/sh\necho x >> "{count}"\n[ "$(wc -l < "{count}")" -le {times} ] && exit 1\nexec "{real}" "$@"\n'
    )
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.parametrize("exits, starts", [(1, True), (2, False)], ids=["once", "twice"])
def test_a_chromium_that_exits_as_it_starts_is_started_once_more(playwright, tmp_path, caplog, exits, starts):
    if starts:
        opened = browser.open_browser(playwright, configured=_exits_first(tmp_path, exits))
        assert opened.new_page().evaluate("1 + 1") == 2
        opened.close()
    else:
        with pytest.raises(Exception, match="has been closed"):
            browser.open_browser(playwright, configured=_exits_first(tmp_path, exits))
    assert (tmp_path / "starts").read_text().count("x") == 2
    assert "Chromium exited as it started; starting it once more" in caplog.text
