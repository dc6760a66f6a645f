"""Batches: receive_many() decides every message on its own; the Batcher serves concurrent callers."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from mailgate.shared import batching, tracker
from mailgate.shared.batching import Batcher
from mailgate.shared.envelope import Envelope
from mailgate.shared.models import Comment, MessageClaim, ReceivedMessage
from mailgate.shared.outcomes import Reason, Status, TempFail
from mailgate.shared.pipeline import receive_many


def _count(db, column, *where) -> int:
    with db.read() as s:
        return s.scalar(select(func.count(column)).where(*where))


def test_each_message_of_a_batch_is_decided_on_its_own(db, settings, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    reply = mail(sender="bob@example.org", to=addr, body="Fixed it.\n", msgid="<same@example.org>")
    batch = [
        (Envelope(sender="bob@example.org", recipients=[addr]), reply),
        (Envelope(sender="", recipients=[addr]),  # a bounce to the same address
         mail(sender="MAILER-DAEMON@example.org", to=addr, subject="Undelivered Mail Returned to Sender",
              body="This is the mail system at host example.org.\n")),
        (Envelope(sender="eve@evil.example", recipients=[seed.create_address]),
         mail(sender="eve@evil.example", subject="Spam", body="Buy now.\n")),
        (Envelope(sender="bob@example.org", recipients=[addr]), reply),  # a second copy in the same batch
    ]
    outcomes = receive_many(db, settings, batch)
    assert [(o.status, o.reason) for o in outcomes] == [
        (Status.PROCESSED, None), (Status.IGNORED, Reason.BOUNCE), (Status.REJECTED, Reason.UNKNOWN_SENDER),
        (Status.IGNORED, Reason.DUPLICATE)]
    assert outcomes[3].duplicate_of == outcomes[0].id
    assert len({o.id for o in outcomes}) == 4  # every copy is stored
    assert _count(db, Comment.id, Comment.text == "Fixed it.") == 1


def test_a_crash_in_one_message_rolls_back_only_its_own_work(db, settings, seed, task_with_reply, mail, monkeypatch):
    ref, addr = task_with_reply
    real = tracker.add_comment

    def add_comment(conn, *, text, **kw):
        comment_id = real(conn, text=text, **kw)  # written, then the crash: the savepoint must undo it
        if "boom" in text:
            raise RuntimeError("boom")
        return comment_id

    monkeypatch.setattr(tracker, "add_comment", add_comment)
    envelope = Envelope(sender="bob@example.org", recipients=[addr])
    outcomes = receive_many(db, settings, [(envelope, mail(sender="bob@example.org", to=addr, body=f"{t}\n"))
                                           for t in ("First.", "boom", "Third.")])
    assert [o.status for o in outcomes] == [Status.PROCESSED, Status.FAILED, Status.PROCESSED]
    assert outcomes[1].reason == Reason.INTERNAL_ERROR
    with db.read() as s:
        failed = s.get(ReceivedMessage, outcomes[1].id)
        assert "RuntimeError: boom" in failed.error and failed.comment_id is None
    assert _count(db, Comment.id, Comment.text == "boom") == 0
    assert _count(db, MessageClaim.received_id, MessageClaim.received_id == outcomes[1].id) == 0  # retryable
    assert _count(db, Comment.id, Comment.text.in_(["First.", "Third."])) == 2


def test_batcher_stores_concurrent_callers_together(db, settings, seed, task_with_reply, mail, monkeypatch):
    """While one batch is at work, the callers that arrive queue up and go in the next one, together."""
    ref, addr = task_with_reply
    first_started, release = threading.Event(), threading.Event()
    sizes: list[int] = []
    real = batching.receive_many

    def gated(db_, settings_, messages, timings, **kw):
        sizes.append(len(messages))
        if len(sizes) == 1:
            first_started.set()
            release.wait(10)
        return real(db_, settings_, messages, timings, **kw)

    monkeypatch.setattr(batching, "receive_many", gated)
    batcher = Batcher(db, settings)
    results: list = []

    def send(i: int) -> None:
        results.append(batcher.receive(Envelope(sender="bob@example.org", recipients=[addr]),
                                       mail(sender="bob@example.org", to=addr, body=f"Reply {i}.\n")))

    first = threading.Thread(target=send, args=(0,))
    first.start()
    assert first_started.wait(10)
    others = [threading.Thread(target=send, args=(i,)) for i in range(1, 8)]
    for t in others:
        t.start()
    while len(batcher._queue) < 7:  # all seven waiting behind the first batch
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(20)
    batcher.stop()
    assert sizes == [1, 7]
    assert sorted(o.status for o in results) == [Status.PROCESSED] * 8
    assert batcher.batches == 2 and batcher.messages == 8


def test_batcher_answers_every_caller_of_a_failed_batch_with_tempfail(db, settings, seed, mail, monkeypatch):
    def broken(*a, **k):
        raise KeyError("unexpected")

    monkeypatch.setattr(batching, "receive_many", broken)
    batcher = Batcher(db, settings)
    with pytest.raises(TempFail):
        batcher.receive(Envelope(recipients=[seed.create_address]), mail())
    batcher.stop()
    with pytest.raises(TempFail):  # stopped: refuses instead of queueing forever
        batcher.receive(Envelope(recipients=[seed.create_address]), mail())


def test_what_a_rolled_back_message_read_is_not_trusted_by_the_next(db, settings, seed, mail, monkeypatch):
    """A crash after `subscribe` rolls the subscription back; the next message must not think it is there."""
    from mailgate.shared import notify
    from mailgate.shared.models import TaskSubscriber
    from mailgate.shared.queries import get_task, task_json

    real = notify.queue_task_event

    def queue(conn, settings_, **kw):
        if kw["new_text"].startswith("Crash"):
            raise RuntimeError("after subscribe")
        return real(conn, settings_, **kw)

    monkeypatch.setattr(notify, "queue_task_event", queue)
    envelope = Envelope(sender="alice@example.org", recipients=[seed.create_address])
    first, second = receive_many(db, settings, [(envelope, mail(subject="One", body="Crash here.\n")),
                                                (envelope, mail(subject="Two", body="Fine.\n"))])
    assert first.status == Status.FAILED and second.status == Status.PROCESSED
    with db.read() as s:
        assert task_json(s, get_task(s, second.object))["subscribers"] == ["alice"]
    assert _count(db, TaskSubscriber.task_id) == 1


def test_a_message_whose_outcome_cannot_be_written_waits_alone(db, settings, seed, task_with_reply, mail, monkeypatch):
    """One message's database trouble (a lock timeout, say) is a 4xx for it, not for its whole batch."""
    from sqlalchemy.exc import OperationalError

    from mailgate.shared import received

    ref, addr = task_with_reply
    real = received.write_outcome

    def write(conn, rec_id, values):
        if "stuck" in (values["parse"] or {}).get("text", ""):
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(conn, rec_id, values)

    monkeypatch.setattr(received, "write_outcome", write)
    envelope = Envelope(sender="bob@example.org", recipients=[addr])
    results = receive_many(db, settings, [(envelope, mail(sender="bob@example.org", to=addr, body=f"{t}\n"))
                                          for t in ("Before.", "stuck", "After.")])
    assert results[0].status == Status.PROCESSED and results[2].status == Status.PROCESSED
    assert isinstance(results[1], TempFail)
    with db.read() as s:
        statuses = dict(s.execute(select(ReceivedMessage.status, func.count()).group_by(ReceivedMessage.status)).all())
    assert statuses[Status.RECEIVED] == 1  # stored, not acted on: finished later or a duplicate of the retry
    assert _count(db, Comment.id, Comment.text == "stuck") == 0


def test_no_caller_is_answered_before_its_batch_is_on_disk(db, settings, seed, task_with_reply, mail, monkeypatch):
    """The fsync runs beside the next batch's work, but a caller is woken only once it is done."""
    ref, addr = task_with_reply
    syncing, release = threading.Event(), threading.Event()
    real = db.make_durable

    def slow_disk():
        syncing.set()
        release.wait(10)
        real()

    monkeypatch.setattr(db, "make_durable", slow_disk)
    batcher = Batcher(db, settings)
    results: list = []
    caller = threading.Thread(target=lambda: results.append(batcher.receive(
        Envelope(sender="bob@example.org", recipients=[addr]), mail(sender="bob@example.org", to=addr))))
    caller.start()
    assert syncing.wait(10)
    caller.join(0.3)
    assert caller.is_alive() and not results  # committed, not yet durable: not answered
    release.set()
    caller.join(10)
    batcher.stop()
    assert [o.status for o in results] == [Status.PROCESSED]


def test_a_failed_fsync_answers_tempfail_not_an_accept(db, settings, seed, task_with_reply, mail, monkeypatch):
    ref, addr = task_with_reply

    def broken_disk():
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(db, "make_durable", broken_disk)
    batcher = Batcher(db, settings)
    with pytest.raises(TempFail, match="could not make the message durable"):
        batcher.receive(Envelope(sender="bob@example.org", recipients=[addr]), mail(sender="bob@example.org", to=addr))
    batcher.stop()
