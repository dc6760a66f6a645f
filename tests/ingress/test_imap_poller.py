"""The IMAP poller against a real Dovecot: what it stores, what it removes, what it leaves alone."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from mailgate.ingress.imap import settings as imap_settings
from mailgate.ingress.imap.connection import ConnectionLost, LoginRefused
from mailgate.ingress.imap.poller import Poller
from mailgate.shared.models import Comment, ReceivedMessage, Task

from ..conftest import REPLY_DOMAIN, make_mail

pytestmark = pytest.mark.slow


def poller(dovecot, settings, db, incoming="", **env) -> Poller:
    return Poller(replace(settings, incoming_address=incoming), db, imap_settings.from_env(dovecot.env(**env)))


def rows(db) -> list[SimpleNamespace]:
    table = ReceivedMessage.__table__
    with db.read() as s:
        return [SimpleNamespace(**r._mapping) for r in s.execute(select(table).order_by(table.c.id))]


def raw_of(db, rec_id: int) -> bytes:
    from mailgate.shared import queries

    with db.read() as s:
        return queries.inbound_raw(s, rec_id)


def comments(db, task_ref: str) -> list[str]:
    with db.read() as s:
        task = s.scalars(select(Task).where(Task.id == int(task_ref[1:]))).one()
        return [c.text for c in s.scalars(select(Comment).where(Comment.task_id == task.id)).all()]


def wait_for(predicate, seconds: float, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def test_create_and_reply_become_task_and_comment_and_leave_the_mailbox(dovecot, settings, db, seed):
    dovecot.append(make_mail(to=f"bugs@{REPLY_DOMAIN}", subject="Printer on fire", body="It burns."))
    p = poller(dovecot, settings, db)
    stats = p.run(once=True)
    assert stats.stored == 1 and stats.outcomes == {"processed": 1}
    (created,) = rows(db)
    assert (created.source, created.status, created.action) == ("imap", "processed", "create")
    assert dovecot.count() == 0

    reply_to = seed.reply_address(created.object_ref, seed.bob)
    dovecot.append(make_mail(sender="bob@example.org", to=reply_to, body="On it.\n\n!priority high\n",
                             headers={"Return-Path": "<bob@example.org>"}))
    poller(dovecot, settings, db).run(once=True)
    reply = rows(db)[-1]
    assert (reply.status, reply.action, reply.actor, reply.mail_from) == ("processed", "comment", "bob", "bob@example.org")
    assert reply.rcpt_to == [reply_to.lower()] or reply.rcpt_to == [reply_to]
    assert comments(db, created.object_ref) == ["On it."]
    assert dovecot.count() == 0


def test_mail_not_ours_is_left_alone_unseen_and_counted_once(dovecot, settings, db, seed):
    dovecot.append(make_mail(to="someone@elsewhere.example", subject="Lunch?"))
    p = poller(dovecot, settings, db)
    assert p.run(once=True).left_alone == 1
    with dovecot.client() as c:  # not deleted, not even marked read
        c.select_folder("INBOX", readonly=True)
        assert len(c.search("ALL")) == 1 and len(c.search("UNSEEN")) == 1
    assert rows(db) == []
    p._stop.clear()
    assert p.run(once=True).left_alone == 1  # the same run: not counted (nor fetched) again
    from mailgate.ingress import refusals

    assert [(r["source"], r["reason"], r["count"]) for r in refusals.counts(db)] == [("imap", "not_ours", 1)]


def test_crash_between_store_and_delete_makes_no_second_comment(dovecot, settings, db, seed, task_with_reply):
    task, reply_to = task_with_reply
    dovecot.append(make_mail(sender="bob@example.org", to=reply_to, body="Once only."))
    crashing = poller(dovecot, settings, db)

    class Killed(BaseException):  # the process dies: not an error the poller could catch and skip
        pass

    def crash(client, uid):
        raise Killed("killed between store and delete")

    crashing.dispose = crash
    with pytest.raises(Killed):
        crashing.run(once=True)
    assert dovecot.count() == 1  # still there: the poller died before removing it

    stats = poller(dovecot, settings, db).run(once=True)  # the restarted poller reads it again
    assert stats.outcomes == {"ignored/duplicate": 1}
    assert comments(db, task) == ["Once only."]
    assert [(r.status, r.reason) for r in rows(db)[-2:]] == [("processed", None), ("ignored", "duplicate")]
    assert dovecot.count() == 0


def test_big_and_malformed_messages_are_recorded_once_not_looped_on(dovecot, settings, db, seed):
    big = make_mail(subject="Scan", attachments=[("scan.bin", "application/octet-stream", b"x" * (20 * 1024 * 1024))])
    dovecot.append(big)
    dovecot.append(b"From: alice@example.org\r\nTo: bugs@" + REPLY_DOMAIN.encode() + b"\r\nSubject: \xff\x00broken\r\n"
                   b"Content-Type: multipart/mixed; boundary=\"\r\nContent-Transfer-Encoding: base64\r\n"
                   b"\r\n\x00\xff--\r\n=?utf-8?b?####?=\r\n")
    stats = poller(dovecot, settings, db).run(once=True)
    assert stats.stored == 2
    first, second = rows(db)
    assert (first.status, first.reason, first.truncated) == ("rejected", "too_large", True)
    assert first.size > 20 * 1024 * 1024 and first.subject == "Scan"
    assert second.source == "imap" and second.status != "received"  # decided (the parser copes), stored as it came
    assert b"\xff--\r\n=?utf-8?b?####?=" in raw_of(db, second.id)  # (Dovecot stores a NUL as 0x80)
    assert dovecot.count() == 0
    assert poller(dovecot, settings, db).run(once=True).stored == 0


def test_move_to_a_folder_or_keep_and_mark_seen(dovecot, settings, db, seed):
    dovecot.append(make_mail(subject="moved"))
    poller(dovecot, settings, db, MAILGATE_IMAP_MOVE_TO="Done").run(once=True)
    assert dovecot.count() == 0 and dovecot.count("Done") == 1

    dovecot.append(make_mail(subject="kept"))
    keep = dict(MAILGATE_IMAP_DELETE_AFTER_DELIVERY="false")
    assert poller(dovecot, settings, db, **keep).run(once=True).stored == 1
    assert dovecot.count() == 1 and dovecot.count(criteria="SEEN") == 1
    assert poller(dovecot, settings, db, **keep).run(once=True).stored == 0  # a new run reads unseen mail only
    assert [r.subject for r in rows(db)] == ["moved", "kept"]


def test_wrong_password_is_a_clear_error_without_the_password(dovecot, settings, db):
    p = poller(dovecot, settings, db, MAILGATE_IMAP_PASSWORD="not the password")
    with pytest.raises(LoginRefused) as exc:
        p.run(once=True)
    text = str(exc.value)
    assert "IMAP login refused for user 'mailgate@example.net'" in text and "MAILGATE_IMAP_PASSWORD" in text
    assert "not the password" not in text


def test_untrusted_certificate_is_named(dovecot, settings, db):
    with pytest.raises(ConnectionLost, match="certificate not trusted.*MAILGATE_IMAP_VERIFY"):
        poller(dovecot, settings, db, MAILGATE_IMAP_VERIFY="true").run(once=True)


def test_trusted_certificate_and_starttls(dovecot, settings, db, seed, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    dovecot.append(make_mail(subject="over verified TLS"))
    assert poller(dovecot, settings, db, MAILGATE_IMAP_VERIFY="true").run(once=True).stored == 1
    dovecot.append(make_mail(subject="over STARTTLS"))
    assert poller(dovecot, settings, db, MAILGATE_IMAP_VERIFY="true", MAILGATE_IMAP_SSL="false",
                  MAILGATE_IMAP_STARTTLS="true", MAILGATE_IMAP_PORT=str(dovecot.port)).run(once=True).stored == 1


class Running:
    """The poller as the daemon runs it, in a thread of the test."""

    def __init__(self, p: Poller):
        self.poller = p
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.poller.run()
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            self.error = exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.poller.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def _stored(db, subject):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(ReceivedMessage).where(ReceivedMessage.subject == subject))


def test_idle_picks_a_message_up_within_two_seconds(dovecot, settings, db, seed):
    with Running(poller(dovecot, settings, db)) as running:
        assert wait_for(lambda: running.poller.stats.reconnects == 0 and running.poller._uidvalidity, 5)
        time.sleep(0.3)  # in IDLE now
        started = time.monotonic()
        dovecot.append(make_mail(subject="idle test"))
        assert wait_for(lambda: _stored(db, "idle test"), 2.0)
        assert time.monotonic() - started < 2.0


def test_server_restart_mid_idle_is_survived(dovecot, settings, db, seed, caplog):
    with Running(poller(dovecot, settings, db)) as running:
        assert wait_for(lambda: running.poller._uidvalidity, 5)
        time.sleep(0.3)
        dovecot.stop()
        time.sleep(1.5)  # the poller notices, and its first reconnect fails
        dovecot.start()
        dovecot.append(make_mail(subject="after the restart"))
        assert wait_for(lambda: _stored(db, "after the restart"), 15.0)
        assert running.poller.stats.reconnects >= 1
    assert any("reconnecting" in r.getMessage() or "retrying" in r.getMessage() for r in caplog.records)


def test_sub_addressing_template_routes_replies_and_creates(dovecot, settings, db, seed, task_with_reply):
    task, reply_to = task_with_reply
    template = "incoming+%{key}@example.net"
    key = reply_to.split("@")[0]
    dovecot.append(make_mail(to="incoming+bugs@example.net", subject="Via the shared mailbox"))
    dovecot.append(make_mail(sender="bob@example.org", to=f"incoming+{key}@example.net", body="Seen it."))
    dovecot.append(make_mail(to="incoming@example.net", subject="No key: not ours"))
    stats = poller(dovecot, settings, db, incoming=template).run(once=True)
    assert (stats.stored, stats.left_alone, stats.outcomes) == (2, 1, {"processed": 2})
    created, replied = rows(db)[-2:]
    assert (created.action, created.rcpt_to) == ("create", [f"bugs@{REPLY_DOMAIN}"])
    assert (replied.action, replied.object_ref) == ("comment", task)
    assert comments(db, task) == ["Seen it."]
    assert dovecot.count() == 1


def test_idle_is_reissued_before_its_timeout_and_still_sees_mail(dovecot, settings, db, seed, caplog):
    p = poller(dovecot, settings, db, MAILGATE_IMAP_IDLE_TIMEOUT="5")
    calls = []
    original = Poller._wait

    def counted(self, client, idle):
        calls.append(time.monotonic())
        return original(self, client, idle)

    p._wait = counted.__get__(p)
    with Running(p):
        assert wait_for(lambda: len(calls) >= 3, 14)  # IDLE ended and issued again every 5 s
        dovecot.append(make_mail(subject="after re-issues"))
        assert wait_for(lambda: _stored(db, "after re-issues"), 2.0)
    gaps = [b - a for a, b in zip(calls, calls[1:3])]
    assert all(4.5 < g < 7 for g in gaps), gaps


def test_a_message_the_server_refuses_is_skipped_not_looped_on(dovecot, settings, db, seed, caplog):
    from imapclient.exceptions import IMAPClientError

    dovecot.append(make_mail(subject="unreadable on the server"))
    dovecot.append(make_mail(subject="fine"))
    p = poller(dovecot, settings, db)
    first_uid = []
    original = p._body

    def refuse_first(client, uid):
        first_uid.append(uid)
        if len(first_uid) == 1:
            raise IMAPClientError("FETCH failed: Mailbox is corrupted")
        return original(client, uid)

    p._body = refuse_first
    stats = p.run(once=True)
    assert (stats.stored, stats.skipped) == (1, 1)
    p._stop.clear()
    assert p.run(once=True).stored == 1 and len(first_uid) == 2  # (totals of the run) not fetched again
    assert [r.subject for r in rows(db)] == ["fine"] and dovecot.count() == 1
    assert "skipped: the server refused a command on this message" in caplog.text
