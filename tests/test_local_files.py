"""ordermon's files on an unfriendly disk: a planted symbolic link is never followed, a file is
written whole or not at all, folders are created 0700 whatever the umask, a database is 0600."""

import json
import os
import stat

import pytest
from pydantic import SecretStr

from flows.account import Account, StateFile
from flows.settings import FlowSettings
from monitor.lock import MonitorLock
from monitor.store import SqliteStore, StoreError

ACCOUNT = Account("http://127.0.0.1:1", "buyer@example.com", SecretStr("pw"))
STATE = {"cookies": [{"name": "sid", "value": "v", "domain": "127.0.0.1", "path": "/"}], "origins": []}


def test_a_planted_link_at_the_kept_sessions_temporary_name_receives_nothing(tmp_path, victim):
    settings = FlowSettings(_env_file=None, data_dir=tmp_path / "data")
    state = StateFile(settings, ACCOUNT)
    state.path.parent.mkdir(parents=True)
    (state.path.parent / (state.path.name + ".tmp")).symlink_to(victim)  # the name an older ordermon wrote to
    state.path.symlink_to(victim)  # and the file itself
    state.save(STATE)
    assert victim.read_text() == "the user's own file\n"
    assert not state.path.is_symlink() and json.loads(state.path.read_text()) == STATE
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600


def test_a_planted_lock_link_is_refused_and_its_target_left_whole(tmp_path, victim):
    db = tmp_path / "ordermon.db"
    (tmp_path / "ordermon.db.lock").symlink_to(victim)
    with pytest.raises(StoreError, match="is a symbolic link: refused"), MonitorLock(db):
        pass
    assert victim.read_text() == "the user's own file\n"


def test_folders_are_created_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        StateFile(FlowSettings(_env_file=None, data_dir=tmp_path / "a" / "b"), ACCOUNT).save(STATE)
        SqliteStore(tmp_path / "c" / "d" / "ordermon.db").close()
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "c", "c/d"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((tmp_path / "c" / "d" / "ordermon.db").stat().st_mode) == 0o600


def test_an_ordermon_database_readable_by_others_is_tightened_a_foreign_file_is_not(tmp_path):
    db = tmp_path / "ordermon.db"
    SqliteStore(db).close()
    db.chmod(0o644)
    SqliteStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    foreign = tmp_path / "notes.db"
    import sqlite3

    with sqlite3.connect(foreign) as conn:
        conn.execute("create table notes (text)")
    conn.close()
    foreign.chmod(0o644)
    with pytest.raises(StoreError):
        SqliteStore(foreign)
    assert stat.S_IMODE(foreign.stat().st_mode) == 0o644  # refused untouched


@pytest.mark.parametrize("claimed", [2, 4])
def test_a_foreign_file_claiming_an_older_ordermon_schema_is_refused_untouched(tmp_path, claimed):
    """A file with an `orders` table of its own and a user_version an older ordermon wrote: its
    migration fails, and the file is refused (exit 7) as it was, not switched to WAL or half-migrated."""
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table orders (reference text, amount real)")
        conn.execute("insert into orders values ('mine', 1.5)")
        conn.execute(f"PRAGMA user_version = {claimed}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"is not an ordermon database of schema {claimed}"):
        SqliteStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no -wal, -shm or journal left


def test_the_report_replaces_a_planted_link_and_is_written_whole(tmp_path, victim):
    from monitor.html_report import write_report

    store = SqliteStore(tmp_path / "ordermon.db")
    out = tmp_path / "report.html"
    out.symlink_to(victim)
    try:
        write_report(store, out)
    finally:
        store.close()
    assert victim.read_text() == "the user's own file\n"
    assert not out.is_symlink() and "</html>" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".report")) == []  # no temporary left
