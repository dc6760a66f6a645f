"""The built-in application: tasks, comments, subscribers, attachments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text
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
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("received_messages.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    task: Mapped[Task] = relationship(back_populates="comments")
    author: Mapped["AppUser"] = relationship()  # noqa: F821
    attachments: Mapped[list["Attachment"]] = relationship(order_by="Attachment.id")


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
