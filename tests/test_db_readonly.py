"""A connection opened while the database could not be written is thrown away, not kept (issue 20 item 1).

SQLite opens a file it cannot write read-only, silently; pooled, such a
connection failed every write for as long as the process lived. Here the
database file, -wal and -shm are made immutable (`chattr +i`) while a
connection is opened and used, the fault ends, and the very next write on
each path (prepared statements, ORM sessions, the WAL checkpointer) must
work again.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from mailgate.shared.db import Database
from mailgate.shared.prepared import Statement


@pytest.fixture
def sqlite_db(tmp_path):
    if shutil.which("chattr") is None:
        pytest.fail("chattr is missing (Debian package e2fsprogs)", pytrace=False)
    path = tmp_path / "t.db"
    db = Database(f"sqlite:///{path}", pool_size=1, max_overflow=0)  # one pooled connection: the one opened in the fault
    with db.transaction() as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    db.dispose()  # no connection (and no mapping of -shm) survives from before the fault
    yield db, path
    subprocess.run(["chattr", "-i", *map(str, path.parent.glob("t.db*"))], check=False)
    db.dispose()


def _immutable(path: Path, on: bool) -> None:
    files = [str(p) for p in path.parent.glob("t.db*")]
    subprocess.run(["chattr", "+i" if on else "-i", *files], check=True)


INSERT = Statement(text("INSERT INTO t (x) VALUES (1)"))


def _pipeline_write(db: Database) -> None:
    with db.pipeline() as conn:
        with conn.write():
            conn.execute(INSERT)


def test_a_pipeline_connection_opened_read_only_is_not_kept(sqlite_db):
    db, path = sqlite_db
    _immutable(path, True)
    try:
        with pytest.raises(Exception, match="readonly"):
            _pipeline_write(db)
    finally:
        _immutable(path, False)
    _pipeline_write(db)  # the next write, on a fresh connection


def test_an_orm_session_opened_read_only_is_not_kept(sqlite_db):
    db, path = sqlite_db
    _immutable(path, True)
    try:
        with pytest.raises(Exception, match="readonly"):
            with db.transaction() as s:
                s.execute(text("INSERT INTO t (x) VALUES (2)"))
    finally:
        _immutable(path, False)
    with db.transaction() as s:
        s.execute(text("INSERT INTO t (x) VALUES (3)"))


def test_the_checkpointer_does_not_keep_a_read_only_connection(sqlite_db):
    from mailgate.milter.durability import Checkpointer

    db, path = sqlite_db
    _pipeline_write(db)
    db.dispose()
    checkpointer = Checkpointer(db)
    _immutable(path, True)
    try:
        try:
            checkpointer.checkpoint()  # a passive checkpoint may find nothing to write: no error
        except Exception as exc:  # noqa: BLE001
            assert "readonly" in str(exc)
    finally:
        _immutable(path, False)
    _pipeline_write(db)  # on the pool's one connection: the checkpointer's, opened in the fault, is replaced
    checkpointer.checkpoint()
