"""The act step: the claim first, then the task or the comment, the commands, the notifications."""

import pytest
from sqlalchemy import func, select

from mailgate.shared import received
from mailgate.shared.db import utcnow
from mailgate.shared.models import OutboundMessage, Task
from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.pipeline.steps import act, authorise, parse, route
from mailgate.shared.prepared import Statement


def _ready(w):
    parse.read_body(w)
    route.run(w)
    authorise.read(w)
    authorise.run(w)
    parse.run(w)


def test_a_create_opens_a_task_and_claims_the_message(db, stored, deciding, mail):
    w = stored(mail(subject="Kettle", body="It leaks.\n!priority high"))
    with deciding(w) as conn:
        _ready(w)
        act.run(w)
        assert received.claim_holder(conn, w.row.dedupe_key) == w.row.id
        assert (w.action, w.object_ref, w.task.priority, w.comment_id) == ("create", "T1", "high", None)
        conn.release_savepoint()
        conn.commit()
    with db.read() as s:
        assert s.get(Task, 1).title == "Kettle"


def test_a_reply_comments_and_notifies_the_other_subscribers(db, stored, deciding, mail, task_with_reply):
    ref, bobs = task_with_reply
    w = stored(mail(sender="bob@example.org", to=bobs, body="On it."), to=[bobs])
    with deciding(w) as conn:
        _ready(w)
        act.run(w)
        assert w.action == "comment" and w.comment_id is not None and w.object_ref == ref
        notified = conn.scalar(Statement(select(func.count()).select_from(OutboundMessage.__table__)
                                         .where(OutboundMessage.__table__.c.source_received_id == w.row.id)))
    assert notified == 1  # alice; bob acted


def test_losing_the_claim_to_another_message_makes_a_duplicate(stored, deciding, mail):
    raw = mail(msgid="<race@example.org>")
    first, second = stored(raw), stored(raw)
    with deciding(first, second) as conn:
        _ready(second)
        received.claim(conn, first.row.dedupe_key, first.row.id, utcnow())  # as if another host had committed it:
        conn.release_savepoint()  # before the message's savepoint, which act rolls back to
        conn.savepoint()
        with pytest.raises(Ignore) as lost:
            act.run(second)
    assert (lost.value.reason, lost.value.detail["duplicate_of"]) == (Reason.DUPLICATE, first.row.id)
