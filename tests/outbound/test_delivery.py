"""Notifications through a real SMTP server on loopback, and back in through receive()."""

from __future__ import annotations

from email.utils import getaddresses, make_msgid

import pytest
from sqlalchemy import select

from mailgate.shared import durability, tracker
from mailgate.shared.config import MailerConfig
from mailgate.shared.guard import OWN_MAIL_HEADER
from mailgate.shared.models import AppUser, OutboundMessage, Task
from mailgate.shared.outbound.worker import NO_MAILER, Worker, send_test
from mailgate.shared.rows import task_by_id, user_by_id

from .conftest import outbound_rows as _rows, with_mailers


def _drain(db, settings, **kw):
    return Worker(db, settings, **kw).run_once()


def _subscribe(db, ref, user_id):
    with durability.transaction(db) as conn:
        tracker.subscribe(conn, task_by_id(conn, int(ref[1:])), user_by_id(conn, user_id))


def _by_recipient(msgs):
    return {getaddresses([m["To"]])[0][1]: m for m in msgs}


def test_threading_and_personal_reply_to_on_arrival(db, settings, seed, sink, task_with_reply, receive, mail):
    ref, bob_reply = task_with_reply
    settings = with_mailers(settings, sink.mailer())
    _subscribe(db, ref, seed.carol)
    stats = _drain(db, settings)
    assert stats.sent == 1
    (root,) = sink.handler.parsed()
    assert root["To"] == "bob@example.org"
    assert root["Reply-To"] == bob_reply  # bob's own signed address
    assert root["Subject"] == f"[{ref}] Printer on fire"
    assert root["Auto-Submitted"] == "auto-generated"
    assert root["X-Auto-Response-Suppress"] == "All"
    assert root[OWN_MAIL_HEADER]
    with db.read() as s:
        thread = s.get(Task, int(ref[1:])).thread_id
    assert root["Message-ID"] == f"<{thread}>"  # the first notification is the thread root
    assert root.get_body(("plain",)).get_content().replace("\r\n", "\n").startswith(
        "##- Reply above this line -##\n\nAlice created T1: Printer on fire")  # the reply marker first
    assert root.get_body(("html",)) is not None

    # bob answers by mail: alice and carol get the comment, threaded under the root and bob's mail.
    bob_mid = make_msgid(domain="example.org")
    out = receive(mail(sender="bob@example.org", to=bob_reply, subject=f"Re: [{ref}] Printer on fire",
                       body="Extinguisher on its way.", msgid=bob_mid,
                       headers={"In-Reply-To": root["Message-ID"], "References": root["Message-ID"]}))
    assert out.status == "processed" and out.action == "comment"
    sink.handler.messages.clear()
    assert _drain(db, settings).sent == 2
    got = _by_recipient(sink.handler.parsed())
    assert set(got) == {"alice@example.org", "carol@example.org"}  # not bob: he acted
    assert got["alice@example.org"]["Reply-To"] == seed.reply_address(ref, seed.alice)
    assert got["carol@example.org"]["Reply-To"] == seed.reply_address(ref, seed.carol)
    for m in got.values():
        assert m["In-Reply-To"] == bob_mid
        assert m["References"].split() == [f"<{thread}>", bob_mid]
        assert m["Message-ID"] != root["Message-ID"]
        assert "Extinguisher on its way." in m.get_body(("plain",)).get_content()
    assert len({m["Message-ID"] for m in got.values()}) == 2


def test_reply_to_an_arrived_notification_closes_the_loop(db, settings, seed, sink, task_with_reply, receive, mail):
    ref, _ = task_with_reply
    settings = with_mailers(settings, sink.mailer())
    _drain(db, settings)
    (note,) = sink.handler.parsed()
    reply = mail(sender="bob@example.org", to=note["Reply-To"], subject="Re: " + note["Subject"],
                 body="Fixed it.\n\n!close\n\n> Alice created T1: Printer on fire",
                 headers={"In-Reply-To": note["Message-ID"], "References": note["Message-ID"]})
    out = receive(reply, sender="bob@example.org", to=[note["Reply-To"]])
    assert (out.status, out.action, out.object, out.actor) == ("processed", "comment", ref, "bob")
    with db.read() as s:
        task = s.get(Task, int(ref[1:]))
        assert task.status == "closed"
        assert [c.text for c in task.comments] == ["Fixed it."]
    # …and alice hears about it, in the same thread.
    sink.handler.messages.clear()
    _drain(db, settings)
    (back,) = sink.handler.parsed()
    assert back["To"] == "alice@example.org"
    assert "Bob closed T1." in back.get_body(("plain",)).get_content()
    assert back["References"].split()[0] == note["Message-ID"]


def test_own_notification_sent_back_is_ignored_as_own_mail(db, settings, seed, sink, task_with_reply, receive):
    ref, _ = task_with_reply
    _drain(db, with_mailers(settings, sink.mailer()))
    (_f, _r, raw), = sink.handler.messages
    # A forwarder bounces our notification straight back to a reply address.
    out = receive(raw, sender="noreply@reply.example.com", to=[seed.reply_address(ref, seed.alice)])
    assert (out.status, out.reason) == ("ignored", "own_mail")


def test_failover_first_mailer_refuses_connections(db, settings, sink, refusing_mailer, task_with_reply):
    down = MailerConfig(key="down", type="smtp", priority=10, options=refusing_mailer.options)
    settings = with_mailers(settings, down, sink.mailer("backup", priority=5))
    stats = _drain(db, settings)
    assert stats.sent == 1 and stats.by_mailer == {"backup": 1}
    (row,) = _rows(db)
    assert (row.status, row.mailer, row.attempts) == ("sent", "backup", 1)
    assert row.last_error.startswith("down: ") and "refused" in row.last_error.lower()
    assert len(sink.handler.messages) == 1


def test_permanent_5xx_marks_failed_with_the_servers_answer(db, settings, sink, task_with_reply):
    sink.handler.rcpt_answer = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"
    stats = _drain(db, with_mailers(settings, sink.mailer()))
    assert stats.failed == 1
    (row,) = _rows(db)
    assert row.status == "failed" and row.mailer == "sink" and row.next_attempt_at is None
    assert "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown" in row.last_error
    assert "User unknown" in row.status_reason


def test_data_5xx_is_permanent_and_4xx_retries_with_backoff(db, settings, sink, task_with_reply):
    sink.handler.data_answer = "451 4.3.0 Try again later"
    stats = _drain(db, with_mailers(settings, sink.mailer()))
    assert stats.retry == 1
    (row,) = _rows(db)
    assert row.status == "queued" and row.attempts == 1 and "451 4.3.0 Try again later" in row.last_error
    assert row.mailer is None
    delay = (row.next_attempt_at - row.created_at).total_seconds()
    assert 55 <= delay <= 120  # one minute after the first failure
    # Not due yet: a second --once sends nothing.
    assert _drain(db, with_mailers(settings, sink.mailer())).handled == 0


def test_no_mailer_configured_voids_with_the_reason(db, settings, task_with_reply):
    stats = _drain(db, with_mailers(settings))
    assert stats.void == 1
    (row,) = _rows(db)
    assert row.status == "void" and row.status_reason == NO_MAILER and row.attempts == 0


def test_one_reused_connection_for_many_messages(db, settings, seed, sink, task_with_reply):
    settings = with_mailers(settings, sink.mailer())
    ref, _ = task_with_reply
    with db.transaction() as s:
        for i in range(25):
            s.add(OutboundMessage(status="queued", recipient=f"user{i}@example.org", sender=settings.from_address,
                                  subject=f"n{i}", body_text="x"))
    worker = Worker(db, settings, batch_size=10)
    worker.run_once()
    assert worker.stats.sent == 26
    assert worker.mailers[0].connections == 1
    assert sink.handler.connections == 1
    assert len(sink.handler.messages) == 26


def test_send_test_through_a_named_mailer(db, settings, sink, refusing_mailer):
    settings = with_mailers(settings, refusing_mailer, sink.mailer())
    row, result = send_test(db, settings, "ops@example.org", "sink", actor="test")
    assert row.status == "sent" and row.mailer == "sink"
    (msg,) = sink.handler.parsed()
    assert msg["Subject"] == "Mailgate test message" and msg[OWN_MAIL_HEADER]
    row, _ = send_test(db, settings, "ops@example.org", "down", actor="test")
    assert row.status == "queued" and row.attempts == 1 and "down" in row.last_error
    with pytest.raises(ValueError):
        send_test(db, settings, "ops@example.org", "nope")


def test_a_down_mailer_is_tried_once_per_batch_not_once_per_message(db, settings, sink, refusing_mailer, seed,
                                                                     task_with_reply, monkeypatch):
    from mailgate.shared.outbound import mailers

    settings = with_mailers(settings, MailerConfig("down", "smtp", 10, refusing_mailer.options),
                            sink.mailer("backup", priority=5))
    with db.transaction() as s:
        for i in range(9):
            s.add(OutboundMessage(status="queued", recipient=f"u{i}@example.org", sender="noreply@x.example",
                                  subject="s", body_text="x"))
    connects = []
    real = mailers.SMTPMailer._connect
    monkeypatch.setattr(mailers.SMTPMailer, "_connect", lambda self: connects.append(self.key) or real(self))
    stats = Worker(db, settings, batch_size=50).run_once()
    assert stats.sent == 10 and stats.by_mailer == {"backup": 10}
    assert connects.count("down") == 1 and connects.count("backup") == 1
    rows = _rows(db)
    assert "skipped, down" in rows[-1].last_error


def test_stop_mid_batch_hands_the_rest_back(db, settings, task_with_reply):
    from mailgate.shared.outbound import queue

    with db.transaction() as s:
        for i in range(5):
            s.add(OutboundMessage(status="queued", recipient=f"u{i}@example.org", sender="noreply@x.example",
                                  subject="s", body_text="x"))
    worker = Worker(db, settings, batch_size=10)
    real = worker.order
    calls = []

    def order():
        calls.append(1)
        if len(calls) == 2:
            worker.stop.set()  # SIGTERM arrives while the 2nd message is being sent
        return real()

    worker.order = order
    stats = worker.run_once()
    assert stats.sent == 2
    assert len(queue.claim(db, 10)) == 4  # the other four are due again at once, not leased


def test_the_last_temporary_failure_is_counted_as_failed(db, settings, sink, task_with_reply):
    from mailgate.shared.outbound import queue

    with db.transaction() as s:
        s.scalars(select(OutboundMessage)).one().attempts = queue.MAX_ATTEMPTS - 1
    sink.handler.data_answer = "451 4.3.0 Try again later"
    stats = _drain(db, with_mailers(settings, sink.mailer()))
    (row,) = _rows(db)
    assert (row.status, row.attempts) == ("failed", queue.MAX_ATTEMPTS)
    assert (stats.retry, stats.failed) == (0, 1)  # what the row became, not "retry later"
