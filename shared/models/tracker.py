"""The built-in application: tasks, comments, subscribers, attachments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from mailgate.shared.db import Base, utcnow

STATUSES = ("open", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    author_id: Mapped[int] = mapped_column(ForeignKey("app_users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_users.id", ondelete="SET NULL"))
    # Message-ID of the first notification, so every later mail threads under it.
    thread_id: Mapped[str] = mapped_column(String(250), default="")
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("received_messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    author: Mapped["AppUser"] = relationship(foreign_keys=[author_id])  # noqa: F821
    assignee: Mapped["AppUser | None"] = relationship(foreign_keys=[assignee_id])  # noqa: F821
    comments: Mapped[list["Comment"]] = relationship(
        back_populates="task", order_by="Comment.id", cascade="all, delete-orphan"
    )
    subscriptions: Mapped[list["TaskSubscriber"]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskSubscriber.user_id"
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        primaryjoin="and_(Attachment.task_id == Task.id, Attachment.comment_id.is_(None))",
        viewonly=True, order_by="Attachment.id",
    )
    participants: Mapped[list["TaskParticipant"]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskParticipant.id"
    )

    @property
    def ref(self) -> str:
        return f"T{self.id}"


class TaskSubscriber(Base):
    __tablename__ = "task_subscribers"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_users.id", ondelete="CASCADE"), primary_key=True, index=True)

    task: Mapped[Task] = relationship(back_populates="subscriptions")
    user: Mapped["AppUser"] = relationship()  # noqa: F821


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("app_users.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    # Never mailed to external participants (a `!internal` line, `task comment --internal`).
    internal: Mapped[bool] = mapped_column(Boolean, default=False)  # the migration adds it with a server default
    # Written by an external participant (author_id is then the built-in Support identity).
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("task_participants.id", ondelete="SET NULL"))
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("received_messages.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    task: Mapped[Task] = relationship(back_populates="comments")
    author: Mapped["AppUser"] = relationship()  # noqa: F821
    participant: Mapped["TaskParticipant | None"] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(order_by="Attachment.id")


class TaskParticipant(Base):
    """Someone without an account who takes part in a service-desk task by mail (docs/service-desk.md).

    Known by the address alone: their reply address is signed for this row
    and this address, and they are mailed public comments until they unsubscribe.
    """

    __tablename__ = "task_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))  # normalised (lowercase)
    name: Mapped[str] = mapped_column(String(200), default="")  # the display name they wrote with
    via: Mapped[str] = mapped_column(String(8), default="from")  # from: wrote the mail | cc: copied on it
    desk: Mapped[str] = mapped_column(String(320))  # the service desk address they wrote to: our mail's From
    # Their conversation's root Message-ID (bare): what they sent or were copied on, else our first mail.
    thread_root: Mapped[str] = mapped_column(String(250), default="")
    # The one-click and mailto unsubscribe key (random, not the mail key: a rotation must not break it).
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    task: Mapped[Task] = relationship(back_populates="participants")

    __table_args__ = (
        UniqueConstraint("task_id", "address"),
        # The acknowledgement's rate limit: tasks opened by one address lately.
        Index("ix_task_participants_address_created", "address", "created_at"),
    )

    @property
    def unsubscribed(self) -> bool:
        return self.unsubscribed_at is not None


class Attachment(Base):
    """A file that came with a mail; on the task itself when comment_id is NULL."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
