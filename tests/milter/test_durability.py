"""The milter's engine: WAL checkpoints off the message path (durability itself is the pipeline's: tests/test_db.py)."""

from __future__ import annotations

from sqlalchemy import text

from mailgate.milter.durability import Checkpointer, open_database


def test_milter_engine_only_moves_checkpoints(settings, db):
    mdb = open_database(settings)
    try:
        if not settings.is_sqlite:  # PostgreSQL: the server checkpoints; nothing to move
            assert mdb.wal_sync is None
            return
        with mdb.read() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        with db.read() as s:  # the core's own engine is untouched
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        assert mdb.wal_sync is not None  # receive() makes each message durable itself (group commit)
    finally:
        mdb.dispose()


def test_checkpointer_moves_the_wal_into_the_database(settings, db, seed):
    if not settings.is_sqlite:  # the server never runs a Checkpointer on PostgreSQL
        return
    mdb = open_database(settings)
    try:
        with mdb.transaction() as s:
            s.execute(text("CREATE TABLE bench_scratch (x)"))
        wal = mdb.wal_sync.wal
        import os

        assert os.path.getsize(wal) > 0
        Checkpointer(mdb).checkpoint()  # no exception, outside any transaction
        with mdb.read() as s:
            busy, frames, done = s.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
        assert busy == 0 and frames == done  # everything in the WAL is in the database file
    finally:
        mdb.dispose()
