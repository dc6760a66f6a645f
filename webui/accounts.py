"""Console admin accounts: creation, passwords, disabling, and the login id a session carries.

Kept out of `shared/` because password hashing (werkzeug) is the console's
concern; the CLI's `create-admin` and `admin ...` commands call the same
functions as the console's pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from mailgate.shared import audit
from mailgate.shared.db import utcnow
from mailgate.shared.models import AdminUser

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("mailgate-no-such-user")


class AccountError(ValueError):
    """The account cannot be created or changed as asked; the message says why."""


@dataclass
class Admin(UserMixin):
    """What Flask-Login keeps in the session: an id, a name and the session generation, no ORM object."""

    id: int
    username: str
    generation: int = 0

    def get_id(self) -> str:
        # The generation is part of the id: once logout, a password change or disabling bumps
        # it, the loader no longer finds this id, and any copy of the cookie is logged out.
        return f"{self.id}:{self.generation}"


def parse_login_id(login_id: str) -> tuple[int, int] | None:
    """(admin id, generation) from a session's login id; None for anything else (an old-style id)."""
    admin_id, sep, generation = login_id.partition(":")
    if not sep or not admin_id.isdigit() or not generation.isdigit():
        return None
    return int(admin_id), int(generation)


def _check_name(username: str) -> str:
    username = (username or "").strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("the admin name must be 1-64 characters without spaces")
    return username


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must be at most {MAX_PASSWORD} characters")
    return password


def find_admin(session: Session, username: str) -> AdminUser | None:
    return session.scalars(select(AdminUser).where(AdminUser.username == (username or "").strip())).first()


def get_admin(session: Session, username: str) -> AdminUser:
    row = find_admin(session, username)
    if row is None:
        raise AccountError(f"no admin {username!r}")
    return row


def create_admin(session: Session, username: str, password: str, *, actor: str) -> AdminUser:
    username = _check_name(username)
    _check_password(password)
    if find_admin(session, username):
        raise AccountError(f"admin {username!r} already exists")
    row = AdminUser(username=username, password_hash=generate_password_hash(password))
    session.add(row)
    session.flush()
    audit.record(session, actor, "admin.create", username)
    return row


def password_matches(row: AdminUser | None, password: str) -> bool:
    """The password check, as long for a missing account as for a real one."""
    if row is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return False
    return check_password_hash(row.password_hash, password or "")


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    row = find_admin(session, username)
    return row if password_matches(row, password) and not row.disabled else None


def end_sessions(session: Session, admin_id: int) -> None:
    """Every session of this admin (and every copy of its cookie) stops working."""
    session.execute(update(AdminUser).where(AdminUser.id == admin_id)
                    .values(session_generation=AdminUser.session_generation + 1))


def set_password(session: Session, username: str, password: str, *, actor: str) -> AdminUser:
    """A new password (the CLI's reset, or an admin's own change): other sessions end, a lock is lifted."""
    _check_password(password)
    row = get_admin(session, username)
    row.password_hash = generate_password_hash(password)
    row.password_changed_at = utcnow()
    row.failed_logins, row.locked_until, row.last_failed_at = 0, None, None
    row.session_generation += 1
    audit.record(session, actor, "admin.passwd", row.username)
    return row


def set_disabled(session: Session, username: str, disabled: bool, *, actor: str) -> AdminUser:
    row = get_admin(session, username)
    if disabled and not row.disabled:
        row.session_generation += 1
    row.disabled = disabled
    audit.record(session, actor, "admin.disable" if disabled else "admin.enable", row.username)
    return row


def unlock(session: Session, username: str, *, actor: str) -> AdminUser:
    """Lift a failed-login lock at once (and forget the failures that led to it)."""
    row = get_admin(session, username)
    was = row.locked_until
    row.failed_logins, row.locked_until, row.last_failed_at = 0, None, None
    audit.record(session, actor, "admin.unlock", row.username, was_locked_until=str(was) if was else None)
    return row


def note_login(session: Session, admin_id: int) -> None:
    session.execute(update(AdminUser).where(AdminUser.id == admin_id)
                    .values(last_login_at=utcnow(), failed_logins=0, last_failed_at=None, locked_until=None))


def is_locked(row: AdminUser, now: datetime | None = None) -> bool:
    return row.locked_until is not None and row.locked_until > (now or utcnow())
