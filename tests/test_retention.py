"""Retention removes old mail and never what is still needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from mailgate.shared.db import utcnow
from mailgate.shared.models import (
    AuditEntry, Comment, MessageClaim, OutboundMessage, ReceivedMessage, ReceivedRaw, Task,
)
from mailgate.shared.retention import purge


def age(db, days: int) -> None:
    past = utcnow() - timedelta(days=days)
    with db.transaction() as s:
        s.execute(update(ReceivedMessage).values(created_at=past))
        s.execute(update(OutboundMessage).values(created_at=past))


def count(db, model, *where) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_purge_keeps_unfinished_failed_and_queued(db, seed, receive, mail, task_with_reply, monkeypatch):
    from mailgate.shared import tracker
    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import store

    _, addr = task_with_reply
    assert receive(mail(sender="bob@example.org", to=addr, body="A comment.")).status == "processed"
    assert receive(mail(to="nobody@reply.example.com")).status == "rejected"
    monkeypatch.setattr(tracker, "create_task", lambda *a, **k: 1 / 0)
    failed = receive(mail(subject="crash"))
    monkeypatch.undo()
    stuck, _ = store(db, seed.settings, Envelope(recipients=[seed.create_address]), mail(subject="stuck"))
    with db.transaction() as s:
        s.execute(update(OutboundMessage).where(OutboundMessage.id == 1).values(status="sent"))
    queued_before = count(db, OutboundMessage, OutboundMessage.status == "queued")
    assert queued_before >= 1

    assert purge(db, 30).received == 0  # nothing is old yet
    age(db, 40)
    dry = purge(db, 30, dry_run=True)
    assert (dry.received, dry.outbound, dry.kept_failed) == (3, 1, 1)
    assert count(db, ReceivedMessage) == 5

    result = purge(db, 30, actor="test")
    assert (result.received, result.outbound, result.kept_failed) == (3, 1, 1)
    with db.read() as s:
        left = dict(s.execute(select(ReceivedMessage.id, ReceivedMessage.status)).all())
    assert left == {failed.id: "failed", stuck.id: "received"}
    assert count(db, ReceivedRaw) == 2 and count(db, MessageClaim) == 0
    assert count(db, OutboundMessage, OutboundMessage.status == "queued") == queued_before
    # the tracker keeps its content; only the link to the purged message is gone
    assert count(db, Task) == 1 and count(db, Comment) == 1
    with db.read() as s:
        assert s.scalar(select(Comment.source_message_id)) is None
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "purge")) == "purge"

    assert purge(db, 30, include_failed=True).received == 1
    assert count(db, ReceivedMessage) == 1  # the unfinished one stays


def test_purge_refuses_less_than_a_week(db):
    """Claims go with purged messages; senders retry for up to 5 days."""
    with pytest.raises(ValueError):
        purge(db, 6)


def test_purge_cli(env, db, seed, receive, mail):
    import json

    from click.testing import CliRunner

    from mailgate.webui.cli import main

    receive(mail())
    age(db, 10)
    res = CliRunner().invoke(main, ["purge", "--older-than", "7", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["received"] == 1
    res = CliRunner().invoke(main, ["purge", "--older-than", "3"], env=env)
    assert res.exit_code == 2 and "3" in res.output
