"""Periodic chores the long-running worker does besides sending.

- Finish messages left `received` by a crash or power cut between store and
  outcome (pipeline.recover_stale), every RECOVER_EVERY seconds.
- Retention (MAILGATE_PURGE_AFTER_DAYS, _PURGE_REJECTED_AFTER_DAYS; on by default): purge once a day.

Every host's worker may run them: recovery is idempotent (dedupe claims),
and a purge that finds nothing to delete costs two indexed queries.
"""

from __future__ import annotations

import logging
import time

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.pipeline import recover_stale
from mailgate.shared.retention import purge_by_policy

log = logging.getLogger("mailgate.housekeeping")

RECOVER_EVERY = 60.0
STALE_AFTER_SECONDS = 600
PURGE_EVERY = 24 * 3600.0


class Housekeeper:
    def __init__(self, db: Database, settings: Settings, clock=time.monotonic):
        self.db, self.settings, self.clock = db, settings, clock
        self._next_recover = 0.0
        self._next_purge = 0.0

    def tick(self) -> None:
        """Run whatever is due; never raises (the worker must keep sending)."""
        now = self.clock()
        if now >= self._next_recover:
            self._next_recover = now + RECOVER_EVERY
            try:
                done = recover_stale(self.db, self.settings, STALE_AFTER_SECONDS)
                if done:
                    log.warning("recovered %d stale received message(s)", len(done))
            except Exception as exc:  # noqa: BLE001 -- the database may be away; next tick retries
                log.error("stale recovery failed: %s: %s", exc.__class__.__name__, exc)
        if (self.settings.purge_after_days or self.settings.purge_rejected_after_days) and now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            try:
                done = purge_by_policy(self.db, self.settings, actor="worker")
                log.info("purge: %s", {kind: result.to_json() for kind, result in done.items()})
            except Exception as exc:  # noqa: BLE001
                self._next_purge = now + RECOVER_EVERY  # try again soon rather than tomorrow
                log.error("purge failed: %s: %s", exc.__class__.__name__, exc)
