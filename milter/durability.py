"""The milter's database: one engine for the whole process, and WAL checkpoints off the message path.

Durability before the answer is the pipeline's own (shared/durability.py).
What is the milter's: SQLite would otherwise checkpoint (copy the WAL into
the database file, two fsyncs) inside whichever message's commit crosses
1000 pages, stalling every session queued behind it; the milter's engine
turns automatic checkpoints off and `Checkpointer` runs passive ones every
second in a thread of its own.

PostgreSQL needs neither: the server makes each commit durable and groups
concurrent commits itself.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.prepared import spoils_connection


def open_database(settings: Settings, pool_size: int = 20, max_overflow: int = 200) -> Database:
    """The milter's one Database for the whole process."""
    if not settings.is_sqlite:
        # The server's max_connections is shared by every MX host and the console: stay modest.
        return Database(settings.database_url, pool_size=10, max_overflow=20)
    db = Database(settings.database_url, pool_size=pool_size, max_overflow=max_overflow)

    @event.listens_for(db.engine, "connect")
    def _no_autocheckpoint(dbapi_conn, _record) -> None:  # Checkpointer does it, outside any message's commit
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

    return db


class Checkpointer(threading.Thread):
    """Passive WAL checkpoints every `interval` seconds, outside any message's commit."""

    def __init__(self, db: Database, interval: float = 1.0):
        super().__init__(name="mailgate-checkpoint", daemon=True)
        self.db = db
        self.interval = interval
        self.stop_event = threading.Event()

    def checkpoint(self) -> None:
        raw = self.db.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception as exc:
            if spoils_connection(exc):
                raw.invalidate(exc)  # not back to the pool: a read-only or broken connection stays broken
            raise
        finally:
            raw.close()

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.checkpoint()
            except Exception as exc:  # noqa: BLE001 -- retried next interval; the WAL just grows meanwhile
                logging.getLogger("mailgate.milter").warning("checkpoint failed: %s", exc)
