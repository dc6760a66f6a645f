"""Reply trimming through the real pipeline: forwards to a create address, replies that used to
come out empty, and the reply marker of Mailgate's own notifications coming back in a reply."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from mailgate.shared.models import OutboundMessage, ReceivedMessage
from mailgate.shared.outbound.render import Outgoing, render


def task_of(db, ref: str) -> dict:
    from mailgate.shared.queries import get_task, task_json

    with db.read() as s:
        return task_json(s, get_task(s, ref))


def parse_of(db, out) -> dict:
    with db.read() as s:
        return s.get(ReceivedMessage, out.id).parse


FORWARD = ("Please look at this.\n\n-----Ursprüngliche Nachricht-----\nVon: Bernd Maier <bernd@example.de>\n"
           "Gesendet: Dienstag, 5. März 2024 10:12\nAn: Alice <alice@example.org>\nBetreff: Heizung im Büro\n\n"
           "Die Heizung lässt sich nicht abschalten.\n")


def test_a_forward_to_a_create_address_is_the_task(db, seed, receive, mail):
    out = receive(mail(subject="WG: Heizung im Büro", body=FORWARD))
    assert (out.status, out.action) == ("processed", "create")
    task = task_of(db, out.object)
    assert task["title"] == "Heizung im Büro"
    with db.read() as s:
        description = s.scalar(select(ReceivedMessage.parse).where(ReceivedMessage.id == out.id))["text"]
    assert description == FORWARD.strip()
    assert parse_of(db, out)["forwarded_subject"] == "Heizung im Büro"


def test_the_same_forward_in_a_reply_is_history(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, subject="WG: x", body=FORWARD))
    assert out.status == "processed"
    assert task_of(db, "T1")["comments"][0]["text"] == "Please look at this."


def test_a_reply_on_the_header_line_is_a_comment(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    body = "Sounds good. On Tue, 4 Sep 2012 at 13:35, Alice <alice@example.org> wrote:\n> It burns.\n"
    out = receive(mail(sender="bob@example.org", to=addr, body=body))
    assert out.status == "processed", out
    assert task_of(db, "T1")["comments"][0]["text"] == "Sounds good."


def test_a_reply_trimming_would_empty_is_kept_and_says_so(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    body = "I met sales@vendor.example today, and here is what their engineer wrote:\n> The fuser is worn.\n"
    out = receive(mail(sender="bob@example.org", to=addr, body=body))
    assert out.status == "processed", out
    parse = parse_of(db, out)
    assert parse["fallback"] is True and parse["fallback_rule"] == "quote_header:en_wrote"
    assert task_of(db, "T1")["comments"][0]["text"].startswith("I met sales@vendor.example today")


def test_a_quote_without_words_of_its_own_is_still_empty(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    body = "On Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n> It burns.\n"
    out = receive(mail(sender="bob@example.org", to=addr, body=body))
    assert (out.status, out.reason) == ("rejected", "empty")
    assert parse_of(db, out)["fallback"] is False


def _notification_to_bob(db, settings, seed) -> Outgoing:
    with db.read() as s:
        row = s.scalars(select(OutboundMessage).where(OutboundMessage.user_id == seed.bob)
                        .order_by(OutboundMessage.id.desc())).first()
        return Outgoing.of(row)


def test_a_reply_quoting_our_notification_is_cut_at_its_marker(db, settings, seed, receive, mail, task_with_reply):
    """Outlook quotes without '>' and with an attribution in a language no pattern knows: the marker decides."""
    _, addr = task_with_reply
    sent = render(_notification_to_bob(db, settings, seed))
    quoted = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert quoted.startswith("##- Reply above this line -##\n")
    body = (f"Fixed it, the fuse had blown.\n\nBob\n\nMailgate <{settings.from_address}> kirjoitti 5.3.2024 "
            f"klo 10.12:\n\n{quoted}")
    out = receive(mail(sender="bob@example.org", to=addr, body=body))
    assert out.status == "processed", out
    assert task_of(db, "T1")["comments"][0]["text"] == "Fixed it, the fuse had blown.\n\nBob"
    assert [c["rule"] for c in parse_of(db, out)["cuts"]][:2] == ["marker:reply_above", "marker:attribution"]


def test_an_html_reply_quoting_our_notification_is_cut_at_its_hidden_marker(db, settings, seed, receive,
                                                                           task_with_reply):
    """A client that quotes HTML in a plain <div> and drops the visible grey line: the hidden copy is left."""
    _, addr = task_with_reply
    html = render(_notification_to_bob(db, settings, seed)).get_body(("html",)).get_content()
    assert 'style="font-size:1px;' in html and html.count("##- Reply above this line -##") == 2
    visible = '<p style="color:#9a9a9a;font-size:12px;">##- Reply above this line -##</p>'
    assert visible in html
    inner = html[html.index(">", html.index("<body")) + 1:html.index("</body>")]  # what clients quote
    quoted = inner.replace(visible, "")  # the reader deleted the line they could see
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "bob@example.org", addr, "Re: [T1] Printer on fire"
    msg.set_content(f"<div>Replacing the fuse now.</div><div>Sent: today</div><div>{quoted}</div>", subtype="html")
    out = receive(msg.as_bytes())
    assert out.status == "processed", out
    assert task_of(db, "T1")["comments"][0]["text"] == "Replacing the fuse now.\nSent: today"
