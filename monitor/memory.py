"""Memory a long-running ordermon process hands back: after a poll of thousands of orders (the
monitor), after a judgement of every order (the dashboard)."""

from __future__ import annotations

import ctypes
import ctypes.util


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc: nothing to trim
        return None


_LIBC = _libc()


def hand_back_pages() -> None:
    """The pages the allocator freed, back to the system: glibc keeps a process's peak otherwise,
    for as long as it runs."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
