"""GitLab's two address strategies end to end: a notification goes out, the reply comes back through a mailbox."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from mailgate.ingress.imap import settings as imap_settings
from mailgate.ingress.imap.poller import Poller
from mailgate.shared.config import from_env
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.render import Outgoing, render_bytes

from ..conftest import REPLY_DOMAIN, make_mail
from .test_imap_poller import comments, rows

pytestmark = pytest.mark.slow


@pytest.fixture(params=["incoming+%{key}@example.net", "support@example.net"], ids=["sub-addressing", "dedicated"])
def settings(request, env):
    return from_env({**env, "MAILGATE_INCOMING_ADDRESS": request.param})


def _notification_to_bob(db, seed) -> EmailMessage:
    with db.read() as s:
        row = s.scalars(select(OutboundMessage).where(OutboundMessage.user_id == seed.bob)
                        .order_by(OutboundMessage.id.desc())).first()
        return message_from_bytes(render_bytes(Outgoing.of(row)))


def _reply(notification, body: str) -> bytes:
    """What a mail client sends back: to the Reply-To, threaded under the notification."""
    msg = EmailMessage()
    msg["From"] = "Bob <bob@example.org>"
    msg["To"] = notification["Reply-To"]
    msg["Subject"] = "Re: " + notification["Subject"]
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["In-Reply-To"] = notification["Message-ID"]
    msg["References"] = " ".join(str(notification.get("References", "")).split() + [notification["Message-ID"]])
    msg.set_content(body)
    return msg.as_bytes()


def test_a_reply_to_a_notification_comes_back_through_the_mailbox(dovecot, settings, db, seed, receive):
    created = receive(make_mail(subject="Printer on fire", body="It burns.\n\n!assign bob\n"),
                      to=[f"bugs@{REPLY_DOMAIN}"])
    notification = _notification_to_bob(db, seed)
    reply_to = notification["Reply-To"]
    if "%{key}" in settings.incoming_address:
        assert reply_to.startswith(f"incoming+T1+{seed.bob}+") and reply_to.endswith("@example.net")
    else:
        assert reply_to == "support@example.net"
        assert f"<reply-t1+{seed.bob}+" in notification["References"]  # the key, lower-cased
    dovecot.append(_reply(notification, "On my way.\n\n!priority high\n"))
    # A key that names nothing: recorded rejected (never bounced). A new thread to a dedicated mailbox: not ours.
    dovecot.append(make_mail(to=settings.incoming_address.replace("%{key}", "nonsense"), subject="Stray"))
    stats = Poller(settings, db, imap_settings.from_env(dovecot.env())).run(once=True)
    if "%{key}" in settings.incoming_address:
        assert stats.outcomes == {"processed": 1, "rejected/unknown_recipient": 1}
    else:
        assert (stats.outcomes, stats.left_alone) == ({"processed": 1}, 1)
    reply = next(r for r in rows(db) if r.subject.startswith("Re: "))
    assert (reply.source, reply.action, reply.actor, reply.commands) == ("imap", "comment", "bob", ["priority high"])
    assert comments(db, created.object) == ["On my way."]
