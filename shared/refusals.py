"""RCPT-time refusals, counted per reason and hour.

The milter refuses unusable Mailgate addresses at RCPT (unknown address,
a reply hash made invalid by a key rotation, an object gone), and a
person's message to the notification sender at the end of its headers
(nothing of it stored). An operator
wants to see how many and why without reading the milter's log, but a flood
of bad addresses must not become a flood of rows: refusals are added up in
memory and written every FLUSH_SECONDS as one upsert per (hour, reason).
The table grows by at most one row per reason and hour, whatever the traffic.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.shared.db import Database, utcnow
from mailgate.shared.models.admin import RefusalCount

log = logging.getLogger("mailgate.refusals")

FLUSH_SECONDS = 5.0
EPOCH = datetime(1970, 1, 1)


def hour_of(moment: datetime) -> datetime:
    """The hour bucket (UTC, naive like every timestamp in the database) a moment belongs to."""
    return moment.replace(minute=0, second=0, microsecond=0)


def add_counts(db: Database, counts: dict[tuple[datetime, str], int]) -> None:
    """Add counts to their (hour, reason) rows: one upsert each, atomic on SQLite and PostgreSQL alike."""
    if not counts:
        return
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = RefusalCount.__table__
    rows = [{"hour": hour, "reason": reason, "count": n} for (hour, reason), n in sorted(counts.items())]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.hour, table.c.reason],
                                      set_={"count": table.c.count + stmt.excluded.count})
    with db.transaction() as s:
        s.execute(stmt, rows)


class RefusalCounter:
    """Refusals of one process, in memory until the next flush (thread-safe; add() never touches the database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Counter[tuple[int, str]] = Counter()  # (hours since the epoch, reason)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, reason: str, when: datetime | None = None) -> None:
        """Count one refusal (`when`: naive UTC, default now) under the hour it falls in: a dict increment."""
        hour = int(time.time() if when is None else calendar.timegm(when.timetuple())) // 3600
        with self._lock:
            self._pending[(hour, reason)] += 1

    def flush(self, db: Database) -> int:
        """Write what was counted; on a database error keep it for the next flush. Returns refusals written."""
        with self._lock:
            taken, self._pending = self._pending, Counter()
        if not taken:
            return 0
        try:
            add_counts(db, {(EPOCH + timedelta(hours=hour), reason): n for (hour, reason), n in taken.items()})
        except Exception as exc:  # noqa: BLE001 -- counting must never take the milter down
            with self._lock:
                self._pending.update(taken)
            log.warning("refusal counts not written (kept for the next try): %s: %s", exc.__class__.__name__, exc)
            return 0
        return sum(taken.values())

    def start(self, db: Database, interval: float = FLUSH_SECONDS) -> None:
        """Flush every `interval` seconds in a daemon thread, until stop()."""

        def run() -> None:
            while not self._stop.wait(interval):
                self.flush(db)

        self._thread = threading.Thread(target=run, name="mailgate-refusals", daemon=True)
        self._thread.start()

    def stop(self, db: Database) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush(db)


@dataclass(frozen=True)
class RefusalRow:
    hour: datetime
    reason: str
    count: int

    def to_json(self) -> dict:
        return {"hour": self.hour.strftime("%Y-%m-%dT%H:00:00Z"), "reason": self.reason, "count": self.count}


def recent(session: Session, hours: int = 24, now: datetime | None = None) -> list[RefusalRow]:
    """Counts of the last `hours` hours (the current one included), newest first, then by reason."""
    since = hour_of(now or utcnow()) - timedelta(hours=max(hours, 1) - 1)
    rows = session.execute(select(RefusalCount.hour, RefusalCount.reason, RefusalCount.count)
                           .where(RefusalCount.hour >= since)
                           .order_by(RefusalCount.hour.desc(), RefusalCount.reason)).all()
    return [RefusalRow(hour, reason, count) for hour, reason, count in rows]


def totals_by_reason(session: Session, since: datetime) -> dict[str, int]:
    """Refusals per reason from the hour of `since` on (the dashboard's "today" and "last 7 days")."""
    rows = session.execute(select(RefusalCount.reason, func.sum(RefusalCount.count))
                           .where(RefusalCount.hour >= hour_of(since))
                           .group_by(RefusalCount.reason).order_by(RefusalCount.reason)).all()
    return {reason: int(total) for reason, total in rows}
