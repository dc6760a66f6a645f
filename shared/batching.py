"""Concurrent callers of receive() share its transactions and its fsync: one writer thread, batches.

Why: the milter runs one thread per SMTP session. When every session called
receive() itself, each message paid two commits and an fsync of its own,
and the sessions queued for the process's writer turn while the GIL was
handed between them at every blocking SQLite call: the turn, not the work,
set the pace (bench/RESULTS.md, "Milter throughput"). Here a session queues
its message and waits; one thread takes whatever is queued (up to
`max_batch`), and `receive_many()` stores all of it in one transaction and
processes it in a second (a savepoint per message); a second thread makes
it durable with one fsync -- while the first already works on the next
batch -- and only then wakes each session with its own outcome. A message
alone is a batch of one: no waiting for company.

Nothing is answered before its batch is durable, and a batch that cannot be
stored, processed or made durable fails as a whole with TempFail (451: the
senders retry).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Outcome, TempFail
from mailgate.shared.pipeline import Timings, receive_many

log = logging.getLogger("mailgate.batching")

MAX_BATCH = 32


class DurableAnswers(threading.Thread):
    """fsync, then answer: every batch committed before the flush is covered by it (group commit).

    A thread of its own so that the fsync of one batch overlaps the work on
    the next (fdatasync releases the GIL). `put()` takes a batch's answers,
    committed but not yet durable; `answer(item, failed, seconds)` is called
    for each once they are on disk -- or, with `failed` set, when they could
    not be made durable and must not be acknowledged.
    """

    def __init__(self, db: Any, answer: Callable[[Any, str | None, float], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.db = db
        self._answer = answer
        self._cond = threading.Condition()
        self._queue: list[Any] = []
        self._stopping = False

    def put(self, items: list[Any]) -> None:
        with self._cond:
            self._queue.extend(items)
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
                items, self._queue = self._queue, []
            t0 = time.perf_counter()
            try:
                self.db.make_durable()
                failed = None
            except Exception as exc:  # noqa: BLE001 -- not on disk: nobody may be told it is
                log.error("fsync failed: %s", exc)
                failed = f"could not make the message durable: {exc.__class__.__name__}"
            seconds = time.perf_counter() - t0
            for item in items:
                try:
                    self._answer(item, failed, seconds)
                except Exception:  # noqa: BLE001 -- one caller gone must not leave the others waiting
                    log.exception("could not answer a caller")


def receive_batch(db: Any, settings: Settings, messages: list[tuple[Envelope, bytes]],
                  timings: list[Timings]) -> list[Outcome | TempFail] | TempFail:
    """receive_many(), committed but not yet durable, that never raises: each message's answer, or one
    TempFail for the whole batch (never an accept, and never a dead writer thread or process)."""
    try:
        return receive_many(db, settings, messages, timings, sync=False)
    except TempFail as exc:
        return exc
    except BaseException as exc:  # noqa: BLE001 -- answered 4xx; the senders retry
        log.exception("batch failed, answered 4xx: qids=%s", ",".join(env.queue_id or "-" for env, _ in messages))
        return TempFail(f"internal error: {exc.__class__.__name__}")


@dataclass
class _Waiting:
    envelope: Envelope
    raw: bytes
    timings: Timings
    queued_at: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None


def _wake(w: _Waiting, failed: str | None, seconds: float) -> None:
    w.timings.durable = seconds
    if failed and w.error is None:
        w.outcome, w.error = None, TempFail(failed)
    w.done.set()


class Batcher:
    """receive() for many threads at once; `receive()` blocks until the caller's message is durable."""

    def __init__(self, db: Database, settings: Settings, max_batch: int = MAX_BATCH) -> None:
        self.db, self.settings, self.max_batch = db, settings, max_batch
        self._queue: deque[_Waiting] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._answers: DurableAnswers | None = None
        self._stopping = False
        self.batches = 0  # how many batches served how many messages: the batching factor
        self.messages = 0

    def receive(self, envelope: Envelope, raw: bytes, timings: Timings | None = None) -> Outcome:
        """As pipeline.receive(): durable when it returns; raises only TempFail."""
        waiting = _Waiting(envelope, raw, timings if timings is not None else Timings(), time.perf_counter())
        with self._cond:
            if self._stopping:
                raise TempFail("shutting down")
            if self._thread is None:
                self._answers = DurableAnswers(self.db, _wake, name="mailgate-writer-sync")
                self._answers.start()
                self._thread = threading.Thread(target=self._run, name="mailgate-writer", daemon=True)
                self._thread.start()
            self._queue.append(waiting)
            self._cond.notify()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.outcome

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the writer threads; later calls get TempFail."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread, answers = self._thread, self._answers
        if thread is not None:
            thread.join(timeout)
        if answers is not None:
            answers.stop(timeout)

    def _take(self) -> list[_Waiting] | None:
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            batch = []
            while self._queue and len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            started = time.perf_counter()
            for w in batch:
                w.timings.batch = len(batch)
            # Committed, not yet fsynced: DurableAnswers makes it durable before anyone is woken,
            # while this loop already stores the next batch.
            result = receive_batch(self.db, self.settings, [(w.envelope, w.raw) for w in batch],
                                   [w.timings for w in batch])
            self.batches += 1
            self.messages += len(batch)
            for i, w in enumerate(batch):
                w.timings.wait += started - w.queued_at
                answer = result if isinstance(result, TempFail) else result[i]
                if isinstance(answer, TempFail):
                    w.error = answer
                else:
                    w.outcome = answer
            if isinstance(result, TempFail):  # nothing of it may be acknowledged: no need to wait for the disk
                for w in batch:
                    w.done.set()
            else:
                self._answers.put(batch)
