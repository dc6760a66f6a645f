"""The transaction driver: runs the steps on a batch of stored messages and turns what they raise into answers.

Reading first, before any transaction: each step's `read` for every
message (its headers); then, on the database but writing nothing, what the
steps before the body (`steps.BODY_STEP`) would make of each message
(`foresee`); then each step's `read_body` (decoding, parsing) only for the
messages they would let through. Mail refused at authorise -- anyone can
send it -- is never decoded. Then one write transaction for the batch, a
savepoint per message: the steps' `run` in order, then `record` writes the
outcome. The foresight only saves work: the transaction decides again, and
a body not read ahead is read at its step's turn. What a step raises is mapped to the message's answer in
one place, `_settle`:

- a Disposition (`outcomes.Ignore`/`Reject`): the message's work is undone
  (to its savepoint) and the disposition recorded;
- `AlreadySettled`: undone; another worker's committed outcome stands;
- a TempFail (sender authentication could not be completed): undone, the
  message left `received` with why, and that TempFail is its answer (4xx);
- an unavailable database (lock timeout, deadlock, lost connection): undone,
  nothing recorded, TempFail for this message alone (it stays `received`);
- anything else: undone and recorded as failed/internal_error with its
  traceback (reprocess it after a fix).

A transaction that cannot go on or commit fails the batch as a whole: raised
as TempFail (`durability.py`).
"""

from __future__ import annotations

import copy
import logging
import time
import traceback
from typing import Sequence

from mailgate.shared import received
from mailgate.shared.db import is_unavailable
from mailgate.shared.logs import MessageLog, kv
from mailgate.shared.outcomes import Disposition, Outcome, TempFail
from mailgate.shared.pipeline import steps
from mailgate.shared.pipeline.steps import BODY_STEP
from mailgate.shared.pipeline.steps import record
from mailgate.shared.pipeline.work import AlreadySettled, NotForeseeable, Work
from mailgate.shared.prepared import Conn

log = logging.getLogger("mailgate.pipeline")

STEPS = steps.load()
TIMED_AS_ACT = "act"  # Timings: the steps before it count as `authorise`, it and the record as `act`


def read_all(batch: Sequence[Work], conn: Conn | None = None) -> None:
    """Every step's reading on every message, until one raises (kept, raised at that step's turn).

    With `conn` (outside any transaction), the bodies are read only of the
    messages the steps before BODY_STEP would not end; without, of all.
    """
    for w in batch:
        t0 = time.perf_counter()
        _read(w, "read")
        if conn is not None:
            w.body_needed = not foresee(conn, w)
        w.timings.parse = time.perf_counter() - t0
    if conn is not None:
        conn.rollback_quietly()  # PostgreSQL began a transaction for the reads: not the processing's
        conn.memo.clear()
    for w in batch:
        if w.body_needed:
            t0 = time.perf_counter()
            _read(w, "read_body")
            w.timings.parse += time.perf_counter() - t0


def _read(w: Work, kind: str) -> None:
    for step in STEPS:
        if w.stopped is not None:
            return
        read = getattr(step, kind)
        if read is None:
            continue
        try:
            read(w)
        except Exception as exc:  # noqa: BLE001 -- raised again when the step's turn comes
            w.stopped = (step.name, exc, "".join(traceback.format_exception(exc)))


def foresee(conn: Conn, w: Work) -> bool:
    """Whether the steps before BODY_STEP would end this message (refuse, ignore, defer it).

    They run on a copy of `w` (its own decisions, columns and envelope) with
    reads only; what they would decide is not kept. A step that fails some
    other way is left for the transaction to meet and record.
    """
    if w.stopped is not None:
        return True  # a step's reading failed: the message ends at that step, which comes first
    trial = copy.copy(w)  # as dataclasses.replace, without calling __init__ with every field again
    trial.conn, trial.decisions, trial.columns, trial.envelope = conn, [], {}, copy.copy(w.envelope)
    trial.log = MessageLog(log, qid=w.row.queue_id, mid=w.row.message_id, rec=w.row.id)
    trial.foreseeing = True
    try:
        for step in STEPS:
            if step.name == BODY_STEP:
                return False
            step.run(trial)
    except (Disposition, TempFail, AlreadySettled):
        return True
    except NotForeseeable:
        return False
    except Exception as exc:  # noqa: BLE001 -- the real run meets it again, and records it
        # A failed statement ends PostgreSQL's implicit transaction: start clean for the next message's trial.
        conn.rollback_quietly()
        conn.memo.clear()
        trial.log.debug("not foreseen: %s", exc.__class__.__name__)
        return False
    return False


def decide_all(conn: Conn, batch: Sequence[Work]) -> list[Outcome | TempFail]:
    """The steps for every message in one transaction, a savepoint each; one answer per message.

    Raises TempFail when the transaction as a whole cannot go on or commit:
    then none of the batch may be answered 2xx.
    """
    for w in batch:
        w.conn = conn
        w.log = MessageLog(log, qid=w.row.queue_id, mid=w.row.message_id, rec=w.row.id)
    try:
        conn.begin_write()
        answers = [_decide(w) for w in batch]
        conn.commit()
    except Exception as exc:
        conn.rollback_quietly()
        log.warning("database unavailable while processing: %s; not answered: %s", exc.__class__.__name__,
                    kv(qids=",".join(w.row.queue_id or "-" for w in batch), recs=",".join(str(w.row.id) for w in batch)))
        raise TempFail("database unavailable while processing") from exc
    for w, answer in zip(batch, answers):
        if isinstance(answer, Outcome):
            w.log.info("processed", status=answer.status, reason=answer.reason, action=answer.action,
                       object=answer.object, actor=answer.actor, source=w.row.source, size=w.row.size,
                       rcpt=",".join(w.row.rcpt_to or []))
    return answers


def _decide(w: Work) -> Outcome | TempFail:
    """One message inside the batch's transaction: its steps, its outcome, within its own savepoint."""
    w.conn.savepoint()
    try:
        answer = _run(w)
    except Exception as exc:
        answer = _settle(w, exc)
    w.conn.release_savepoint()
    return answer


def _run(w: Work) -> Outcome:
    t0 = t1 = time.perf_counter()
    for step in STEPS:
        if step.name == TIMED_AS_ACT:
            t1 = time.perf_counter()
        if w.stopped is not None and w.stopped[0] == step.name:
            raise w.stopped[1]  # this step's reading failed: its turn has come
        step.run(w)
    outcome = record.run(w)
    w.timings.authorise = t1 - t0
    w.timings.act = time.perf_counter() - t1
    return outcome


def _settle(w: Work, exc: Exception) -> Outcome | TempFail:
    """The one place where what a step raised becomes the message's answer (see the module docstring)."""
    w.conn.rollback_to_savepoint()
    if isinstance(exc, AlreadySettled):
        w.log.info("already acted on by another worker; its outcome stands")
        return received.by_id(w.conn, w.row.id).outcome()
    if is_unavailable(exc):
        return _not_now(w, exc)
    if not isinstance(exc, (Disposition, TempFail)):
        w.log.error("processing crashed", error=exc.__class__.__name__)
    try:
        return record.run(w, exc)
    except Exception as failure:  # noqa: BLE001 -- the outcome could not be written: this message waits for a retry
        return _not_now(w, failure)


def _not_now(w: Work, exc: BaseException) -> TempFail:
    """This message only: undone, left `received`, answered 4xx (raises if even the undo fails: all of them)."""
    w.conn.rollback_to_savepoint()
    w.log.warning("not processed now, the sender retries", error=f"{exc.__class__.__name__}: {exc}"[:300],
                  exc_info=not is_unavailable(exc))
    return TempFail(f"database unavailable while processing: {exc.__class__.__name__}")
