"""Concurrent callers of receive() share its transactions and its fsync: one writer thread, batches.

Why: the milter runs one thread per SMTP session. When every session called
receive() itself, each message paid two commits and an fsync of its own,
and the sessions queued for the process's writer turn while the GIL was
handed between them at every blocking SQLite call: the turn, not the work,
set the pace (bench/RESULTS.md, "Milter throughput"). Here a session queues
its message and waits; one thread takes whatever is queued (up to
`max_batch`) and hands it to `receive_many()`, and the answers go out
through `durability.DurableAnswers` -- only once the batch is on disk, which
is the promise `durability.py` states. A message alone is a batch of one: no
waiting for company.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.durability import DurableAnswers, answers_or_tempfail
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Outcome, TempFail
from mailgate.shared.pipeline import Timings, receive_many, settled

MAX_BATCH = 32


def receive_batch(db: Any, settings: Settings, messages: list[tuple[Envelope, bytes]],
                  timings: list[Timings]) -> list[Outcome | TempFail]:
    """receive_many(), committed but not yet durable, that never raises: each message's answer, TempFail
    for all of them when the batch failed (never an accept, and never a dead writer thread or process)."""
    return answers_or_tempfail(lambda: receive_many(db, settings, messages, timings, sync=False), len(messages),
                               ",".join(env.queue_id or "-" for env, _ in messages))


@dataclass
class _Waiting:
    envelope: Envelope
    raw: bytes
    timings: Timings
    queued_at: float
    done: threading.Event = field(default_factory=threading.Event)
    answer: Outcome | TempFail | None = None


def _wake(w: _Waiting, answer: Outcome | TempFail, seconds: float) -> None:
    w.timings.durable = seconds
    w.answer = answer
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
        return settled(waiting.answer)

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
            answers = receive_batch(self.db, self.settings, [(w.envelope, w.raw) for w in batch],
                                    [w.timings for w in batch])
            self.batches += 1
            self.messages += len(batch)
            for w in batch:
                w.timings.wait += started - w.queued_at
            self._answers.put(list(zip(batch, answers)))  # each caller woken once the batch is on disk
