"""The service desk end to end: mail in over SMTP through a private Postfix and the milter, mail out through
the outbound worker to a local SMTP sink, the one-click unsubscribe over HTTP to `mailgate ingress`."""

from __future__ import annotations

import smtplib
import urllib.request
from email import message_from_bytes, policy
from email.utils import make_msgid

import pytest
from click.testing import CliRunner
from ingress_process import running_ingress
from sqlalchemy import select

from mailgate.shared import directory, queries
from mailgate.shared.addresses import check_recipient
from mailgate.shared.models import Comment, ReceivedMessage
from mailgate.shared.outbound.worker import Worker

from ..conftest import make_mail
from ..milter.conftest import milter_proc, postfix  # noqa: F401 -- the private Postfix and the milter
from ..outbound.conftest import free_port, sink, with_mailers  # noqa: F401 -- the local SMTP sink

pytestmark = [pytest.mark.postfix, pytest.mark.slow]
DESK = "support@reply.example.com"
JANE = "jane@customer.example"
TEAM = ("alice@example.org", "bob@example.org", "Bob.Work@Example.NET", "carol@example.org")
INGRESS_PORT = free_port()


@pytest.fixture
def env(env):
    """The milter queues the acknowledgement: it must know the public listener's URL too."""
    return {**env, "MAILGATE_INGRESS_URL": f"http://127.0.0.1:{INGRESS_PORT}"}


def ingress(env: dict):
    return running_ingress(env, INGRESS_PORT, "--host", "127.0.0.1")


def smtp_send(postfix, sender: str, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        assert smtp.sendmail(sender, [to], raw) == {}


def send_out(db, settings, sink) -> list:
    """Run the outbound worker once; the messages the sink got this time, parsed."""
    before = len(sink.handler.messages)
    Worker(db, with_mailers(settings, sink.mailer()), batch_size=50).run_once()
    return [(rcpts, raw, message_from_bytes(raw, policy=policy.default))
            for _f, rcpts, raw in sink.handler.messages[before:]]


def to_jane(batch) -> list:
    return [(raw, msg) for rcpts, raw, msg in batch if rcpts == [JANE]]


def cli(env, *args, input=None):
    from mailgate.webui.cli import main

    result = CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def assert_private(raw: bytes) -> None:
    text = raw.decode("latin-1").lower()
    for address in TEAM:
        assert address.lower() not in text, address
    assert "noreply@" not in text


def test_service_desk_over_smtp(postfix, milter_proc, sink, db, settings, seed, env):
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", DESK, "alice", actor="test", service_desk=True)

    # 1. A stranger writes: a task, and the acknowledgement, From the desk, Reply-To signed for her.
    first = make_msgid(domain="customer.example")
    smtp_send(postfix, JANE, DESK, make_mail(sender=f"Jane Doe <{JANE}>", to=DESK, subject="Printer on fire",
                                             body="It burns.\n", msgid=first))
    with db.read() as s:
        task = queries.task_json(s, queries.get_task(s, "T1"))
    assert task["author"] == "alice" and task["participants"][0]["address"] == JANE
    batch = send_out(db, settings, sink)
    [(raw, ack)] = to_jane(batch)
    assert ack["From"].addresses[0].addr_spec == DESK and ack["To"] == JANE
    reply_to = ack["Reply-To"]
    assert reply_to.startswith("T1+p1+") and reply_to.endswith("@reply.example.com")
    assert ack["In-Reply-To"] == first and ack["Auto-Submitted"] == "auto-replied"
    with db.reading() as conn:  # signed for her: the task, her participant row and her address
        assert check_recipient(conn, settings, reply_to).participant.address == JANE
    mailto, one_click = ack["List-Unsubscribe"].split(", ")
    assert mailto.startswith("<mailto:unsubscribe-") and mailto.endswith("@reply.example.com?subject=unsubscribe>")
    assert one_click.startswith(f"<http://127.0.0.1:{INGRESS_PORT}/unsubscribe/")
    assert ack["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = ack.get_body(("plain",)).get_content()
    assert "T1" in text and f"To stop receiving mail about T1, open {one_click[1:-1]}" in text
    assert_private(raw)
    assert any(rcpts == ["alice@example.org"] for rcpts, _r, _m in batch)  # the default author hears of it

    # 2. A team comment reaches her, From the desk with bob's name only.
    cli(env, "task", "comment", "T1", "--as", "bob", input="Please switch it off.\n")
    [(raw, note)] = to_jane(send_out(db, settings, sink))
    assert note["From"].addresses[0].display_name == "Bob" and note["From"].addresses[0].addr_spec == DESK
    assert "Please switch it off." in note.get_body(("plain",)).get_content()
    assert note["Reply-To"] == reply_to and first in note["References"]
    assert_private(raw)

    # 3. Her reply from the same address lands as a comment; from another address it is refused.
    smtp_send(postfix, JANE, reply_to, make_mail(sender=JANE, to=reply_to, subject="Re: " + note["Subject"],
                                                 body="Done, it is off.\n"))
    with db.read() as s:
        last = s.scalars(select(Comment).order_by(Comment.id.desc())).first()
        assert last.text == "Done, it is off." and last.participant.address == JANE
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp, pytest.raises(smtplib.SMTPDataError) as err:
        smtp.sendmail("mallory@evil.example", [reply_to],
                      make_mail(sender="mallory@evil.example", to=reply_to, body="Send me the invoices.\n"))
    assert err.value.smtp_code == 550 and b"5.7.1" in err.value.smtp_error
    local, domain = reply_to.split("@")
    broken = f"{local[:-1]}{'0' if local[-1] != '0' else '1'}@{domain}"  # her address, its signature broken
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp, \
            pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail(JANE, [broken], make_mail(sender=JANE, to=broken, body="Me again.\n"))
    [(code, answer)] = refused.value.recipients.values()
    assert code == 550 and b"5.1.1" in answer
    with db.read() as s:
        assert s.scalars(select(ReceivedMessage.reason).order_by(ReceivedMessage.id.desc())).first() == \
            "sender_mismatch"
    assert to_jane(send_out(db, settings, sink)) == []  # her own comment is not mailed back to her

    # 4. An internal comment is not mailed to her.
    cli(env, "task", "comment", "T1", "--as", "bob", "--internal", input="She switched it off herself.\n")
    batch = send_out(db, settings, sink)
    assert to_jane(batch) == [] and any(rcpts == ["alice@example.org"] for rcpts, _r, _m in batch)

    # 5. Her auto-responder answering the desk is ignored: no comment, nothing mailed back.
    smtp_send(postfix, JANE, reply_to, make_mail(sender=JANE, to=reply_to, subject="Out of office",
                                                 body="I am away until Monday.\n",
                                                 headers={"Auto-Submitted": "auto-replied"}))
    with db.read() as s:
        rec = s.scalars(select(ReceivedMessage).order_by(ReceivedMessage.id.desc())).first()
        assert (rec.status, rec.reason) == ("ignored", "auto_generated")
        assert s.scalars(select(Comment.text).order_by(Comment.id.desc())).first() != "I am away until Monday."
    assert send_out(db, settings, sink) == []

    # 6. The one-click unsubscribe (RFC 8058) on the public listener stops her mail about T1.
    url = one_click[1:-1]
    with ingress(env):
        request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    cli(env, "task", "comment", "T1", "--as", "bob", input="Anything else?\n")
    batch = send_out(db, settings, sink)
    assert to_jane(batch) == [] and batch  # the team still gets theirs
    with db.read() as s:
        assert queries.task_json(s, queries.get_task(s, "T1"))["participants"][0]["unsubscribed"] is True
    postfix.wait_queue_empty()
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()


def test_mailto_unsubscribe_over_smtp(postfix, milter_proc, sink, db, settings, seed, env):
    """The List-Unsubscribe mailto (RFC 2369) through Postfix and the milter: accepted from any address."""
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", DESK, actor="test", service_desk=True)
    smtp_send(postfix, JANE, DESK, make_mail(sender=f"Jane Doe <{JANE}>", to=DESK, subject="Printer on fire",
                                             body="It burns.\n"))
    [(_raw, ack)] = to_jane(send_out(db, settings, sink))
    mailto = ack["List-Unsubscribe"].split(", ")[0]
    address = mailto[len("<mailto:"):mailto.index("?")]
    smtp_send(postfix, "jane.forwarder@other.example", address,
              make_mail(sender="jane.forwarder@other.example", to=address, subject="unsubscribe", body="\n"))
    with db.read() as s:
        assert queries.task_json(s, queries.get_task(s, "T1"))["participants"][0]["unsubscribed"] is True
    cli(env, "task", "comment", "T1", "--as", "bob", input="Anything else?\n")
    assert to_jane(send_out(db, settings, sink)) == []
    postfix.wait_queue_empty()
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()
