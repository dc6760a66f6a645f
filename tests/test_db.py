"""SQLite durability modes: what each kind of write transaction really runs with."""

from sqlalchemy import text

from mailgate.shared.db import GROUP_SYNC, Database


def sync_in_write(db: Database, **kw) -> int:
    with db.session(**kw) as s:
        value = s.execute(text("PRAGMA synchronous")).scalar()
        s.commit()
    return value


def test_store_commits_are_full_and_outcome_commits_lazy(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/a.db")
    try:
        assert sync_in_write(db) == 2  # FULL: the store commit is on disk before any answer
        assert sync_in_write(db, lazy_sync=True) == 1  # NORMAL: made durable by the next FULL commit
        assert sync_in_write(db) == 2  # and back: the pragma is per transaction, not sticky
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
