"""An OutboundMessage row to the bytes that go on the wire, and its envelope.

Rendering happens at send time from the stored row, so what the console
shows (subject, headers, both bodies) is what leaves; only the Date is the
moment of sending. The worker renders from a plain snapshot (`Outgoing`),
never from a live ORM object, so it holds no database state while talking
to a mail server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, localtime

from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.compose import bracket

DISPLAY_NAME = "Mailgate"
# Headers the row's JSON may not override: they come from the row's own columns.
_RESERVED = {"from", "to", "reply-to", "subject", "message-id", "date", "mime-version", "content-type",
             "content-transfer-encoding", "bcc"}


@dataclass(frozen=True)
class Outgoing:
    """What the worker needs to send one row, detached from the session."""

    id: int
    sender: str
    recipient: str
    reply_to: str
    subject: str
    message_id: str
    headers: dict = field(default_factory=dict)
    body_text: str = ""
    body_html: str = ""
    attempts: int = 0
    lease: object = None  # the claim's token (next_attempt_at written by the claim)

    @classmethod
    def of(cls, row: OutboundMessage, lease: object = None) -> "Outgoing":
        return cls(id=row.id, sender=row.sender, recipient=row.recipient, reply_to=row.reply_to,
                   subject=row.subject, message_id=row.message_id, headers=dict(row.headers or {}),
                   body_text=row.body_text or "", body_html=row.body_html or "", attempts=row.attempts or 0,
                   lease=lease)

    def to_header(self) -> str:
        """The To header: the whole list for a public message, else the one recipient."""
        return self.headers.get("To") or self.recipient

    def envelope_recipients(self) -> list[str]:
        return [addr for _name, addr in getaddresses([self.to_header()]) if addr]


def render(out: Outgoing) -> EmailMessage:
    """The MIME message: text/plain with an HTML alternative when there is one."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(DISPLAY_NAME, addr_spec=out.sender) if out.sender else DISPLAY_NAME
    msg["To"] = out.to_header()
    if out.reply_to:
        msg["Reply-To"] = out.reply_to
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(localtime())
    if out.message_id:
        msg["Message-ID"] = bracket(out.message_id)
    for name, value in out.headers.items():
        if name.lower() not in _RESERVED and value:
            msg[name] = str(value)
    msg.set_content(out.body_text or "\n", cte="quoted-printable")
    if out.body_html:
        msg.add_alternative(out.body_html, subtype="html", cte="quoted-printable")
    return msg


def render_bytes(out: Outgoing) -> bytes:
    return render(out).as_bytes()
