"""Killing an ordermon process in a chosen phase, and proving the phase from evidence.

The process runs in a session of its own. When its trigger shows (the storefront has one of
its requests in flight, SQLite's write lock is held by it, the receiver holds one of its
POSTs), the whole process group is stopped (SIGSTOP), the evidence is read again while nothing
can move, and only then the group is killed (SIGKILL). A kill counts for a phase only if the
evidence still held at the stop; otherwise it counts as ``unproven``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PHASES = ("signing_in", "reading", "writing", "delivering", "submitting")
WAL_WRITE_LOCK = 120  # the byte of the -shm file SQLite's WAL writer locks (sqlite3 wal.c: WALINDEX_LOCK_OFFSET)


def holds_write_lock(pid: int, db: Path) -> bool:
    """Whether ``pid`` holds SQLite's write lock on ``db`` (a WAL database): /proc/locks."""
    try:
        inode = os.stat(f"{db}-shm").st_ino
        with open("/proc/locks") as locks:
            text = locks.read()
    except OSError:
        return False
    for line in text.splitlines():
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        # "1: POSIX  ADVISORY  WRITE 4242 00:2a:1234 120 120"
        if (
            len(parts) >= 8
            and parts[1] == "POSIX"
            and parts[3] == "WRITE"
            and parts[4] == str(pid)
            and parts[5].rsplit(":", 1)[-1] == str(inode)
            and int(parts[6]) <= WAL_WRITE_LOCK <= int(parts[7])
        ):
            return True
    return False


def kill_in_phase(
    cmd: list[str],
    env: dict,
    trigger: Callable[[int], bool],
    timeout: float = 60,
    busy: bool = False,
    missed: Callable[[], bool] = lambda: False,
) -> tuple[bool, float]:
    """Start ``cmd``; when ``trigger(pid)`` holds, stop its process group, ask again, kill it.
    Returns (whether the trigger still held at the stop, seconds waited). ``busy``: ask without
    pausing (a window of milliseconds, such as a database write). ``missed()``, asked
    every 0.2 s: the process is past the phase without the trigger seen (a write of milliseconds
    can fall between two asks); the wait ends then, not at ``timeout``, and the kill is unproven."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    deadline, next_look = started + timeout, started + 0.2
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if trigger(proc.pid):
                break
            if time.monotonic() >= next_look:
                if missed():
                    break
                next_look = time.monotonic() + 0.2
            if not busy:
                time.sleep(0.01)  # watching another process through the storefront's admin API
        try:
            os.killpg(proc.pid, signal.SIGSTOP)
        except ProcessLookupError:
            return False, time.monotonic() - started
        proven = proc.poll() is None and trigger(proc.pid)
        return proven, time.monotonic() - started
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
