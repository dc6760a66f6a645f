"""Claiming due rows for one worker, and writing back what happened to them.

Several workers (on one host or many) may drain the same queue; a row must
go out once. The claim gives a batch of due rows a *lease*: their
next_attempt_at is pushed to now + lease, a value unique to this claim,
so no other worker sees them as due. The lease doubles as the claim's
token: results are written only `WHERE next_attempt_at = <lease>`, so a
worker that outlived its lease (and whose rows another worker took) cannot
overwrite the newer outcome. A crashed worker's rows become due again when
the lease runs out. Status stays `queued` during the lease, so the
vocabulary (queued|sent|failed|void) and the schema are unchanged.

- PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` picks rows nobody else is
  claiming right now, so concurrent claims never wait on each other.
- SQLite: the claim transaction starts with BEGIN IMMEDIATE (db.py), which
  serialises claimers; the select-and-lease is atomic under that lock.
  (SQLAlchemy renders no FOR UPDATE on SQLite, so the same query serves both.)

Delivery is at-least-once: a worker killed after the server accepted a
message but before recording it sends that message again after the lease.
Results are recorded per batch (one commit, not one per message), the
price of which is that window; keep batches modest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from mailgate.shared.config import Settings
from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.render import Outgoing
from mailgate.shared.outbound.resign import resign_reply_to

DEFAULT_LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 12  # 11 waits of 1, 2, 4, … min capped at 6 h: about 20 hours of trying before giving up


def due_clause(now: datetime):
    return and_(OutboundMessage.status == "queued",
                or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now))


def claim(db: Database, limit: int, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None,
          settings: Settings | None = None) -> list[Outgoing]:
    """Lease up to `limit` due rows to the caller (oldest first) and return their snapshots.

    With `settings`, a Reply-To signed under a key rotated since the row was
    queued is re-signed here, in the claim's transaction (rows locked, one
    key look-up for the batch): the message is about to be handed out, and
    an address from before the rotation would be refused as invalid_hash.
    """
    now = now or utcnow()
    # A random sub-second offset makes the lease value this claim's own token.
    until = now + lease + timedelta(microseconds=random.randrange(1, 999_999))
    with db.transaction() as s:
        rows = list(s.scalars(
            select(OutboundMessage).where(due_clause(now)).order_by(OutboundMessage.id).limit(limit)
            .with_for_update(skip_locked=True)
        ))
        if not rows:
            return []
        if settings is not None and any(r.reply_to for r in rows):
            for r in rows:
                resign_reply_to(s, settings, r)
            s.flush()
        s.execute(update(OutboundMessage).where(OutboundMessage.id.in_([r.id for r in rows]))
                  .values(next_attempt_at=until).execution_options(synchronize_session=False))
        return [Outgoing.of(r, lease=until) for r in rows]


def claim_one(session: Session, outbound_id: int, lease: timedelta = DEFAULT_LEASE) -> Outgoing | None:
    """Lease one queued row by id (send-test), in the caller's transaction."""
    until = utcnow() + lease + timedelta(microseconds=random.randrange(1, 999_999))
    row = session.scalars(select(OutboundMessage).where(OutboundMessage.id == outbound_id,
                                                         OutboundMessage.status == "queued")
                          .with_for_update()).first()
    if row is None:
        return None
    row.next_attempt_at = until
    session.flush()
    return Outgoing.of(row, lease=until)


def release(db: Database, outs: list[Outgoing]) -> int:
    """Hand leased rows back, due now and untouched (a worker stopping before it got to them)."""
    if not outs:
        return 0
    t = OutboundMessage.__table__
    stmt = (update(t).where(t.c.id == bindparam("b_id"), t.c.status == "queued", t.c.next_attempt_at == bindparam("b_lease"))
            .values(next_attempt_at=None))
    with db.transaction() as s:
        result = s.connection().execute(stmt, [{"b_id": o.id, "b_lease": o.lease} for o in outs])
        return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(outs)


def backoff(attempts: int) -> timedelta:
    """Exponential: 1, 2, 4, … minutes after the 1st, 2nd, 3rd failed attempt, capped at 6 h."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 minutes is far past the cap; no overflow
    return min(BACKOFF_BASE * (2 ** exponent), BACKOFF_CAP)


@dataclass
class Result:
    """What one delivery attempt came to."""

    id: int
    lease: datetime
    outcome: str  # sent | retry | failed | void
    mailer: str | None = None
    error: str = ""
    note: str = ""
    attempts: int = 0  # attempts before this one
    retry_after: float = 0.0  # seconds a service asked us to wait (429 Retry-After): the retry is not sooner

    @property
    def final(self) -> str:
        """The outcome as `record` writes it: a retry after the last allowed attempt is a failure.

        Decided here, once, so the worker's counts (and `worker --json`) say
        what the row became, not what the last mailer said.
        """
        if self.outcome == "retry" and self.attempts + 1 >= MAX_ATTEMPTS:
            return "failed"
        return self.outcome


def record(db: Database, results: list[Result], now: datetime | None = None) -> int:
    """Write a batch of results in one transaction; returns how many rows still held our lease."""
    if not results:
        return 0
    now = now or utcnow()
    values = []
    for r in results:
        attempts = r.attempts + 1
        v = {"b_id": r.id, "b_lease": r.lease, "attempts": attempts, "mailer": r.mailer,
             "last_error": r.error[:4000], "next_attempt_at": None, "sent_at": None,
             "status": r.outcome, "status_reason": r.note[:2000]}
        if r.outcome == "sent":
            v["sent_at"] = now
            v["last_error"] = r.error[:4000]  # earlier mailers' temporary failures, if any
        elif r.outcome == "retry":
            if r.final == "failed":
                v["status"] = "failed"
                v["status_reason"] = f"gave up after {attempts} attempts"
            else:
                v["status"] = "queued"
                v["next_attempt_at"] = now + max(backoff(attempts), timedelta(seconds=r.retry_after))
                v["status_reason"] = f"retrying after a temporary failure (attempt {attempts})"
        elif r.outcome == "void":
            v["attempts"] = r.attempts  # nothing was attempted
        values.append(v)
    stmt = (update(OutboundMessage.__table__)
            .where(OutboundMessage.__table__.c.id == bindparam("b_id"),
                   OutboundMessage.__table__.c.status == "queued",
                   OutboundMessage.__table__.c.next_attempt_at == bindparam("b_lease"))
            .values(status=bindparam("status"), status_reason=bindparam("status_reason"),
                    attempts=bindparam("attempts"), mailer=bindparam("mailer"),
                    last_error=bindparam("last_error"), next_attempt_at=bindparam("next_attempt_at"),
                    sent_at=bindparam("sent_at")))
    with db.transaction() as s:
        result = s.connection().execute(stmt, values)
        matched = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(values)
    return matched
