"""Progress on long work (the first poll over thousands of orders, ``orders`` over many pages,
a batch cancel): click's progress bar with a percentage on stderr, only when stderr is a
terminal and never with ``--json``, so scripts and logs never see it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns

LABELS = {"pages": "reading pages", "details": "reading order details", "cancel": "cancelling"}


class Progress:
    """A callback ``(account, done, total, what)``: the counts of every account add up to one bar;
    a new ``what`` (pages, then details) starts a new bar."""

    def __init__(self, *, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: ProgressBar[int] | None = None
        self._what: str | None = None
        self._counts: dict[str, tuple[int, int]] = {}

    def __call__(self, account: str, done: int, total: int, what: str = "details") -> None:
        if not self.enabled:
            return
        if what != self._what:
            self.close()
            self._what = what
        self._counts[account] = (done, total)
        done = sum(d for d, _ in self._counts.values())
        total = sum(t for _, t in self._counts.values())
        bar = self._bar
        if bar is None:
            bar = self._bar = click.progressbar(
                length=total,
                label=LABELS.get(what, what),
                file=sys.stderr,
                show_pos=True,
                show_percent=True,
                show_eta=False,
            )
        bar.length = total
        bar.update(done - bar.pos)
        if done >= total:
            self.close()

    def close(self) -> None:
        """End the bar (its line stays, complete or not) before other output."""
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None
        self._what = None
        self._counts.clear()
