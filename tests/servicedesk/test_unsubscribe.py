"""Unsubscribing stops a participant's mail about one task: queued notices voided, none queued after."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from mailgate.shared import commenting, durability
from mailgate.shared.models import OutboundMessage
from mailgate.shared.servicedesk import participants, unsubscribe


def _comment(db, settings, text="Hello."):
    with durability.transaction(db) as conn:
        commenting.comment_as(conn, settings, ref="T1", username="bob", text=text)


def _to_jane(db):
    with db.read() as s:
        return s.execute(select(OutboundMessage.status, OutboundMessage.status_reason)
                         .where(OutboundMessage.recipient == "jane@customer.example")
                         .order_by(OutboundMessage.id)).all()


def test_unsubscribe_voids_queued_and_stops_later_mail(db, settings, desk_task):
    _comment(db, settings)
    assert _to_jane(db) == [("queued", "")]
    with durability.transaction(db) as conn:
        p = unsubscribe.by_token(conn, desk_task.participant.unsubscribe_token.upper())
        assert unsubscribe.unsubscribe(conn, p) is True
    with durability.transaction(db) as conn:  # a second time changes nothing
        assert unsubscribe.unsubscribe(conn, unsubscribe.by_token(conn, p.unsubscribe_token)) is False
    assert _to_jane(db) == [("void", unsubscribe.VOID_REASON)]
    _comment(db, settings, "Anyone there?")
    assert len(_to_jane(db)) == 1


def test_only_that_task(db, settings, desk_task):
    with durability.transaction(db) as conn:
        other = participants.add(conn, task_id=desk_task.task_id, address="joe@customer.example", name="",
                                 via="cc", desk=desk_task.participant.desk, thread_root="")
        unsubscribe.unsubscribe(conn, desk_task.participant)
    _comment(db, settings)
    with db.read() as s:
        assert s.scalars(select(OutboundMessage.recipient).where(OutboundMessage.participant_id.is_not(None))
                         ).all() == ["joe@customer.example"]
    assert other.shown_name() == "A participant"


def test_malformed_tokens_find_nobody(db, desk_task):
    with db.reading() as conn:
        for token in ("", "x" * 32, desk_task.participant.unsubscribe_token[:-1], "' or 1=1 --"):
            assert unsubscribe.by_token(conn, token) is None


def test_headers_and_body_line(settings):
    token = "a" * 32
    only_mailto = unsubscribe.headers(settings, token)
    assert only_mailto == {"List-Unsubscribe": f"<mailto:unsubscribe-{token}@reply.example.com?subject=unsubscribe>"}
    web = replace(settings, ingress_url="https://in.example.com")
    both = unsubscribe.headers(web, token)
    assert both["List-Unsubscribe"].endswith(f", <https://in.example.com/unsubscribe/{token}>")
    assert both["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.body_line(web, token, "T1") == f"To stop receiving mail about T1, open https://in.example.com/unsubscribe/{token}"
    templated = replace(settings, incoming_address="incoming+%{key}@mailbox.example")
    assert f"incoming+unsubscribe-{token}@mailbox.example" in unsubscribe.headers(templated, token)["List-Unsubscribe"]
    dedicated = replace(settings, incoming_address="help@mailbox.example")
    assert unsubscribe.headers(dedicated, token) == {}  # a mailto cannot carry the key there
    assert "tell us so in a reply" in unsubscribe.body_line(dedicated, token, "T1")


def test_unsubscribing_from_one_task_keeps_her_other_tasks(db, settings, desk_task):
    """Jane asked twice: leaving T1 keeps her mail about T2."""
    from mailgate.shared import tracker

    with durability.transaction(db) as conn:
        support = participants.support_identity(conn)
        t2 = tracker.create_task(conn, app_id=1, app_name="tasks", author=support, title="Scanner too",
                                 description="It hums.", attachments=[], source_message_id=None)
        participants.add(conn, task_id=t2.id, address="jane@customer.example", name="Jane Doe", via="from",
                         desk=desk_task.participant.desk, thread_root="")
        unsubscribe.unsubscribe(conn, desk_task.participant)
    _comment(db, settings, "About the printer.")
    with durability.transaction(db) as conn:
        commenting.comment_as(conn, settings, ref=t2.ref, username="bob", text="About the scanner.")
    with db.read() as s:
        bodies = s.scalars(select(OutboundMessage.body_text)
                           .where(OutboundMessage.recipient == "jane@customer.example")).all()
    assert len(bodies) == 1 and "About the scanner." in bodies[0]
