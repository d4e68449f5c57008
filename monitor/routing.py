"""Where an alert goes and when: targets chosen with Apprise's own tag logic, quiet hours.

A target is an Apprise URL with its tags (``ORDERMON_ALERT_URLS``' ``{"url": ..., "tags": [...]}``,
an Apprise configuration file's ``tag:``), for every account or for one (an ``ORDERMON_ACCOUNTS``
entry's own ``alert_urls``). ``ORDERMON_ROUTES`` maps a severity, a rule or an account to tags; an
alert's tags are those of its severity, its rule and its account (and the account entry's
``tags``). Apprise decides which targets they match (``Apprise.find``: a list is *or*, a nested list
*and*, ``always`` and ``all`` as Apprise means them); an untagged target gets every alert, as
Apprise gives an untagged server every notification sent without tags.

Quiet hours (``22:00-07:30`` in ``ORDERMON_TIMEZONE``, an account's own where it sets them) hold
what is not urgent, judged on the site's clock as every rule is; the poll that sees them over
releases what they held (monitor/store/outbox.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flows.errors import SettingsError

from .redact import describe_target
from .rule import Finding, Severity
from .store import Routed

#: Tags: Apprise's logic (a string, or a list of strings and of lists: *or* of *and*s).
Tags = Sequence[str | Sequence[str]]

_CLOCK = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily stretch of local time, ``start`` to ``end`` (past midnight when ``end`` is earlier)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        found = _CLOCK.match(text)
        if not found:
            raise ValueError(f"quiet hours are HH:MM-HH:MM (22:00-07:30), not {text!r}")
        h1, m1, h2, m2 = map(int, found.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError(f"quiet hours {text!r} start and end at the same time")
        return cls(dt.time(h1, m1), dt.time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def until(self, now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
        """When the quiet hours that hold at ``now`` end (None: they do not hold then)."""
        local = now.astimezone(zone)
        t = local.time()
        wraps = self.end < self.start
        inside = (t >= self.start or t < self.end) if wraps else (self.start <= t < self.end)
        if not inside:
            return None
        day = local.date() + dt.timedelta(days=1 if wraps and t >= self.start else 0)
        # A wall-clock time made in the zone (DST: the earlier of an hour that happens twice).
        return dt.datetime.combine(day, self.end, tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class Target:
    """One Apprise target: its URL (a secret: never stored nor shown), its tags, and the account it
    serves (None: every account)."""

    url: str
    tags: frozenset[str] = frozenset()
    account: str | None = None

    @property
    def key(self) -> str:
        from .alerts import target_key

        return target_key(self.url)

    @property
    def label(self) -> str:
        return describe_target(self.url)


def targets_from_config(path: Path) -> list[Target]:
    """The targets of an Apprise configuration file (its YAML or TEXT format, read by Apprise's own
    ``AppriseConfig``), with the tags it gives each."""
    from ._apprise import apprise, captured

    if not path.is_file():
        raise SettingsError(f"bad setting ORDERMON_APPRISE_CONFIG: no such file: {path}")
    config = apprise.AppriseConfig()
    with captured(logging.DEBUG):  # its warnings may quote a URL
        added = config.add(str(path.resolve()))
        servers = list(config.services()) if added else []
    if not servers:
        raise SettingsError(f"bad setting ORDERMON_APPRISE_CONFIG: Apprise reads no target in {path}")
    return [Target(server.url(privacy=False), frozenset(map(str, server.tags))) for server in servers]


@dataclass
class Router:
    """Chooses an alert's targets and whether the quiet hours hold it (``route``: the store's Route)."""

    targets: list[Target]
    routes: Mapping[str, Tags] = field(default_factory=dict)
    account_tags: Mapping[str, Tags] = field(default_factory=dict)
    quiet: Mapping[str | None, QuietHours | None] = field(default_factory=dict)  # None: every account's
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        self._pools: dict[str | None, Any] = {}  # account (None: every account's) -> an Apprise of its targets
        self._keys: dict[int, Target] = {}
        if not self.targets:
            return  # Apprise is large: loaded only where a target is given (as the Notifier does)
        from ._apprise import apprise, captured

        seen: set[tuple[str | None, str]] = set()
        for target in self.targets:
            if (target.account, target.key) in seen:
                continue
            seen.add((target.account, target.key))
            pool = self._pools.setdefault(target.account, apprise.Apprise())
            with captured(logging.DEBUG):
                server = apprise.Apprise.instantiate(target.url, tag=sorted(target.tags))
            if server is None:
                raise SettingsError(f"bad setting ORDERMON_ALERT_URLS: cannot use {target.label}")
            pool.add(server)
            self._keys[id(server)] = target

    def tags_for(self, account: str, finding: Finding) -> list[str | Sequence[str]]:
        """The tags an account's finding is sent with: its severity's, its rule's, its account's."""
        tags: list[str | Sequence[str]] = []
        for key in (finding.severity.value, finding.rule, account):
            tags += _listed(self.routes.get(key, ()))
        return tags + _listed(self.account_tags.get(account, ()))

    def chosen(self, account: str, finding: Finding) -> list[Target]:
        """The targets that get the finding: untagged ones, and those Apprise matches to its tags;
        every account's, then the account's own; each once."""
        tags = self.tags_for(account, finding)
        chosen: dict[str, Target] = {}
        for owner in (None, account):
            pool = self._pools.get(owner)
            if pool is None:
                continue
            servers = [*pool.find(tag=None)]  # untagged: everything
            if tags:
                servers += pool.find(tag=tags)
            for server in servers:
                target = self._keys[id(server)]
                chosen.setdefault(target.key, target)
        return list(chosen.values())

    def held_until(self, account: str, finding: Finding, now: dt.datetime) -> dt.datetime | None:
        """Until when the quiet hours hold the finding (None: it goes now; urgent ones always do)."""
        quiet = self.quiet.get(account, self.quiet.get(None))
        if quiet is None or finding.severity is Severity.URGENT:
            return None
        return quiet.until(now, self.zone)

    def route(self, account: str, finding: Finding, now: dt.datetime) -> list[Routed]:
        until = self.held_until(account, finding, now)
        return [Routed(t.key, t.label, until) for t in self.chosen(account, finding)]


def _listed(tags: str | Tags | Iterable) -> list[str | Sequence[str]]:
    return [tags] if isinstance(tags, str) else list(tags)
