"""Console admin accounts: creation, password checks, and the slow-down after failed logins.

Kept out of `shared/` because password hashing (werkzeug) is the console's
concern; the CLI's `create-admin` calls the same function.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask_login import UserMixin
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from mailgate.shared import audit
from mailgate.shared.db import utcnow
from mailgate.shared.models import AdminUser

log = logging.getLogger("mailgate.webui.auth")
MIN_PASSWORD = 10
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("mailgate-no-such-user")


class AccountError(ValueError):
    """The account cannot be created as asked; the message says why."""


@dataclass
class Admin(UserMixin):
    """What Flask-Login keeps in the session: an id and a name, no ORM object."""

    id: int
    username: str

    def get_id(self) -> str:
        return str(self.id)


def create_admin(session: Session, username: str, password: str, *, actor: str) -> AdminUser:
    username = (username or "").strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("the admin name must be 1-64 characters without spaces")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
    if session.scalars(select(AdminUser).where(AdminUser.username == username)).first():
        raise AccountError(f"admin {username!r} already exists")
    row = AdminUser(username=username, password_hash=generate_password_hash(password))
    session.add(row)
    session.flush()
    audit.record(session, actor, "admin.create", username)
    return row


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    row = session.scalars(select(AdminUser).where(AdminUser.username == (username or "").strip())).first()
    if row is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(row.password_hash, password or ""):
        return None
    return row


def note_login(session: Session, admin_id: int) -> None:
    row = session.get(AdminUser, admin_id)
    if row is not None:
        row.last_login_at = utcnow()


class Throttle:
    """Failed logins slow down the next attempt from the same address or for the same name.

    The delay doubles with each failure (base, 2×base, … up to `ceiling`
    seconds) and resets after a success or `window` seconds of quiet. It is
    per process, which is enough to make online guessing impractical; the
    audit log and the warning log line make it visible.
    """

    def __init__(self, base: float = 0.5, ceiling: float = 8.0, window: float = 900.0):
        self.base, self.ceiling, self.window = base, ceiling, window
        self._fails: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def delay_for(self, *keys: str) -> float:
        now = time.monotonic()
        worst = 0
        with self._lock:
            for key in keys:
                count, last = self._fails.get(key, (0, 0.0))
                if now - last > self.window:
                    count = 0
                worst = max(worst, count)
        return 0.0 if worst == 0 else min(self.ceiling, self.base * 2 ** (worst - 1))

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                count, last = self._fails.get(key, (0, 0.0))
                self._fails[key] = (1 if now - last > self.window else count + 1, now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._fails.pop(key, None)
