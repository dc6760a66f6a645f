"""Resend and Void: the functions behind the console's buttons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailgate.shared import keys
from mailgate.shared.models import AuditEntry, OutboundMessage
from mailgate.shared.outbound import OutboundError, resend, void


def _first_row(db) -> int:
    with db.read() as s:
        return s.scalars(select(OutboundMessage.id).order_by(OutboundMessage.id)).first()


def test_void_then_resend_is_audited(db, settings, task_with_reply):
    row_id = _first_row(db)
    assert row_id is not None
    with db.transaction() as s:
        row = void(s, row_id, "admin:root", "wrong recipient")
        assert row.status == "void" and row.status_reason == "wrong recipient"
    with db.transaction() as s:
        with pytest.raises(OutboundError):
            void(s, row_id, "admin:root", "again")  # void twice is refused: nothing to stop
    with db.transaction() as s:
        row = resend(s, row_id, "admin:root")
        assert row.status == "queued" and row.next_attempt_at is None and row.attempts == 0
    with db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.action.like("outbound.%")))]
    assert actions == ["outbound.void", "outbound.resend"]


def test_sent_cannot_be_voided_and_missing_row_is_an_error(db, settings, task_with_reply):
    row_id = _first_row(db)
    with db.transaction() as s:
        s.get(OutboundMessage, row_id).status = "sent"
    with db.transaction() as s:
        with pytest.raises(OutboundError, match="sent"):
            void(s, row_id, "admin:root", "")
        with pytest.raises(OutboundError, match="no outbound"):
            resend(s, 999999, "admin:root")


def test_resend_after_key_rotation_resigns_reply_to(db, settings, task_with_reply):
    row_id = _first_row(db)
    with db.read() as s:
        old = s.get(OutboundMessage, row_id).reply_to
    with db.transaction() as s:
        keys.rotate_key(s)
    with db.transaction() as s:
        row = resend(s, row_id, "admin:root", settings=settings)
        assert row.reply_to != old and row.reply_to.split("+")[:2] == old.split("+")[:2]
