"""Console accounts, the audit trail of admin actions, and service heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from mailgate.shared.db import Base, utcnow


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A disabled admin cannot log in, and its open sessions end.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Part of every session's login id: logout, a password change and disabling bump it, so a
    # session cookie made before (a copy included) stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Consecutive failed logins; at the limit the account is locked until locked_until.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_failed_at: Mapped[datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(400), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Heartbeat(Base):
    """Last sign of life of a long-running service (milter, worker) on a host."""

    __tablename__ = "heartbeats"

    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class RefusalCount(Base):
    """RCPT-time refusals, one row per hour and reason: a flood of bad addresses adds to a count, never rows."""

    __tablename__ = "rcpt_refusals"

    hour: Mapped[datetime] = mapped_column(DateTime, primary_key=True)  # UTC, truncated to the hour
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
