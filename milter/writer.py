"""The milter's writer process: every message is stored, read, processed and made durable there, in batches.

Why a process of its own: in one process, the thread running receive()
shared the GIL with one libmilter thread per SMTP session. SQLite releases
the GIL around each of the ~15 calls a message makes, a session's callback
takes it, and the writer waits to get it back, several times slower than in
a single thread, while every session's callbacks in turn waited for the
writer (bench/RESULTS.md, "Milter throughput"). Here the sessions' threads only speak the milter
protocol; the writer process has a GIL to itself.

Protocol: a pool of pipes (multiprocessing Connections: unix socket pairs)
between the milter and the writer. A session takes a pipe, sends
`(Envelope, raw bytes)` -- or, for a message its spool put in a file
(milter/spool.py), `(Envelope, Spooled(size))` followed by the file's
descriptor (SCM_RIGHTS): the bytes are not pickled, copied or held by the
milter -- and blocks reading its answer from the same pipe -- the kernel
wakes exactly that thread, no dispatcher in between -- then puts the pipe
back. The writer waits on all pipes at once, takes every request that is
there, and hands them to `pipeline.receive_many()`: one store transaction,
one processing transaction per batch; `durability.DurableAnswers` makes it
durable and answers, on each request's pipe, while the next batch is stored
(the promise: shared/durability.py). A batch holds at most `BATCH_BYTES` of
messages (a larger message is a batch of its own): a spooled message is
read from its file only when its batch's turn comes, so the writer holds
one large message at a time, not every one that is waiting. An answer is
`(outcome fields or None, TempFail text or None, timing fields)`: plain
values, which pickle cheaply.

If the writer dies, every session waiting on it -- for its answer, or for a
pipe -- answers 451 (nothing was acknowledged, the senders retry); the next
message starts a new writer.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import recv_handle, send_handle
from typing import Any, Iterator

from mailgate.milter import memory
from mailgate.milter.spool import Spool, read_fd

from mailgate.shared.batching import receive_batch
from mailgate.shared.config import Settings
from mailgate.shared.durability import DurableAnswers
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Outcome, Reason, Status, TempFail
from mailgate.shared.pipeline import Timings

log = logging.getLogger("mailgate.milter")

PIPES = 32  # sessions at their end of message at the same time (more wait for a pipe) = the largest batch
BATCH_BYTES = 8 * 1024 * 1024  # messages' bytes in one batch, at most (a larger message is a batch alone)
TRIM_AFTER_BYTES = 1024 * 1024  # a batch this large is followed by memory.trim()
START_TIMEOUT = 60.0
_READY = "ready"
_STOP = None  # sent by the milter: finish what is queued, then exit
_DEAD = "dead"  # put in the pipe pool of a writer that died: wakes every session waiting for a pipe

_OUTCOME_FIELDS = tuple(f.name for f in dataclasses.fields(Outcome))
_TIMING_FIELDS = tuple(f.name for f in dataclasses.fields(Timings))


def _outcome_fields(outcome: Outcome) -> tuple:
    """Plain values only (the enums as their strings): unpickling an enum member is costly."""
    return tuple(str(v) if isinstance(v, (Status, Reason)) else v
                 for v in (getattr(outcome, f) for f in _OUTCOME_FIELDS))


@dataclass(frozen=True)
class Spooled:
    """In place of the bytes: the message is in a file whose descriptor follows on the pipe."""

    size: int


@dataclass
class _File:
    """A spooled message's descriptor in the writer, until its batch reads it."""

    fd: int
    size: int

    def read(self) -> bytes:
        try:
            return read_fd(self.fd, self.size)
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _outcome_from(fields: tuple) -> Outcome:
    outcome = Outcome(**dict(zip(_OUTCOME_FIELDS, fields)))
    outcome.status = Status(outcome.status)
    outcome.reason = Reason(outcome.reason) if outcome.reason else None
    return outcome


# --- the writer process ---------------------------------------------------------------------

def writer_main(control: Connection, pipes: list[Connection], settings: Settings, log_level: str,
                cpus: set[int] | None = None) -> None:
    """Entry point of the writer process (spawned: a fresh interpreter, no inherited threads)."""
    from mailgate.milter.durability import Checkpointer, open_database
    from mailgate.shared import logs

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the milter decides when we stop (it drains first)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cpus:  # a milter pinned to one CPU (MAILGATE_MILTER_CPU) must not pin its writer to the same one
        os.sched_setaffinity(0, cpus)
    memory.tune()
    logs.setup(log_level)
    db = open_database(settings)
    checkpointer = Checkpointer(db) if settings.is_sqlite else None
    if checkpointer:
        checkpointer.start()
    replies = DurableAnswers(db, _send, name="mailgate-writer-sync")
    replies.start()
    control.send(_READY)
    try:
        _serve(control, pipes, db, settings, replies)
    finally:
        replies.stop()
        if checkpointer:
            checkpointer.stop_event.set()
        db.dispose()


def _serve(control: Connection, pipes: list[Connection], db: Any, settings: Settings,
           replies: DurableAnswers) -> None:
    """Batches of whatever requests are waiting, until the milter says stop (or goes away)."""
    open_pipes = list(pipes)
    while True:
        batch: list[tuple[Connection, Envelope, bytes | _File]] = []
        stop = False
        for ready in wait([control, *open_pipes]):
            try:
                item = ready.recv()
                if ready is not control and isinstance(item[1], Spooled):
                    item = (item[0], _File(recv_handle(ready), item[1].size))
            except RuntimeError as exc:  # the file's descriptor did not come (this process at its open-file limit)
                replies.put([((ready, Timings(batch=1)), TempFail(f"could not take the message's file: {exc}"))])
                continue
            except (EOFError, OSError):
                if ready is control:  # the milter is gone
                    return
                open_pipes.remove(ready)
                ready.close()  # its session, waiting for an answer, gets EOF and answers 451
                continue
            if ready is control:
                stop = stop or item is _STOP
            else:
                batch.append((ready, *item))
        for part in _parts(batch):
            _receive_part(db, settings, replies, part)
        if stop:
            return


def _parts(batch: list[tuple[Connection, Envelope, bytes | _File]]) -> Iterator[list]:
    """The batch in parts of at most BATCH_BYTES (a larger message alone), in order."""
    part: list = []
    size = 0
    for request in batch:
        n = request[2].size if isinstance(request[2], _File) else len(request[2])
        if part and size + n > BATCH_BYTES:
            yield part
            part, size = [], 0
        part.append(request)
        size += n
    if part:
        yield part


def _receive_part(db: Any, settings: Settings, replies: DurableAnswers, part: list) -> None:
    """Store, process and (through `replies`) answer one part; spooled messages are read from their files now."""
    messages = []
    for pipe, env, payload in part:
        if isinstance(payload, _File):
            try:
                payload = payload.read()
            except Exception as exc:  # noqa: BLE001 -- not read, not stored: this one message is answered 4xx
                replies.put([((pipe, Timings(batch=len(part))), TempFail(f"could not read the message: {exc}"))])
                continue
        messages.append((pipe, env, payload))
    if not messages:
        return
    size = sum(len(raw) for _, _, raw in messages)
    timings = [Timings(batch=len(messages)) for _ in messages]
    answers = receive_batch(db, settings, [(env, raw) for _, env, raw in messages], timings)
    replies.put([((pipe, t), answer) for (pipe, _, _), t, answer in zip(messages, timings, answers)])
    del messages, answers
    if size >= TRIM_AFTER_BYTES:
        gc.collect()  # a large message's objects caught in cycles (the parser's) go now, not some batches later
        memory.trim()


def _send(caller: tuple[Connection, Timings], answer: Outcome | TempFail, seconds: float) -> None:
    """Answer one session on its pipe, once its batch is on disk (or could not be made durable)."""
    pipe, timings = caller
    timings.durable = seconds
    if isinstance(answer, TempFail):  # this message (or its whole batch) could not be processed now
        outcome, error = None, answer if answer.args else TempFail("unavailable")  # its class picks the 4xx
    else:
        outcome, error = _outcome_fields(answer), None
    try:
        pipe.send((outcome, error, tuple(getattr(timings, f) for f in _TIMING_FIELDS)))
    except Exception:  # noqa: BLE001 -- that session is gone (the milter died); answer the others
        pass


# --- the milter's side ----------------------------------------------------------------------

class WriterProcess:
    """What the milter's sessions call instead of receive(): same answer, from the writer process."""

    def __init__(self, settings: Settings, log_level: str = "INFO", cpus: set[int] | None = None) -> None:
        self.settings, self.log_level, self.cpus = settings, log_level, cpus
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # guards the fields below (start, restart, stop)
        self._process: Any = None
        self._control: Connection | None = None
        self._pipes: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._stopping = False
        self.restarts = 0

    # lifecycle

    def start(self) -> None:
        """Start the writer and wait until it has opened the database (a failure there is a start-up error)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        pairs = [self._ctx.Pipe(duplex=True) for _ in range(PIPES)]
        control, control_child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=writer_main,
                                    args=(control_child, [c for _, c in pairs], self.settings, self.log_level,
                                          self.cpus), name="mailgate-writer", daemon=True)
        process.start()
        control_child.close()
        for _, child in pairs:
            child.close()
        try:
            ready = control.poll(START_TIMEOUT) and control.recv() == _READY
        except (EOFError, OSError):  # it died on the way (its traceback went to the log)
            ready = False
        if not ready:
            process.kill()
            process.join(5)
            for conn in [control, *(parent for parent, _ in pairs)]:
                conn.close()
            raise TempFail("the writer process did not start")
        pipes: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        for parent, _ in pairs:
            pipes.put(parent)
        self._process, self._control, self._pipes = process, control, pipes
        log.info("writer process started pid=%d", process.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the writer finish what it was sent, then end it (again: nothing to do)."""
        with self._lock:
            self._stopping = True
            control, process = self._control, self._process
            self._control = None
            if control is not None:
                try:
                    control.send(_STOP)
                except OSError:
                    pass
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(5)
        if control is not None:
            control.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # requests

    takes_spool = True  # receive() takes a Spool: a message in a file goes over as its descriptor

    def receive(self, envelope: Envelope, raw: bytes | Spool, timings: Timings | None = None) -> Outcome:
        """As pipeline.receive(): durable when it returns; raises only TempFail."""
        with self._lock:
            if self._stopping:
                raise TempFail("shutting down")
            if self._process is None or not self._process.is_alive():
                self._restart_locked()
            pipes, pid = self._pipes, self._process.pid
        pipe = pipes.get()  # waits while every pipe is in use: the writer is busy with that many anyway
        if pipe is _DEAD:
            pipes.put(_DEAD)  # for the next one waiting on this pool
            raise TempFail("the writer process stopped")
        try:
            if isinstance(raw, Spool) and not raw.in_memory:
                pipe.send((envelope, Spooled(raw.size)))
                send_handle(pipe, raw.fileno(), pid)
            else:
                pipe.send((envelope, raw.read() if isinstance(raw, Spool) else raw))
            outcome, error, remote = pipe.recv()
        except BaseException as exc:
            # The writer is gone (end of file), or this pipe is in an unknown state: never reuse it. Wake
            # everyone waiting on this pool, and make sure the next message starts a fresh writer.
            pipe.close()
            pipes.put(_DEAD)
            self._abandon(pipes)
            if isinstance(exc, (EOFError, OSError, ValueError)):
                raise TempFail("the writer process stopped") from None
            raise
        pipes.put(pipe)
        if timings is not None:
            for name, value in zip(_TIMING_FIELDS, remote):
                setattr(timings, name, value)
        if error is not None:  # the TempFail itself (its class picks the 4xx), or a text
            raise error if isinstance(error, TempFail) else TempFail(error)
        return _outcome_from(outcome)

    def _abandon(self, pipes: "queue.SimpleQueue[Connection]") -> None:
        """The writer behind `pipes` cannot be used any more: end it, so that the next message starts another."""
        with self._lock:
            if self._pipes is pipes and self._process is not None and self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    def _restart_locked(self) -> None:
        if self._process is not None:
            self.restarts += 1
            log.error("writer process exited with %s; starting a new one", self._process.exitcode)
            old = self._pipes
            while not old.empty():
                pipe = old.get()
                if pipe is not _DEAD:
                    pipe.close()
            old.put(_DEAD)  # sessions still waiting on the old pool wake up and answer 451
            if self._control is not None:
                self._control.close()
        self._start_locked()
