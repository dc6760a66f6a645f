"""Mail in and out: received messages (raw kept apart), dedupe claims, keys, the outbound queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailgate.shared.db import Base, utcnow


class ReceivedMessage(Base):
    """One message as it arrived, with what Mailgate decided about it.

    The raw bytes live in `received_raw` so that listing a million rows never
    drags message bodies through the page cache.
    """

    __tablename__ = "received_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(16))  # envelope.SOURCES: milter | pipe | test | imap | postmark | mailgun | sendgrid
    # envelope ---------------------------------------------------------------
    queue_id: Mapped[str] = mapped_column(String(64), default="")
    mail_from: Mapped[str | None] = mapped_column(String(320))  # None: unknown; "": null sender <>
    rcpt_to: Mapped[list] = mapped_column(JSON, default=list)
    client_addr: Mapped[str] = mapped_column(String(64), default="")
    client_name: Mapped[str] = mapped_column(String(255), default="")
    helo: Mapped[str] = mapped_column(String(255), default="")
    auth_results: Mapped[str] = mapped_column(Text, default="")
    # sender authentication (senderauth.AuthResult.to_json()); None: not checked (policy off)
    auth: Mapped[dict | None] = mapped_column(JSON)
    auth_verdict: Mapped[str | None] = mapped_column(String(16))  # pass|fail|none|temperror: filter and counts
    # headers (decoded, CR/LF stripped) -------------------------------------
    message_id: Mapped[str] = mapped_column(String(250), default="")
    dedupe_key: Mapped[str] = mapped_column(String(260))  # looked up in message_claims, not here
    subject: Mapped[str] = mapped_column(String(998), default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    recipients_text: Mapped[str] = mapped_column(Text, default="")  # for search: envelope or header recipients
    size: Mapped[int] = mapped_column(Integer, default=0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    # outcome ---------------------------------------------------------------
    status: Mapped[str] = mapped_column(String(16), default="received")
    reason: Mapped[str | None] = mapped_column(String(32))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str | None] = mapped_column(String(16))
    application: Mapped[str | None] = mapped_column(String(64))
    routed_to: Mapped[str | None] = mapped_column(String(320))
    object_ref: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64))
    # Plain ids, not foreign keys: tasks and comments already point here
    # (source_message_id), and a cycle of constraints makes deletes and
    # migrations order-dependent. Purging keeps them consistent instead.
    task_id: Mapped[int | None] = mapped_column(Integer)
    comment_id: Mapped[int | None] = mapped_column(Integer)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    commands: Mapped[list] = mapped_column(JSON, default=list)
    unknown_commands: Mapped[list] = mapped_column(JSON, default=list)
    robot: Mapped[str | None] = mapped_column(String(16))
    robot_reason: Mapped[str] = mapped_column(String(400), default="")
    decisions: Mapped[list] = mapped_column(JSON, default=list)  # routing/authorisation, in words
    parse: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, default="")  # traceback of failed/internal_error
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    raw_row: Mapped["ReceivedRaw"] = relationship(cascade="all, delete-orphan", uselist=False, lazy="raise")

    __table_args__ = (
        Index("ix_received_status_id", "status", "id"),
        Index("ix_received_reason_id", "reason", "id"),
        Index("ix_received_source_id", "source", "id"),
        Index("ix_received_application_id", "application", "id"),
        # (created_at, status): date ranges, the dashboard's per-hour/per-status counts and
        # retention are all answered from this one index without reading rows.
        Index("ix_received_created_status", "created_at", "status"),
        Index("ix_received_message_id", "message_id"),
        Index("ix_received_auth_verdict_id", "auth_verdict", "id"),
    )


class ReceivedRaw(Base):
    __tablename__ = "received_raw"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("received_messages.id", ondelete="CASCADE"), primary_key=True
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class MessageClaim(Base):
    """The first message with a dedupe key to be acted on holds its claim.

    A unique primary key, not a look-up, so two hosts racing on one
    Message-ID can never both act: the loser's insert fails.
    """

    __tablename__ = "message_claims"

    dedupe_key: Mapped[str] = mapped_column(String(260), primary_key=True)
    received_id: Mapped[int] = mapped_column(ForeignKey("received_messages.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MailKey(Base):
    """HMAC key for reply addresses. Exactly one has retired_at NULL: the current one."""

    __tablename__ = "mail_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    issued: Mapped[int] = mapped_column(Integer, default=0)  # handed out directly; see keys.issued_counts


class OutboundMessage(Base):
    """One notification to one recipient; the queue the worker drains."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|sent|failed|void
    status_reason: Mapped[str] = mapped_column(Text, default="")
    event: Mapped[str] = mapped_column(String(32), default="")
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_users.id", ondelete="SET NULL"))
    source_received_id: Mapped[int | None] = mapped_column(ForeignKey("received_messages.id", ondelete="SET NULL"))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("mail_keys.id", ondelete="SET NULL"), index=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")  # From's name; "": Mailgate
    # A notification to an external participant of a service-desk task (voided if they unsubscribe).
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("task_participants.id", ondelete="SET NULL"),
                                                       index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    message_id: Mapped[str] = mapped_column(String(250), default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)  # extra headers: threading, robot-quieting
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    mailer: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_outbound_status_next", "status", "next_attempt_at"),
        Index("ix_outbound_status_id", "status", "id"),
    )
