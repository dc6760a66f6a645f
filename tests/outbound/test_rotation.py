"""A key rotation while notifications wait in the queue: what leaves must carry a working Reply-To."""

from __future__ import annotations

from sqlalchemy import event, select

from mailgate.shared import durability, keys, tracker
from mailgate.shared.models import AppUser, OutboundMessage, Task
from mailgate.shared.outbound.worker import Worker
from mailgate.shared.rows import task_by_id, user_by_id

from .conftest import with_mailers


def test_rows_queued_before_a_rotation_leave_resigned_and_the_reply_works(db, settings, seed, sink,
                                                                          task_with_reply, receive, mail):
    ref, old_bob = task_with_reply
    with durability.transaction(db) as conn:  # a second queued row (carol), so the batch has more than one to re-sign
        tracker.subscribe(conn, task_by_id(conn, int(ref[1:])), user_by_id(conn, seed.carol))
    out = receive(mail(sender="alice@example.org", to=seed.reply_address(ref, seed.alice), subject="Re: x",
                       body="Any news?"))
    assert out.status == "processed"
    with db.read() as s:
        queued = s.scalars(select(OutboundMessage).where(OutboundMessage.status == "queued")).all()
        assert len(queued) == 3 and {r.reply_to for r in queued} >= {old_bob}
    with db.transaction() as s:
        new_key = keys.rotate_key(s).id

    key_reads = []

    def count(_conn, _cursor, statement, *_a):
        if "FROM mail_keys" in statement:
            key_reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        stats = Worker(db, with_mailers(settings, sink.mailer()), batch_size=10).run_once()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert stats.sent == 3
    arrived = {m["To"]: m for m in sink.handler.parsed()}
    assert arrived["bob@example.org"]["Reply-To"] != old_bob
    assert arrived["bob@example.org"]["Reply-To"] == seed.reply_address(ref, seed.bob)  # signed by the new key
    assert len(key_reads) == 1  # one key look-up for the batch, not one per row
    with db.read() as s:
        assert {r.key_id for r in s.scalars(select(OutboundMessage))} == {new_key}

    # bob answers the notification he just got: accepted, not invalid_hash.
    note = arrived["bob@example.org"]
    reply = receive(mail(sender="bob@example.org", to=note["Reply-To"], subject="Re: " + note["Subject"],
                         body="On it.", headers={"In-Reply-To": note["Message-ID"]}),
                    sender="bob@example.org", to=[note["Reply-To"]])
    assert (reply.status, reply.action) == ("processed", "comment")


def test_a_row_queued_under_an_older_reply_prefix_is_resigned_with_the_current_one(db, settings, seed):
    """The prefix only routes: a row signed as mg+T1+... before the prefix changed is re-signed too."""
    from dataclasses import replace

    from mailgate.shared.addresses import reply_address
    from mailgate.shared.outbound.resign import resign_reply_to

    with db.transaction() as s:
        old_key = keys.current_key(s)
        row = OutboundMessage(recipient="bob@example.org", subject="x", status="queued", key_id=old_key.id,
                              reply_to=reply_address(replace(settings, reply_prefix="mg"), old_key, "T1", seed.bob))
        s.add(row)
        s.flush()
        new_key = keys.rotate_key(s)
        assert resign_reply_to(s, settings, row)
        assert row.reply_to == reply_address(settings, new_key, "T1", seed.bob) and not row.reply_to.startswith("mg+")
