"""Refused webhook requests (and mail left alone), counted per hour, source and reason.

A count, not a row per request: forged requests arrive by the thousand and
none of them may fill the disk. Counting is best effort: when the database
is down the refusal is still logged, and the answer never waits on it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import IngressRefusal

log = logging.getLogger("mailgate.ingress")


def _hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def count(db: Database, source: str, reason: str, when: datetime | None = None) -> None:
    """Add one to this hour's count (one upsert, atomic on SQLite and PostgreSQL); never raises."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = IngressRefusal.__table__
    stmt = insert(table).values(hour=_hour(when or utcnow()), source=source, reason=reason, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.hour, table.c.source, table.c.reason],
                                      set_={"count": table.c.count + 1})
    try:
        with db.transaction() as s:
            s.execute(stmt)
    except Exception as exc:  # noqa: BLE001 -- a lost count must not turn a 4xx into a 5xx
        log.warning("refusal not counted: %s source=%s reason=%s", exc.__class__.__name__, source, reason)


def recent(db: Database, hours: int = 24, now: datetime | None = None) -> list[dict]:
    """Counts of the last `hours` hours (the current one included), in list-refusals' JSON shape."""
    since = _hour(now or utcnow()) - timedelta(hours=max(hours, 1) - 1)
    return counts(db, since)


def counts(db: Database, since: datetime | None = None) -> list[dict]:
    """Rows of (hour, source, reason, count), newest first."""
    q = select(IngressRefusal).order_by(IngressRefusal.hour.desc(), IngressRefusal.source, IngressRefusal.reason)
    if since is not None:
        q = q.where(IngressRefusal.hour >= _hour(since))
    with db.read() as s:
        return [{"hour": r.hour.strftime("%Y-%m-%dT%H:00:00Z"), "source": r.source, "reason": r.reason,
                 "count": r.count} for r in s.scalars(q)]
