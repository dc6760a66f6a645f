"""SQLite durability modes: what each kind of write transaction really runs with."""

import pytest
from sqlalchemy import text

from mailgate.shared.db import GROUP_SYNC, Database


def sync_in_write(db: Database, **kw) -> int:
    with db.session(**kw) as s:
        value = s.execute(text("PRAGMA synchronous")).scalar()
        s.commit()
    return value


def test_plain_commits_are_full_and_lazy_ones_normal(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/a.db")
    try:
        assert sync_in_write(db) == 2  # FULL: a console or CLI change is on disk when it commits
        assert sync_in_write(db, lazy_sync=True) == 1  # NORMAL: the caller calls make_durable()
        assert sync_in_write(db) == 2  # and back: the pragma is per transaction, not sticky
        with db.pipeline() as conn, db.session(bind=conn) as s:
            assert s.execute(text("PRAGMA synchronous")).scalar() == 1
        with db.read() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.dispose()


def test_group_sync_engine_never_forces_a_per_commit_fsync(tmp_path):
    """The milter's engine: its owner fsyncs once per group of commits (milter/durability.py)."""
    from sqlalchemy import event

    db = Database(f"sqlite:///{tmp_path}/b.db", execution_options={GROUP_SYNC: True})

    @event.listens_for(db.engine, "connect")  # as milter/durability.py does
    def _normal(dbapi_conn, _r):
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    try:
        assert sync_in_write(db) == 1
        assert sync_in_write(db, lazy_sync=True) == 1
    finally:
        db.dispose()


def _count_wal_fsyncs(monkeypatch) -> list[str]:
    import os

    synced: list[str] = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_receive_is_durable_with_one_wal_fsync_and_no_pragma_traffic(db, settings, seed, mail, monkeypatch):
    """Store and outcome commit lazily on one connection; one WAL fsync before receive() returns."""
    if not settings.is_sqlite:
        pytest.skip("SQLite durability")
    from sqlalchemy import event

    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import receive

    receive(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="warm"))
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda c, cur, st, *a: statements.append(st))
    synced = _count_wal_fsyncs(monkeypatch)
    out = receive(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="Printer"))
    assert out.status == "processed"
    assert [p for p in synced if p.endswith("-wal")] == [db.wal_sync.wal]  # exactly one, after the last commit
    assert not [st for st in statements if st.startswith("PRAGMA")]  # the pooled connection is already NORMAL
    assert statements.count("BEGIN IMMEDIATE") == 2  # store, then outcome


def test_a_new_wal_file_gets_its_directory_synced(tmp_path, monkeypatch):
    """SQLite deletes the WAL when the last connection closes; the recreated file's entry must reach the disk."""
    db = Database(f"sqlite:///{tmp_path}/c.db")
    try:
        with db.pipeline() as conn, conn.begin():
            conn.execute(text("CREATE TABLE t (x)"))
        synced = _count_wal_fsyncs(monkeypatch)
        db.make_durable()
        db.make_durable()
        assert synced == [db.wal_sync.wal, str(tmp_path), db.wal_sync.wal]
        db.engine.dispose()  # last connection: the WAL is checkpointed and removed (we still hold the old file)
        with db.pipeline() as conn, conn.begin():
            conn.execute(text("INSERT INTO t VALUES (1)"))
        synced.clear()
        db.make_durable()
        assert synced == [db.wal_sync.wal, str(tmp_path)]
    finally:
        db.dispose()


def test_make_durable_is_the_owners_job_on_a_group_sync_engine(tmp_path, monkeypatch):
    db = Database(f"sqlite:///{tmp_path}/d.db", execution_options={GROUP_SYNC: True})
    try:
        with db.pipeline() as conn, conn.begin():
            conn.execute(text("CREATE TABLE t (x)"))
        synced = _count_wal_fsyncs(monkeypatch)
        db.make_durable()
        assert synced == []
    finally:
        db.dispose()
