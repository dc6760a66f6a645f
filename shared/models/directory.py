"""Who and where: applications, their create addresses, and the people who mail them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailgate.shared.db import Base, utcnow


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    addresses: Mapped[list["CreateAddress"]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="CreateAddress.address"
    )


class CreateAddress(Base):
    """An address that opens a task (`bugs@reply.example.com`); stored lowercased."""

    __tablename__ = "create_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    default_author_id: Mapped[int | None] = mapped_column(ForeignKey("app_users.id", ondelete="SET NULL"))
    sender_auth: Mapped[str | None] = mapped_column(String(16))  # off|report|require; None: MAILGATE_SENDER_AUTH
    # Service desk (docs/service-desk.md): anyone may write; the sender becomes an external participant.
    service_desk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    desk_acknowledge: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    desk_template: Mapped[str | None] = mapped_column(Text)  # the acknowledgement's text; None: the default
    desk_cc: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # Cc'd become participants
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="addresses")
    default_author: Mapped["AppUser | None"] = relationship()


class AppUser(Base):
    """A person of the application (not a console admin)."""

    __tablename__ = "app_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by `user create-address --rotate`: part of the personal create address's signature.
    create_address_serial: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The built-in "Support" identity: authors service-desk tasks without a default author, and the
    # comments of external participants. No address, so never mailed; not a person.
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    emails: Mapped[list["UserEmail"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserEmail.id"
    )

    @property
    def primary_email(self) -> str | None:
        return self.emails[0].address if self.emails else None


class UserEmail(Base):
    """One of a user's addresses; stored lowercased, unique across users."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)

    user: Mapped[AppUser] = relationship(back_populates="emails")
