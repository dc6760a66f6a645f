"""msg-id headers are never RFC 2047-encoded: a non-ASCII inbound id is left out of the threading headers."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared.models import OutboundMessage, Task
from mailgate.shared.outbound.render import Outgoing, render_bytes
from mailgate.shared.outbound.worker import Worker

from .conftest import with_mailers


def _headers(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    return dict(line.split(": ", 1) for line in head.split("\r\n"))


def test_reply_with_a_non_ascii_message_id_still_threads(db, settings, seed, sink, task_with_reply, receive, mail):
    ref, bob_reply = task_with_reply
    settings = with_mailers(settings, sink.mailer())
    Worker(db, settings).run_once()  # the root, to bob
    raw = mail(sender="bob@example.org", to=bob_reply, subject=f"Re: [{ref}] Printer on fire",
               body="Done.", msgid="<NAIVE-ID@example.org>")
    raw = raw.replace(b"NAIVE-ID", "naïve".encode())  # an RFC 6532 (SMTPUTF8) Message-ID, raw UTF-8
    assert receive(raw).status == "processed"
    sink.handler.messages.clear()
    assert Worker(db, settings).run_once().sent == 1
    (_f, _r, wire), = sink.handler.messages
    h = _headers(wire)
    with db.read() as s:
        root = f"<{s.get(Task, int(ref[1:])).thread_id}>"
    assert h["References"] == root and h["In-Reply-To"] == root  # no encoded-word, the root kept
    assert "=?" not in h["References"] + h["In-Reply-To"] + h["Message-ID"]


def test_a_row_queued_with_an_encoded_id_is_rendered_without_it(db, settings, task_with_reply):
    with db.read() as s:
        row = s.scalars(select(OutboundMessage)).first()
        out = Outgoing.of(row)
    out.headers.update({"In-Reply-To": "<naïve@example.org>", "References": "<root@reply.example.com> <naïve@example.org>"})
    h = _headers(render_bytes(out))
    assert h["References"] == "<root@reply.example.com>" and "In-Reply-To" not in h
