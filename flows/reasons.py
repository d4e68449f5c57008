"""Matching what the user typed to one of the reasons the site offers."""

from __future__ import annotations

import re

from .errors import BadReason


def match_reason(wanted: str, offered: list[str]) -> str:
    """The exact label, or the one label that a case-insensitive word or prefix picks.

    "wrong" and "duplicate" are words of one reason each; "I placed" is a prefix.
    """
    wanted = wanted.strip()
    if wanted in offered:
        return wanted
    needle = wanted.casefold()
    if needle:
        exact = [r for r in offered if r.casefold() == needle]
        if len(exact) == 1:
            return exact[0]
        pattern = re.compile(r"\b" + re.escape(needle))
        hits = [r for r in offered if r.casefold().startswith(needle) or pattern.search(r.casefold())]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise BadReason(
                f"reason {wanted!r} is ambiguous ({len(hits)} match); offered: {_listing(offered)}",
                offered,
            )
    raise BadReason(f"unknown reason {wanted!r}; offered: {_listing(offered)}", offered)


def _listing(reasons: list[str]) -> str:
    return "; ".join(f'"{r}"' for r in reasons)
