"""Apprise, imported without the DeprecationWarning its optional PGP support raises on Python
3.11–3.12 (``apprise.utils.pgp`` imports ``imghdr`` when Apprise loads its plugins, on the
first URL added): a warning from ordermon's dependency is not its user's concern."""

import contextlib
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    import apprise

    with contextlib.suppress(ImportError):
        import apprise.utils.pgp

__all__ = ["apprise"]
