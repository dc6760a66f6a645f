"""Foreseeing (driver.foresee) only reads: it asks no DNS and writes nothing; a step that would have to
leaves its decision to its turn in the transaction, and the body is read."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared import directory, sender_auth
from mailgate.shared.models import AppUser
from mailgate.shared.outcomes import Status
from mailgate.shared.pipeline import driver

DESK = "support@reply.example.com"


def test_foreseeing_asks_no_dns_for_a_message_not_yet_verified(db, settings, seed, stored, monkeypatch):
    with db.transaction() as s:  # the server's default is off; this address wants report
        directory.set_sender_auth(s, seed.create_address, "report", actor="test")
    asked = []
    monkeypatch.setattr(sender_auth, "verify", lambda *args, **kwargs: asked.append(args))
    w = stored(sender="alice@example.org")
    assert w.envelope.auth is None
    with db.pipeline() as conn:
        driver.read_all([w], conn)
    assert w.body_needed  # not foreseen: the body is read, and the step decides at its turn
    assert asked == []


def test_foreseeing_does_not_make_the_support_identity(db, settings, seed, stored, mail, receive):
    with db.transaction() as s:  # a desk whose default author was disabled falls back to Support
        directory.add_create_address(s, settings, "tasks", DESK, "alice", actor="test", service_desk=True)
        directory.set_user_enabled(s, "alice", False, actor="test")
    stranger = mail(sender="Jane <jane@customer.example>", to=DESK, body="Help.")
    w = stored(stranger, sender="jane@customer.example", to=[DESK])
    with db.pipeline() as conn:
        driver.read_all([w], conn)
    assert w.body_needed and w.stopped is None
    with db.read() as s:
        assert s.scalars(select(AppUser).where(AppUser.builtin.is_(True))).all() == []
    out = receive(stranger, sender="jane@customer.example", to=[DESK])
    assert out.status == Status.PROCESSED
    with db.read() as s:
        assert [u.username for u in s.scalars(select(AppUser).where(AppUser.builtin.is_(True)))] == ["support"]
