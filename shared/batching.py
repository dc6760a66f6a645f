"""Concurrent callers of receive() share its transactions and its fsync: one writer thread, batches.

Why: the milter runs one thread per SMTP session. When every session called
receive() itself, each message paid two commits and an fsync of its own,
and the sessions queued for the process's writer turn while the GIL was
handed between them at every blocking SQLite call: the turn, not the work,
set the pace (bench/RESULTS.md, "Milter throughput"). Here a session queues
its message and waits; one thread takes whatever is queued (up to
`max_batch`), and `receive_many()` stores all of it in one transaction,
processes it in a second (a savepoint per message) and makes it durable with
one fsync; then each session is woken with its own outcome. A message alone
is a batch of one: no waiting for company.

Nothing is answered before its batch is durable, and a batch that cannot be
stored or processed fails as a whole with TempFail (451: the senders retry).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Outcome, TempFail
from mailgate.shared.pipeline import Timings, receive_many

log = logging.getLogger("mailgate.batching")

MAX_BATCH = 32


@dataclass
class _Waiting:
    envelope: Envelope
    raw: bytes
    timings: Timings
    queued_at: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None


class Batcher:
    """receive() for many threads at once; `receive()` blocks until the caller's message is durable."""

    def __init__(self, db: Database, settings: Settings, max_batch: int = MAX_BATCH) -> None:
        self.db, self.settings, self.max_batch = db, settings, max_batch
        self._queue: deque[_Waiting] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
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
                self._thread = threading.Thread(target=self._run, name="mailgate-writer", daemon=True)
                self._thread.start()
            self._queue.append(waiting)
            self._cond.notify()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.outcome

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the writer thread; later calls get TempFail."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

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
            try:
                outcomes = receive_many(self.db, self.settings, [(w.envelope, w.raw) for w in batch],
                                        [w.timings for w in batch])
            except TempFail as exc:
                outcomes, error = None, exc
            except BaseException as exc:  # noqa: BLE001 -- never an accept, never a dead writer thread
                log.exception("batch failed, answered 4xx: qids=%s",
                              ",".join(w.envelope.queue_id or "-" for w in batch))
                outcomes, error = None, TempFail(f"internal error: {exc.__class__.__name__}")
            self.batches += 1
            self.messages += len(batch)
            for i, w in enumerate(batch):
                w.timings.wait += started - w.queued_at
                if outcomes is None:
                    w.error = error
                elif isinstance(outcomes[i], TempFail):
                    w.error = outcomes[i]
                else:
                    w.outcome = outcomes[i]
                w.done.set()
