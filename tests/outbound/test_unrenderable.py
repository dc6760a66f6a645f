"""A row that cannot be rendered fails on its own; the rest of its batch is sent and recorded once."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.worker import Worker

from .conftest import with_mailers


def test_unrenderable_row_is_failed_and_the_batch_goes_on(db, settings, sink):
    with db.transaction() as s:
        for i, sender in enumerate([settings.from_address, "nöreply@reply.example.com", settings.from_address]):
            # The middle row was queued under a non-ASCII MAILGATE_FROM_ADDRESS (refused at start-up now).
            s.add(OutboundMessage(status="queued", recipient=f"u{i}@example.org", sender=sender,
                                  subject=f"n{i}", body_text="x"))
    settings = with_mailers(settings, sink.mailer())
    stats = Worker(db, settings, batch_size=10).run_once()
    assert (stats.sent, stats.failed, stats.retry) == (2, 1, 0)
    with db.read() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert [r.status for r in rows] == ["sent", "failed", "sent"]
        assert rows[1].status_reason.startswith("cannot render: UnicodeEncodeError")
        assert rows[1].next_attempt_at is None
    assert sorted(r for _f, (r,), _d in sink.handler.messages) == ["u0@example.org", "u2@example.org"]
    # Everything was recorded: a second run (even after the lease) sends nothing again.
    assert Worker(db, settings).run_once().handled == 0
    assert len(sink.handler.messages) == 2
