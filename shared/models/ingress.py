"""What the ways in beside the milter keep: refused webhook requests counted per hour, and seen webhook tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailgate.shared.db import Base, utcnow


class IngressRefusal(Base):
    """Requests refused before anything was stored (forged, from the wrong address, malformed, too large).

    Counted, not kept: a flood of forged requests must not fill the disk.
    """

    __tablename__ = "ingress_refusals"

    hour: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)  # postmark | mailgun | sendgrid | imap
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)  # outcomes.IngressReason
    count: Mapped[int] = mapped_column(Integer, default=0)


class WebhookToken(Base):
    """A signed webhook token already used: the same signature again is a replay.

    Kept a little longer than a signature stays fresh, then purged; a primary
    key so that two hosts seeing one replay at once cannot both accept it.
    """

    __tablename__ = "webhook_tokens"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
