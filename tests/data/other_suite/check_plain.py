"""Another project's tests without a browser: its own warnings must reach its summary."""

import sys
import warnings

import pytest

from check_browser import record

WATCHED = {"flows", "monitor", "playwright", "pytest_playwright", "starlette", "uvicorn", "httpx",
           "holidays", "apprise", "pydantic", "jinja2"}


def test_arithmetic():
    assert 1 + 1 == 2


def test_own_deprecation_warning():
    warnings.warn("other suite: old_api() is deprecated", DeprecationWarning)


class TestOldStyle:
    # pytest 9 deprecates this (PytestRemovedIn10Warning): the suite's authors should be told.
    @pytest.fixture(scope="session")
    def resource(self):
        return "resource"

    def test_uses_resource(self, resource):
        assert resource == "resource"


def test_imported_modules():
    record("modules", sorted({name.split(".")[0] for name in sys.modules} & WATCHED))
