"""Another project's browser tests: pytest-playwright's fixtures only, nothing of ordermon's."""

import json
import os

import pytest


def record(name, value):
    """Append what a test saw to the file named by OTHER_SUITE_RECORD (read by ordermon's test)."""
    if os.environ.get("OTHER_SUITE_RECORD"):
        with open(os.environ["OTHER_SUITE_RECORD"], "a") as out:
            out.write(json.dumps({"test": name, "value": value}, sort_keys=True) + "\n")


def test_launch_args(browser_type_launch_args, browser_name):
    record(f"launch_args[{browser_name}]", browser_type_launch_args)


@pytest.mark.parametrize("browser_type_launch_args", [{"args": ["--mute-audio"]}], indirect=True)
def test_per_test_launch_args(browser_type_launch_args, browser_name, page):
    record(f"per_test_launch_args[{browser_name}]", browser_type_launch_args)
    page.set_content("<title>per test</title>")
    assert page.title() == "per test"


def test_page(page):
    page.goto("data:text/html,<title>other suite</title><h1>hello</h1>")
    assert page.title() == "other suite"


def test_context_by_hand(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<p id=p>by hand</p>")
    assert page.text_content("#p") == "by hand"
    context.close()


def test_new_context(new_context):
    page = new_context(viewport={"width": 400, "height": 300}).new_page()
    page.set_content("<p>sized</p>")
    assert page.viewport_size == {"width": 400, "height": 300}
