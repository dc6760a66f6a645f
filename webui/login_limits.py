"""How often a login may be tried: per client address, per account, and a lock after repeated failures.

A refused attempt is answered at once with 429 and `Retry-After`; nothing
sleeps, so guessing cannot tie up the console's worker threads. Three limits:

- per client address (in this process): after each failed attempt the next
  one from that address waits 1 s, then 2, 4, ... up to a minute;
- per account (in the database, so every console process sees it): the same
  doubling wait, and after `lock_after` failures in a row the account is
  locked for `lock_for` seconds (`mailgate admin unlock NAME` lifts it);
- a name that is no account gets the same treatment in memory, so the
  answers do not tell which names exist.

An attempt is counted when it starts, so parallel guesses from one address
get one password check, not fifty.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from mailgate.shared.models import AdminUser


@dataclass(frozen=True)
class Limits:
    base: float = 1.0  # seconds to wait after the first failure; doubles with each further one
    ceiling: float = 60.0
    window: float = 900.0  # failures older than this (with none since) are forgotten
    lock_after: int = 10
    lock_for: float = 900.0

    def delay(self, failures: int) -> float:
        if failures <= 0 or self.base <= 0:
            return 0.0
        return min(self.ceiling, self.base * 2 ** min(failures - 1, 30))


def retry_after_header(wait: float) -> str:
    """HTTP's Retry-After is whole seconds; round up, so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait)))


class Throttle:
    """Attempts per key (client address, or a name that is no account) in this process.

    Bounded: past `max_keys` keys, the ones gone quiet are dropped first, then the oldest.
    """

    def __init__(self, limits: Limits, max_keys: int = 10_000):
        self.limits, self.max_keys = limits, max_keys
        self._seen: dict[str, tuple[int, float]] = {}  # key -> (attempts in a row, last attempt)
        self._lock = threading.Lock()

    def _wait(self, key: str, lockable: bool, now: float) -> float:
        count, last = self._seen.get(key, (0, 0.0))
        if count == 0 or now - last > self._horizon(lockable):
            return 0.0
        hold = self.limits.lock_for if lockable and count >= self.limits.lock_after else self.limits.delay(count)
        return max(0.0, last + hold - now)

    def _horizon(self, lockable: bool) -> float:
        # A lock's quiet time starts when the lock ends: one more failure soon after it locks again.
        return self.limits.window + (self.limits.lock_for if lockable else 0.0)

    def attempt(self, keys: dict[str, bool], now: float | None = None) -> float:
        """Seconds to wait before trying (nothing counted), or 0.0: go ahead, counted as a failure until
        `succeeded`. `keys` maps each key to whether it locks after `lock_after` attempts."""
        now = time.monotonic() if now is None else now
        with self._lock:
            wait = max((self._wait(k, lockable, now) for k, lockable in keys.items()), default=0.0)
            if wait > 0:
                return wait
            for key, lockable in keys.items():
                count, last = self._seen.get(key, (0, 0.0))
                fresh = now - last > self._horizon(lockable)
                self._seen[key] = (1 if fresh else count + 1, now)
            self._prune(now)
        return 0.0

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._seen) <= self.max_keys:
            return
        horizon = self._horizon(True)
        for key in [k for k, (_, last) in self._seen.items() if now - last > horizon]:
            del self._seen[key]
        if len(self._seen) > self.max_keys:
            oldest = sorted(self._seen, key=lambda k: self._seen[k][1])[: len(self._seen) - self.max_keys // 2]
            for key in oldest:
                del self._seen[key]


@dataclass(frozen=True)
class AccountState:
    """What the limits need of an admin row, read before the password check."""

    id: int
    failed_logins: int
    last_failed_at: datetime | None
    locked_until: datetime | None

    @classmethod
    def of(cls, row: AdminUser) -> "AccountState":
        return cls(row.id, row.failed_logins or 0, row.last_failed_at, row.locked_until)

    def wait(self, limits: Limits, now: datetime) -> float:
        if self.locked_until is not None and self.locked_until > now:
            return (self.locked_until - now).total_seconds()
        if not self.failed_logins or self.last_failed_at is None or limits.base <= 0:
            return 0.0
        since = (now - self.last_failed_at).total_seconds()
        if since > limits.window:
            return 0.0
        return max(0.0, limits.delay(self.failed_logins) - since)


def record_account_failure(session: Session, admin_id: int, limits: Limits, now: datetime) -> datetime | None:
    """Count a failed password for this account; returns the lock's end when this failure locks it.

    The count starts again only after `window` seconds without failures and without a lock, so one more
    failure soon after a lock has ended locks the account again.
    """
    quiet = now - timedelta(seconds=limits.window)
    forgotten = or_(AdminUser.last_failed_at.is_(None),
                    and_(AdminUser.last_failed_at < quiet,
                         or_(AdminUser.locked_until.is_(None), AdminUser.locked_until < quiet)))
    session.execute(
        update(AdminUser).where(AdminUser.id == admin_id).values(
            failed_logins=case((forgotten, 1), else_=AdminUser.failed_logins + 1),
            last_failed_at=now,
        )
    )
    failed = session.scalar(select(AdminUser.failed_logins).where(AdminUser.id == admin_id)) or 0
    if failed < limits.lock_after:
        return None
    until = now + timedelta(seconds=limits.lock_for)
    session.execute(update(AdminUser).where(AdminUser.id == admin_id).values(locked_until=until))
    return until
