"""Apprise, imported without the DeprecationWarning its optional PGP support raises on Python
3.11–3.12 (``apprise.utils.pgp`` imports ``imghdr`` when Apprise loads its plugins, on the
first URL added): a warning from ordermon's dependency is not its user's concern."""

import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Iterator

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    import apprise

    with contextlib.suppress(ImportError):
        import apprise.utils.pgp

__all__ = ["apprise", "captured"]


_logger = logging.getLogger("apprise")
_lock = threading.Lock()
_callers = 0
_propagated = True


@contextlib.contextmanager
def captured(level: int) -> Iterator[io.StringIO]:
    """Apprise's records during one of ordermon's calls into it, captured (Apprise's ``LogCapture``)
    and kept from the application's handlers meanwhile: they quote target URLs with their secrets
    ("Loaded ntfy URL: ntfys://secret-topic..."). The logger is as it was once the last call ends."""
    global _callers, _propagated
    with _lock:
        if _callers == 0:
            _propagated = _logger.propagate
            _logger.propagate = False
        _callers += 1
    try:
        with apprise.LogCapture(level=level) as stream:
            yield stream
    finally:
        with _lock:
            _callers -= 1
            if _callers == 0:
                _logger.propagate = _propagated
