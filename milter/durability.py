"""Durable before the answer, without one fsync per commit: group commit for the milter's SQLite.

The core's engine runs SQLite with synchronous=FULL: every commit fsyncs the
WAL, i.e. two fsyncs per message (store, then act), each taken while holding
SQLite's write lock, so concurrent SMTP sessions queue behind each other's
disk flushes. The milter does not need durability per commit, only before it
answers the SMTP client. So its own engine uses synchronous=NORMAL (in WAL
mode the only difference from FULL is exactly that per-commit WAL fsync;
checkpoints still sync) and `GroupSync.sync()` fsyncs the WAL file after
`receive()` returns and before the answer. Sessions that committed while a
flush was running share the next one: one fsync covers every commit written
before it started. A process crash loses nothing (committed pages are in the
OS cache); a power cut loses only messages that have not been answered yet,
which their senders retry.

`WriteQueue` serialises the milter's writers in-process: SQLite's busy
handler otherwise makes a waiting writer sleep 1, 2, 5, 10 ... 100 ms, which
showed up as a 2-second p99 at end of message under 8 concurrent clients.
Python's GIL already serialises the CPU-bound part, so nothing is lost.

PostgreSQL needs neither: the server makes each commit durable and groups
concurrent commits itself.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event

from mailgate.shared.config import Settings
from mailgate.shared.db import GROUP_SYNC, Database


class GroupSync:
    """fsync the WAL once for every commit that happened before the flush started."""

    def __init__(self, db_path: str):
        self.wal = db_path + "-wal"
        self.directory = str(Path(db_path).parent)
        self._cond = threading.Condition()
        self._requested = 0
        self._synced = 0
        self._syncing = False
        self._dir_synced = False
        self.flushes = 0  # how many fsyncs served how many sync() calls: the batching factor

    def _flush(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: everything was checkpointed (and synced) into the database file
        try:
            # fdatasync, as SQLite itself syncs its WAL on Linux: the data and the file size
            # (what reading it back needs), without an inode time stamp journal commit each time.
            os.fdatasync(fd)
        finally:
            os.close(fd)
        if not self._dir_synced:  # the WAL's directory entry, once per process
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._dir_synced = True
        self.flushes += 1

    def sync(self) -> None:
        """Return once everything this thread committed before the call is on disk."""
        with self._cond:
            self._requested += 1
            mine = self._requested
            while self._synced < mine:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                target = self._requested
                flushed = False
                self._cond.release()
                try:
                    self._flush()
                    flushed = True
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    if flushed:
                        self._synced = max(self._synced, target)
                    self._cond.notify_all()


class NoSync:
    """PostgreSQL: a commit is durable when it returns."""

    flushes = 0

    def sync(self) -> None:
        return None


class WriteQueue:
    """One writer at a time inside this process (see the module docstring).

    Used for PostgreSQL too: there, concurrent `receive()` calls replying to
    the same task wait on each other's row locks (measured, 8 clients: act p99
    0.07 s -> 1.1 s, and 3 of 800 messages got 451 from lock errors) while the
    GIL gives them no CPU parallelism to win. Other hosts of a fleet still
    write concurrently; that is the pipeline's business (it retries nothing,
    the sender does after a 451).
    """

    def __init__(self, enabled: bool = True) -> None:
        self._lock = threading.Lock() if enabled else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield


def open_database(settings: Settings, pool_size: int = 20, max_overflow: int = 200) -> tuple[Database, GroupSync | NoSync]:
    """The milter's one Database for the whole process, and how to make its commits durable."""
    if not settings.is_sqlite:
        # The server's max_connections is shared by every MX host and the console: stay modest.
        return Database(settings.database_url, pool_size=10, max_overflow=20), NoSync()
    path = settings.database_url.split("///", 1)[-1]
    db = Database(settings.database_url, pool_size=pool_size, max_overflow=max_overflow,
                  execution_options={GROUP_SYNC: True})  # no per-commit FULL: GroupSync makes it durable

    @event.listens_for(db.engine, "connect")
    def _normal(dbapi_conn, _record) -> None:  # runs after the core's pragmas (registered later)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (copying the WAL into the database, two fsyncs) would otherwise run
        # inside whichever message's commit crosses 1000 pages, stalling every session
        # queued behind it; the Checkpointer thread runs them off the message path.
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    return db, GroupSync(path)


class Checkpointer(threading.Thread):
    """Passive WAL checkpoints every `interval` seconds, outside any message's commit."""

    def __init__(self, db: Database, interval: float = 1.0):
        super().__init__(name="mailgate-checkpoint", daemon=True)
        self.db = db
        self.interval = interval
        self.stop_event = threading.Event()

    def checkpoint(self) -> None:
        raw = self.db.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            raw.close()

    def run(self) -> None:
        import logging

        while not self.stop_event.wait(self.interval):
            try:
                self.checkpoint()
            except Exception as exc:  # noqa: BLE001 -- retried next interval; the WAL just grows meanwhile
                logging.getLogger("mailgate.milter").warning("checkpoint failed: %s", exc)
