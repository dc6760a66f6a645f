"""The milter's writer process: every message is stored, processed and made durable there, in batches.

Why a process of its own: in one process, the thread running receive()
shared the GIL with one libmilter thread per SMTP session. SQLite releases
the GIL around each of the ~15 calls a message makes, a session's callback
takes it, and the writer waits to get it back: measured in the milter,
receive()'s act step took 1.0-1.7 ms against 0.33 ms in a single thread,
and every session's callbacks in turn waited for the writer (bench/RESULTS.md,
"Milter throughput"). Here the sessions' threads only speak the milter
protocol; the writer process has a GIL to itself and nothing else to do.

Protocol (multiprocessing Connection, pickled tuples): the milter sends
`(request id, Arrival)` -- the message read in the session's own thread
(`pipeline.read_arrival()`: the row to store, the robot verdict, the parse),
so that the writer only stores and acts; the writer answers `(request id,
Outcome or None, TempFail text or None, Timings)` for each, after the batch
holding it is durable. The writer takes whatever has arrived (up to
MAX_BATCH) and hands it to `pipeline.receive_arrivals()`: one store
transaction, one processing transaction, one fsync for the whole batch,
which the writer's second thread runs while the next batch is stored.

If the writer dies, the messages it held are answered 451 (nothing was
acknowledged, the senders retry) and the next message starts a new one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from mailgate.shared.config import Settings
from mailgate.shared.outcomes import Outcome, TempFail
from mailgate.shared.pipeline import Arrival, Timings

log = logging.getLogger("mailgate.milter")

MAX_BATCH = 32
START_TIMEOUT = 60.0
_READY = "ready"
_STOP = None  # sent by the milter: finish what is queued, then exit


# --- the writer process ---------------------------------------------------------------------

def writer_main(conn: Connection, settings: Settings, log_level: str, cpus: set[int] | None = None) -> None:
    """Entry point of the writer process (spawned: a fresh interpreter, no inherited threads)."""
    from mailgate.milter.durability import Checkpointer, open_database
    from mailgate.shared import logs

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the milter decides when we stop (it drains first)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cpus:  # a milter pinned to one CPU (MAILGATE_MILTER_CPU) must not pin its writer to the same one
        os.sched_setaffinity(0, cpus)
    logs.setup(log_level)
    db = open_database(settings)
    checkpointer = Checkpointer(db) if settings.is_sqlite else None
    if checkpointer:
        checkpointer.start()
    replies = _Replier(db, conn)
    replies.start()
    conn.send(_READY)
    try:
        _serve(conn, db, settings, replies)
    finally:
        replies.stop()
        if checkpointer:
            checkpointer.stop_event.set()
        db.dispose()


def _serve(conn: Connection, db: Any, settings: Settings, replies: "_Replier") -> None:
    """Batches until the milter says stop (or goes away)."""
    from mailgate.shared.pipeline import receive_arrivals

    while True:
        try:
            first = conn.recv()
        except EOFError:  # the milter is gone
            return
        if first is _STOP:
            return
        batch = [first]
        stop = False
        while len(batch) < MAX_BATCH and conn.poll(0):
            item = conn.recv()
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        arrivals = [arrival for _, arrival in batch]
        for a in arrivals:
            a.timings.batch = len(batch)
        try:
            # Committed, not yet fsynced: the replier makes it durable before anyone is answered,
            # while this loop already stores the next batch.
            outcomes = receive_arrivals(db, settings, arrivals, sync=False)
            error = None
        except TempFail as exc:
            outcomes, error = None, str(exc) or "unavailable"
        except BaseException as exc:  # noqa: BLE001 -- never an accept, never a dead writer
            logging.getLogger("mailgate.milter").exception("batch of %d failed", len(batch))
            outcomes, error = None, f"internal error: {exc.__class__.__name__}"
        replies.put([(req_id, None if outcomes is None else outcomes[i], error, arrival.timings)
                     for i, (req_id, arrival) in enumerate(batch)])
        if stop:
            return


class _Replier(threading.Thread):
    """fsync, then answer: every batch committed before the flush is covered by it (group commit).

    A thread of the writer process so that the fsync of one batch overlaps
    the work on the next; fdatasync releases the GIL.
    """

    def __init__(self, db: Any, conn: Connection) -> None:
        super().__init__(name="mailgate-writer-sync", daemon=True)
        self.db, self.conn = db, conn
        self._cond = threading.Condition()
        self._queue: list[tuple] = []
        self._stopping = False

    def put(self, replies: list[tuple]) -> None:
        with self._cond:
            self._queue.extend(replies)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.join(30)

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                replies, self._queue = self._queue, []
            t0 = time.perf_counter()
            try:
                self.db.make_durable()
                failed = None
            except Exception as exc:  # noqa: BLE001 -- not on disk: nobody may be told it is
                logging.getLogger("mailgate.milter").error("fsync failed: %s", exc)
                failed = f"could not make the message durable: {exc.__class__.__name__}"
            durable = time.perf_counter() - t0
            for req_id, outcome, error, timings in replies:
                timings.durable = durable
                if failed and error is None:
                    outcome, error = None, failed
                try:
                    self.conn.send((req_id, outcome, error, timings))
                except OSError:
                    return  # the milter is gone


# --- the milter's side ----------------------------------------------------------------------

class _Pending:
    __slots__ = ("done", "reply", "conn")

    def __init__(self, conn: Connection) -> None:
        self.done = threading.Event()
        self.reply: tuple[Outcome | None, str | None, Timings | None] | None = None
        self.conn = conn  # the writer it was sent to


class WriterProcess:
    """What the milter's sessions call instead of receive(): same answer, from the writer process."""

    def __init__(self, settings: Settings, log_level: str = "INFO", cpus: set[int] | None = None) -> None:
        self.settings, self.log_level, self.cpus = settings, log_level, cpus
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # one sender at a time on the pipe; guards the fields below
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._process: Any = None
        self._conn: Connection | None = None
        self._stopping = False
        self.restarts = 0

    # lifecycle

    def start(self) -> None:
        """Start the writer and wait until it has opened the database (a failure there is a start-up error)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=writer_main, args=(child, self.settings, self.log_level, self.cpus),
                                    name="mailgate-writer", daemon=True)
        process.start()
        child.close()
        try:
            ready = parent.poll(START_TIMEOUT) and parent.recv() == _READY
        except (EOFError, OSError):  # it died on the way (its traceback went to the log)
            ready = False
        if not ready:
            process.kill()
            raise TempFail("the writer process did not start")
        self._process, self._conn = process, parent
        threading.Thread(target=self._read, args=(parent, process), name="mailgate-writer-replies",
                         daemon=True).start()
        log.info("writer process started pid=%d", process.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the writer finish what it was sent, then end it."""
        with self._lock:
            self._stopping = True
            conn, process = self._conn, self._process
            if conn is not None:
                try:
                    conn.send(_STOP)
                except OSError:
                    pass
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # requests

    def receive(self, arrival: Arrival) -> Outcome:
        """As pipeline.receive() for an arrival (pipeline.read_arrival()): durable when it returns; raises only TempFail."""
        with self._lock:
            if self._stopping:
                raise TempFail("shutting down")
            if self._process is None or not self._process.is_alive():
                self._restart_locked()
            pending = _Pending(self._conn)
            self._next_id += 1
            req_id = self._next_id
            self._pending[req_id] = pending
            try:
                self._conn.send((req_id, arrival))
            except (OSError, ValueError) as exc:
                self._pending.pop(req_id, None)
                raise TempFail(f"writer process unreachable: {exc.__class__.__name__}") from None
        pending.done.wait()
        outcome, error, remote = pending.reply
        if remote is not None:
            arrival.timings.__dict__.update(remote.__dict__)
        if error is not None:
            raise TempFail(error)
        return outcome

    def _restart_locked(self) -> None:
        if self._process is not None:
            self.restarts += 1
            log.error("writer process exited with %s; starting a new one", self._process.exitcode)
        self._start_locked()

    def _read(self, conn: Connection, process: Any) -> None:
        """Replies to their waiting sessions; when the writer goes away, 451 for whatever it held."""
        while True:
            try:
                req_id, outcome, error, timings = conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                pending = self._pending.pop(req_id, None)
            if pending is not None:
                pending.reply = (outcome, error, timings)
                pending.done.set()
        process.join(5)
        with self._lock:
            orphans = [k for k, p in self._pending.items() if p.conn is conn]
            orphans = [self._pending.pop(k) for k in orphans]
        for pending in orphans:
            pending.reply = (None, "the writer process stopped", None)
            pending.done.set()

