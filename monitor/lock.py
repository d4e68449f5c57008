"""An exclusive lock on the database: a second monitor on it refuses to start."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from flows.account import private_folder

from .store import DatabaseBusy, StoreError, is_postgres

if TYPE_CHECKING:
    from .store.postgres import PostgresLock


class MonitorLock:
    """``<db>.lock``, held with flock: the kernel releases it when the process dies, even by kill -9."""

    def __init__(self, db_path: Path | str):
        self.path = Path(str(db_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        private_folder(self.path.parent)
        try:  # a planted symbolic link is not followed (its target would be truncated)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(f"{self.path} is a symbolic link: refused (delete it)") from None
            raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseBusy(f"another ordermon monitor is using {self.path.with_suffix('')}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MonitorLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def monitor_lock(db: str | Path) -> MonitorLock | PostgresLock:
    """The lock of the database ``db`` names (a file beside SQLite's; an advisory lock on PostgreSQL)."""
    if is_postgres(db):
        from .store.postgres import PostgresLock

        return PostgresLock(str(db))
    return MonitorLock(Path(db))
