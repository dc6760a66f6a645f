"""The promise: nobody is answered for a message before it is stored and on disk.

Every way in (milter, pipe, console, CLI, ingress) hands its messages to the
pipeline, which stores the raw bytes and the envelope before anything else
happens to them. Whatever answer follows -- 250, 550, an exit code, a page --
is given only after every commit behind it is durable:

- On SQLite the pipeline commits with `synchronous=NORMAL` (visible to every
  process, safe from a crash of ours, not yet fsynced) and `WalSync` then
  puts the WAL on disk with one `fdatasync` for every commit made so far: a
  group commit, which concurrent callers share. On PostgreSQL a commit is
  durable when it returns.
- A batch fails as a whole: if it cannot be stored, processed, committed or
  made durable, every message in it is answered `TempFail` (4xx; the senders
  retry, and a copy already stored becomes a duplicate of the retry or is
  finished by `pipeline.recover_stale`). A single message that meets an
  unavailable database gets its own TempFail; the others go on.

This module owns the mechanism: `unit()` is the pipeline's unit of work
(and `transaction()` the same for a console or CLI action),
`DurableAnswers` answers a batch's callers once the fsync covering it is
done (the in-process `batching.Batcher` and the milter's writer process),
`answers_or_tempfail()` turns a batch that raised into TempFail for each.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from mailgate.shared.outcomes import TempFail
from mailgate.shared.prepared import Conn

if TYPE_CHECKING:
    from mailgate.shared.db import Database

log = logging.getLogger("mailgate.durability")

T = TypeVar("T")


class WalSync:
    """Group commit for an SQLite WAL: one fdatasync covers every commit written before it started.

    In WAL mode this is exactly what synchronous=FULL adds to each commit.
    A process crash loses nothing (committed pages are in the OS cache); a
    power cut loses only messages that were not answered yet, which their
    senders retry.

    fdatasync, as SQLite itself syncs its WAL on Linux: the data and the file
    size, without an inode time stamp journal commit each time. SQLite
    deletes the WAL when its last connection closes (after checkpointing it
    into the database file) and creates a new one later: the file is held
    open to notice that (its link count drops to 0), and a new file's
    directory entry is synced once so that the file itself survives a power
    cut. SQLite puts no locks on the WAL file, so holding it open is safe.
    """

    def __init__(self, db_path: str):
        self.wal = db_path + "-wal"
        self.directory = str(Path(db_path).parent)
        self._fd: int | None = None
        self._cond = threading.Condition()
        self._requested = 0  # sync() calls so far
        self._synced = 0  # calls covered by a finished flush
        self._syncing = False
        self.flushes = 0  # fsyncs done: with `_requested`, the batching factor

    def sync(self) -> None:
        """Return once everything this thread committed before the call is on disk."""
        with self._cond:
            self._requested += 1
            mine = self._requested
            while self._synced < mine:
                if self._syncing:
                    self._cond.wait()
                    continue
                # Our turn: flush for every caller so far, including those who will wait on us.
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

    def _flush(self) -> None:
        fd = self._fd
        if fd is not None and os.fstat(fd).st_nlink == 0:  # replaced since: sync the new one
            self._close_fd()
            fd = None
        new = fd is None
        if new:
            try:
                fd = self._fd = os.open(self.wal, os.O_RDONLY)
            except FileNotFoundError:
                return  # no WAL: everything was checkpointed (and synced) into the database file
        os.fdatasync(fd)
        if new:
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self.flushes += 1

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._cond:
            self._close_fd()


@dataclass
class Unit:
    """The pipeline's connection for one unit of work, and what making it durable cost."""

    conn: Conn
    durable_seconds: float = 0.0


@contextmanager
def unit(db: "Database", failure: str, *, sync: bool = True) -> Iterator[Unit]:
    """The pipeline's connection; every commit made on it is on disk when the block ends.

    `sync=False`: the caller makes it durable (`db.make_durable()`, or
    `DurableAnswers`) before it answers anyone. Anything that goes wrong --
    checkout, a statement, a commit, the fsync -- happens before anyone was
    answered: it is raised as TempFail(`failure`), and the sender retries.
    """
    try:
        with db.pipeline() as conn:
            work = Unit(conn)
            yield work
        if sync:
            t0 = time.perf_counter()
            db.make_durable()  # one fsync covers every commit of the block (and of concurrent callers')
            work.durable_seconds = time.perf_counter() - t0
    except TempFail:
        raise
    except Exception as exc:
        raise TempFail(f"{failure}: {exc.__class__.__name__}") from exc


@contextmanager
def transaction(db: "Database") -> Iterator[Conn]:
    """One write transaction on a `Conn` of its own, committed and on disk when the block ends.

    How the console and the CLI act through the mail path's functions (a
    reply address handed out): the same prepared statements, in a
    transaction of their own, never an ORM Session's connection behind its
    back. Errors propagate as they are. On SQLite, end the request's own
    transaction first (it may hold the write lock).
    """
    with db.pipeline() as conn:
        with conn.write():
            yield conn
    db.make_durable()


def answers_or_tempfail(run: Callable[[], Sequence[T]], count: int, names: str) -> list[T | TempFail]:
    """A batch's answers, one per message; if the batch raised, TempFail for every message of it.

    Never raises: the caller is a writer thread or process that must go on
    answering (`names`, the messages' queue ids, goes in the log line).
    """
    try:
        return list(run())
    except TempFail as exc:
        return [exc] * count
    except BaseException as exc:  # noqa: BLE001 -- answered 4xx; the senders retry
        log.exception("batch failed, answered 4xx: qids=%s", names)
        return [TempFail(f"internal error: {exc.__class__.__name__}")] * count


class DurableAnswers(threading.Thread):
    """Answer a batch's callers once it is on disk: one fsync per batch, beside the work on the next.

    `put(pairs)` takes a committed batch as (caller, answer) pairs; once the
    fsync that covers it is done, `deliver(caller, answer, seconds)` is
    called for each. If the fsync fails, every answer that is not a TempFail
    already becomes one: nothing not on disk is acknowledged. A batch whose
    answers are all TempFail is delivered at once (there is nothing to make
    durable). A thread of its own so that the fsync of one batch overlaps
    the work on the next (fdatasync releases the GIL).
    """

    def __init__(self, db: Any, deliver: Callable[[Any, Any, float], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.db = db
        self._deliver = deliver
        self._cond = threading.Condition()
        self._queue: list[tuple[Any, Any]] = []
        self._stopping = False

    def put(self, pairs: list[tuple[Any, Any]]) -> None:
        if all(isinstance(answer, TempFail) for _, answer in pairs):
            self._deliver_all(pairs, None, 0.0)
            return
        with self._cond:
            self._queue.extend(pairs)
            self._cond.notify()

    def stop(self, timeout: float = 30.0) -> None:
        """Answer what was put, then end."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                pairs, self._queue = self._queue, []
            t0 = time.perf_counter()
            try:
                self.db.make_durable()
                failed = None
            except Exception as exc:  # noqa: BLE001 -- not on disk: nobody may be told it is
                log.error("fsync failed: %s", exc)
                failed = TempFail(f"could not make the message durable: {exc.__class__.__name__}")
            self._deliver_all(pairs, failed, time.perf_counter() - t0)

    def _deliver_all(self, pairs: list[tuple[Any, Any]], failed: TempFail | None, seconds: float) -> None:
        for caller, answer in pairs:
            if failed is not None and not isinstance(answer, TempFail):
                answer = failed
            try:
                self._deliver(caller, answer, seconds)
            except Exception:  # noqa: BLE001 -- one caller gone must not leave the others waiting
                log.exception("could not answer a caller")
