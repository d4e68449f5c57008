"""Naming an Apprise target without its secrets: for the database, the output and the logs.

Apprise's own privacy-safe rendering (``url(privacy=True)``: its plugins know
which tokens and passwords are secret) is the base; hosts, paths and user names
that Apprise shows in clear are masked too, because they can be the secret (an
ntfy topic, a webhook path). Only the scheme, dotted host names and ports stay.
"""

from __future__ import annotations

import logging
import re

DELIMITERS = re.compile(r"([/@:?&=#,+])")
KEPT = re.compile(
    r"^$|^\*+$|.*\.\.\..*|^\d{1,5}$|^[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*\.[a-z]{2,6}$"
    r"|^\d+\.\d+\.\d+\.\d+$",
    re.I,
)
SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,30})://", re.I)


def mask(value: str) -> str:
    """Apprise's way with a token: first and last character."""
    return f"{value[0]}...{value[-1]}" if len(value) > 2 else "***"


def _masked(text: str) -> str:
    """Every part of a URL past its scheme, masked, but for dotted host names, ports and parts
    already masked."""
    scheme = SCHEME.match(text)
    head, rest = (scheme.group(0), text[scheme.end() :]) if scheme else ("", text)
    return head + "".join(
        part if DELIMITERS.fullmatch(part) or KEPT.match(part) else mask(part) for part in DELIMITERS.split(rest)
    )


def plugin_for(url: str):
    """Apprise's plugin for the URL (nothing is sent), or None when this install cannot use it."""
    from ._apprise import apprise, captured  # only where a target is given: Apprise is large

    with captured(logging.DEBUG):  # a plugin's warning may quote the URL's secret
        try:
            return apprise.Apprise.instantiate(url)
        except Exception:  # a plugin's bug: the URL stays unusable, and unquoted
            return None


def describe_target(url: str) -> str:
    """A label for an Apprise URL that names the service and holds none of its secrets."""
    plugin = plugin_for(url)
    scheme = SCHEME.match(url)
    if plugin is None:
        return f"{scheme.group(1)}://(unrecognised)" if scheme else "(unrecognised URL)"
    rendered = plugin.url(privacy=True).split("?", 1)[0]
    return f"{plugin.service_name}: {_masked(rendered)}"


def scrub(text: str, urls: list[str]) -> str:
    """``text`` with every part of these URLs masked that their labels do not show."""
    for url in urls:
        shown = set(DELIMITERS.split(describe_target(url)))
        scheme = SCHEME.match(url)
        rest = url[scheme.end() :] if scheme else url
        hidden = {part for part in DELIMITERS.split(rest) if len(part) >= 4 and part not in shown}
        hidden |= {piece for part in hidden for piece in part.split(".") if len(piece) >= 4}
        for part in sorted(hidden, key=len, reverse=True):
            text = text.replace(part, mask(part))
    return text
