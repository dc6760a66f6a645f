"""An error that is not an SMTP answer must not leave the reused connection mid-transaction."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.worker import Worker

from .conftest import with_mailers


def test_a_bad_address_fails_only_its_own_row_and_the_next_message_goes_out(db, settings, sink):
    with db.transaction() as s:
        # smtplib raises UnicodeEncodeError at RCPT TO, after MAIL FROM was already sent.
        s.add(OutboundMessage(status="queued", recipient="jörg@example.org", sender=settings.from_address,
                              subject="first", body_text="x"))
        s.add(OutboundMessage(status="queued", recipient="bob@example.org", sender=settings.from_address,
                              subject="second", body_text="y"))
    worker = Worker(db, with_mailers(settings, sink.mailer()), batch_size=10)
    stats = worker.run_once()
    assert (stats.sent, stats.retry, stats.failed) == (1, 1, 0)
    with db.read() as s:
        bad, good = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert (good.status, good.mailer) == ("sent", "sink"), good.last_error
        assert bad.status == "queued" and bad.attempts == 1 and "UnicodeEncodeError" in bad.last_error
    assert [r for _f, r, _d in sink.handler.messages] == [["bob@example.org"]]
    assert worker.mailers[0].connections == 2  # the dirty session was dropped, a clean one carried bob's
