"""The optional parts of ordermon and what each needs: a command that needs a missing extra
says which one to install (exit 2) instead of failing on an import deep inside."""

from __future__ import annotations

import importlib

#: extra -> the modules it installs (import names), as pyproject.toml's optional-dependencies.
EXTRAS = {
    "storefront": ("starlette", "uvicorn", "multipart"),
    "harness": ("pytest_playwright",),
    "serve": ("starlette", "uvicorn"),
    "fleet": ("psycopg", "procrastinate", "cryptography"),
}


class MissingExtra(Exception):
    pass


def require(extra: str, what: str) -> None:
    """Raise ``MissingExtra`` naming ``pip install 'ordermon[extra]'`` unless every module is there."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(
                f"{what} needs the {extra} extra (no module {module!r}): pip install 'ordermon[{extra}]'"
            ) from None
