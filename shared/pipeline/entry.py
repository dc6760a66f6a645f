"""The pipeline's entry points: receive a batch, process a stored message again, recover stale ones.

Answers and TempFail, the one rule: a function that answers for one message
(`receive`, `process`, `reprocess`, `store`) returns its Outcome or raises
TempFail; `receive_many` answers for several and never raises: one answer
per message, its Outcome or a TempFail, and TempFail for every one of them
when the batch as a whole failed (`durability.py`).
"""

from __future__ import annotations

from datetime import timedelta
from email.message import Message
from typing import Sequence

from mailgate.shared import durability, received, sender_auth
from mailgate.shared.config import Settings
from mailgate.shared.db import Database, utcnow
from mailgate.shared.envelope import Envelope
from mailgate.shared.message import load_message
from mailgate.shared.outcomes import AuthDeferred, Outcome, Status, TempFail
from mailgate.shared.pipeline import driver
from mailgate.shared.pipeline.steps import store as store_step
from mailgate.shared.pipeline.work import Timings, Work
from mailgate.shared.queries import as_id
from mailgate.shared.received import ReceivedRow
from mailgate.shared.senderauth.result import AuthResult

REPROCESSABLE = (Status.FAILED, Status.RECEIVED, Status.REJECTED)


class NotReprocessable(Exception):
    """The message named cannot be processed again (no such message, already acted on, body not kept)."""


def receive(db: Database, settings: Settings, envelope: Envelope, raw: bytes,
            timings: Timings | None = None) -> Outcome:
    """Store, then decide and act; durable when it returns. Raises only TempFail (answer 4xx)."""
    return settled(receive_many(db, settings, [(envelope, raw)], None if timings is None else [timings])[0])


def settled(answer: Outcome | TempFail) -> Outcome:
    """An answer of receive_many() as the one-message functions give it: the Outcome, or TempFail raised."""
    if isinstance(answer, TempFail):
        raise answer
    return answer


def receive_many(db: Database, settings: Settings, messages: Sequence[tuple[Envelope, bytes]],
                 timings: Sequence[Timings] | None = None, *, sync: bool = True) -> list[Outcome | TempFail]:
    """receive() for several messages at once: one store transaction, one processing transaction, one fsync.

    Every message is stored before any is read or processed; each is
    decided on its own (a savepoint each). Concurrent SMTP sessions hand
    their messages to one caller of this (the milter's writer process, or
    batching.Batcher), so that a message costs a share of two commits and of
    one fsync. `sync=False`: not yet durable when it returns; the caller
    makes it durable before it answers any of them (durability.DurableAnswers).
    """
    for env, raw in messages:  # DNS outside any transaction (the milter has done it in its session thread)
        sender_auth.prepare(settings, env, raw)
    try:
        batch = [store_step.arrival(settings, env, raw, t)
                 for (env, raw), t in zip(messages, timings or [Timings() for _ in messages])]
    except Exception as exc:  # pragma: no cover - the header helpers never raise; still never anything but TempFail
        return [TempFail(f"could not read the message: {exc.__class__.__name__}")] * len(messages)
    try:
        with durability.unit(db, "could not store the message durably", sync=sync) as unit:
            store_step.run(unit.conn, batch)
            todo = [w for w in batch if w.row.status == Status.RECEIVED]  # not decided at the store (too large)
            driver.read_all(todo, unit.conn)  # once stored: a message the parser chokes on is already in the database
            decided = dict(zip(map(id, todo), driver.decide_all(unit.conn, todo) if todo else []))
    except TempFail as exc:
        return [exc] * len(batch)
    _note_unit(unit, batch)
    return [decided[id(w)] if id(w) in decided else w.row.outcome() for w in batch]


def store(db: Database, settings: Settings, envelope: Envelope, raw: bytes) -> tuple[ReceivedRow, Message]:
    """The store step on its own, durable when it returns (tests and tools; receive() stores with the rest)."""
    w = store_step.arrival(settings, envelope, raw, Timings())
    with durability.unit(db, "could not store the message") as unit:
        store_step.run(unit.conn, [w])
    return w.row, w.body()


def process(db: Database, settings: Settings, row: ReceivedRow, msg: Message, envelope: Envelope,
            timings: Timings | None = None, raw: bytes = b"") -> Outcome:
    """The steps for a stored message (`raw`: its bytes as stored), durable when it returns."""
    w = Work(settings, envelope, timings if timings is not None else Timings(), row=row, msg=msg, raw=raw)
    driver.read_all([w])
    with durability.unit(db, "database unavailable while processing") as unit:
        (answer,) = driver.decide_all(unit.conn, [w])
    _note_unit(unit, [w])
    return settled(answer)


def _note_unit(unit: durability.Unit, batch: Sequence[Work]) -> None:
    for w in batch:
        w.timings.wait, w.timings.durable = unit.conn.waited, unit.durable_seconds


def reprocess(db: Database, settings: Settings, rec_id: int) -> Outcome:
    """Run the steps again on a stored message (after a fix, or a crash)."""
    with db.reading() as conn:
        row = received.by_id(conn, rec_id) if as_id(rec_id) else None
        if row is None:
            raise NotReprocessable(f"no received message #{rec_id}")
        if row.status not in REPROCESSABLE:
            raise NotReprocessable(
                f"message #{rec_id} is {row.status}; only {', '.join(REPROCESSABLE)} messages can be reprocessed")
        if row.truncated:
            raise NotReprocessable(f"message #{rec_id} was too large or refused; only its headers and the first "
                                   "64 KB of its body were kept")
        raw = received.raw_of(conn, rec_id)
    if raw is None:
        raise NotReprocessable(f"message #{rec_id} has no stored bytes")
    envelope = Envelope(source=row.source, sender=row.mail_from, recipients=list(row.rcpt_to or []),
                        client_addr=row.client_addr, client_name=row.client_name, helo=row.helo,
                        queue_id=row.queue_id, auth_results=row.auth_results, auth=AuthResult.from_json(row.auth))
    if envelope.auth is not None and envelope.auth.verdict == "temperror":
        envelope.auth = None  # DNS did not answer then: ask again now (outside the transaction)
    sender_auth.prepare(settings, envelope, raw)
    for name, value in sender_auth.columns(envelope.auth).items():  # recorded with this attempt's outcome
        setattr(row, name, value)
    return process(db, settings, row, load_message(raw), envelope, raw=raw)


def recover_stale(db: Database, settings: Settings, older_than_seconds: int = 600, limit: int = 200) -> list[Outcome]:
    """Finish messages left 'received': the process died, or power failed, between store and outcome.

    Safe to run on every host at once: a message two of them take is acted on
    once (its dedupe claim), and the second leaves the first's outcome as it is.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with db.reading() as conn:
        ids = received.stale_ids(conn, cutoff, limit)
    outcomes = []
    for rec_id in ids:
        try:
            outcomes.append(reprocess(db, settings, rec_id))
        except NotReprocessable:
            continue  # another host finished it meanwhile
        except AuthDeferred:
            continue  # its sender's domain still cannot be checked (DNS): left for the next round
    return outcomes
