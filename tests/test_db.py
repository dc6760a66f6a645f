"""SQLite durability: what each kind of write transaction runs with, and the pipeline's group commit."""

import os
import threading
import time

import pytest
from sqlalchemy import text

from mailgate.shared.db import Database, WalSync


def sync_in_write(db: Database) -> int:
    with db.transaction() as s:
        return s.execute(text("PRAGMA synchronous")).scalar()


def sync_in_pipeline(db: Database) -> int:
    with db.pipeline() as conn:
        return conn.dbapi.execute("PRAGMA synchronous").fetchone()[0]


def test_plain_commits_are_full_and_pipeline_ones_normal(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/a.db")
    try:
        assert sync_in_write(db) == 2  # FULL: a console or CLI change is on disk when it commits
        assert sync_in_pipeline(db) == 1  # NORMAL: the pipeline calls make_durable() before it answers
        assert sync_in_write(db) == 2  # and back: the pooled connection is shared, the mode follows the user
        with db.read() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.dispose()


def _count_wal_fsyncs(monkeypatch) -> list[str]:
    """Paths fsynced or fdatasynced from now on, in order."""
    synced: list[str] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def wrapped(fd, real=real):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            return real(fd)

        monkeypatch.setattr(os, name, wrapped)
    return synced


def test_receive_is_durable_with_one_wal_fsync_and_no_pragma_traffic(db, settings, seed, mail, monkeypatch):
    """Store and outcome commit lazily on one connection; one WAL fsync before receive() returns."""
    if not settings.is_sqlite:
        pytest.skip("SQLite durability")
    from sqlalchemy import event

    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import receive

    receive(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="warm"))
    statements: list[str] = []  # what SQLite itself ran (the pipeline bypasses SQLAlchemy's execute)
    event.listen(db.engine, "checkout", lambda dbapi_conn, *a: dbapi_conn.set_trace_callback(statements.append))
    event.listen(db.engine, "checkin", lambda dbapi_conn, *a: dbapi_conn.set_trace_callback(None))
    synced = _count_wal_fsyncs(monkeypatch)
    out = receive(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="Printer"))
    assert out.status == "processed"
    assert [p for p in synced if p.endswith("-wal")] == [db.wal_sync.wal]  # exactly one, after the last commit
    assert any(st.startswith("INSERT INTO received_messages") for st in statements)
    assert not [st for st in statements if st.startswith("PRAGMA")]  # the pooled connection is already NORMAL
    assert statements.count("BEGIN IMMEDIATE") == 2  # store, then outcome


def _write(db: Database, sql: str) -> None:
    with db.pipeline() as conn, conn.write():
        conn.run_sql(sql)


def test_a_new_wal_file_gets_its_directory_synced(tmp_path, monkeypatch):
    """SQLite deletes the WAL when the last connection closes; the recreated file's entry must reach the disk."""
    db = Database(f"sqlite:///{tmp_path}/c.db")
    try:
        _write(db, "CREATE TABLE t (x)")
        synced = _count_wal_fsyncs(monkeypatch)
        db.make_durable()
        db.make_durable()
        assert synced == [db.wal_sync.wal, str(tmp_path), db.wal_sync.wal]
        db.engine.dispose()  # last connection: the WAL is checkpointed and removed (we still hold the old file)
        _write(db, "INSERT INTO t VALUES (1)")
        synced.clear()
        db.make_durable()
        assert synced == [db.wal_sync.wal, str(tmp_path)]
    finally:
        db.dispose()


def test_group_commit_shares_flushes_and_covers_every_caller(tmp_path, monkeypatch):
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"x")
    ws = WalSync(str(tmp_path / "x.db"))
    started = threading.Event()
    release = threading.Event()
    calls = []
    real = ws._flush

    def slow_flush():
        calls.append(1)
        started.set()
        release.wait(5)
        real()

    monkeypatch.setattr(ws, "_flush", slow_flush)
    first = threading.Thread(target=ws.sync)
    first.start()
    started.wait(5)
    # Eight sessions commit while the first flush runs: they must wait for a flush of their own
    # (the running one may have started before their commit), and share it.
    others = [threading.Thread(target=ws.sync) for _ in range(8)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while ws._requested < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(5)
        assert not t.is_alive()
    assert len(calls) == 2
    ws.close()


def test_pipeline_writers_take_turns(tmp_path):
    """One pipeline writer at a time per process: a second BEGIN IMMEDIATE never meets SQLite's lock.

    SQLite's busy timeout is set to 0 here, so a writer that got past the turn
    while another held SQLite's write lock would fail at once ("database is
    locked") instead of sleeping in the busy handler.
    """
    db = Database(f"sqlite:///{tmp_path}/e.db")
    _write(db, "CREATE TABLE t (x)")
    inside, peak, errors = [], [], []

    def work():
        for _ in range(20):
            with db.pipeline() as conn:
                conn.run_sql("PRAGMA busy_timeout=0")
                try:
                    conn.begin_write()
                except Exception as exc:  # noqa: BLE001 -- the assertion below names it
                    errors.append(exc)
                    continue
                inside.append(1)
                peak.append(len(inside))
                conn.run_sql("INSERT INTO t VALUES (1)")
                time.sleep(0.002)  # others arrive meanwhile
                inside.pop()
                conn.commit()

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and max(peak) == 1 and len(peak) == 80
    finally:
        db.dispose()
