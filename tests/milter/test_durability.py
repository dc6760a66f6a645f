"""The milter's group commit: durable before the answer, one fsync shared by concurrent sessions."""

from __future__ import annotations

import threading

from sqlalchemy import text

from mailgate.milter.durability import GroupSync, NoSync, WriteQueue, open_database


def test_milter_engine_relaxes_only_the_per_commit_fsync(settings, db):
    mdb, syncer = open_database(settings)
    if not settings.is_sqlite:  # PostgreSQL: commits are durable on return, nothing to relax
        assert isinstance(syncer, NoSync)
        mdb.dispose()
        return
    try:
        with mdb.read() as s:
            assert s.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: GroupSync does the fsync
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert isinstance(syncer, GroupSync)
        with db.read() as s:  # the core's own engine is untouched
            assert s.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        mdb.dispose()


def test_group_sync_shares_flushes_and_covers_every_caller(tmp_path, monkeypatch):
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"x")
    gs = GroupSync(str(tmp_path / "x.db"))
    started = threading.Event()
    release = threading.Event()
    calls = []
    real = gs._flush

    def slow_flush():
        calls.append(1)
        started.set()
        release.wait(5)
        real()

    monkeypatch.setattr(gs, "_flush", slow_flush)
    first = threading.Thread(target=gs.sync)
    first.start()
    started.wait(5)
    # Eight sessions commit while the first flush runs: they must wait for a flush of their own
    # (the running one may have started before their commit), and share it.
    others = [threading.Thread(target=gs.sync) for _ in range(8)]
    for t in others:
        t.start()
    import time

    deadline = time.monotonic() + 5
    while gs._requested < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(5)
        assert not t.is_alive()
    assert len(calls) == 2


def test_write_queue_is_exclusive():
    q = WriteQueue()
    inside = []
    peak = []

    def work():
        for _ in range(200):
            with q.turn():
                inside.append(1)
                peak.append(len(inside))
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(peak) == 1


def test_checkpointer_moves_the_wal_into_the_database(settings, db, seed):
    from mailgate.milter.durability import Checkpointer

    if not settings.is_sqlite:  # the server never runs a Checkpointer on PostgreSQL
        assert not settings.is_sqlite
        return
    mdb, _ = open_database(settings)
    try:
        with mdb.read() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        with mdb.transaction() as s:
            s.execute(text("CREATE TABLE bench_scratch (x)"))
        Checkpointer(mdb).checkpoint()  # no exception, outside any transaction
    finally:
        mdb.dispose()


def test_write_queue_can_be_disabled():
    q = WriteQueue(enabled=False)
    with q.turn():
        with q.turn():  # no lock: re-entry and concurrency are fine
            pass
