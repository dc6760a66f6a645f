"""A rendered notification read back into the fields of a JSON sending API (Postmark, SendGrid).

Those APIs build the MIME themselves from From, To, Subject, Reply-To, the
two bodies and a list of extra headers. Reading them back from the bytes
the worker rendered (rather than from the row) keeps one truth: whatever
the SMTP relay would have carried (Message-ID, In-Reply-To, References,
Auto-Submitted, the signed Reply-To, our marker headers) is what the API
is given, value for value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import parseaddr

# Headers the APIs take as fields of their own, or build themselves.
_OWN_FIELDS = {"from", "to", "cc", "bcc", "subject", "reply-to", "date", "mime-version", "content-type",
               "content-transfer-encoding"}


@dataclass(frozen=True)
class MimeFields:
    sender: str  # the From header as written ("Mailgate <noreply@…>")
    to: str
    subject: str
    reply_to: str
    text: str | None
    html: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)  # the others, in order, unfolded

    @property
    def sender_address(self) -> tuple[str, str]:
        """(display name, address) of the From header."""
        return parseaddr(self.sender)


def _value(raw: str) -> str:
    """One header value, unfolded (RFC 5322 §2.2.3) and decoded from RFC 2047 when encoded."""
    text = raw.replace("\r\n", "").replace("\n", "")
    if "=?" in text:
        text = str(make_header(decode_header(text)))
    return text.strip()


def _body(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return payload.decode(part.get_content_charset() or "us-ascii", "replace").replace("\r\n", "\n")


def read(data: bytes) -> MimeFields:
    """The API fields of one rendered message (text/plain, optionally with a text/html alternative)."""
    msg = BytesParser(policy=compat32).parsebytes(data)
    headers = [(name, _value(str(raw))) for name, raw in msg.items() if name.lower() not in _OWN_FIELDS]
    text = html = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "text/plain" and text is None:
            text = _body(part)
        elif ctype == "text/html" and html is None:
            html = _body(part)
    return MimeFields(sender=_value(msg.get("From", "")), to=_value(msg.get("To", "")),
                      subject=_value(msg.get("Subject", "")), reply_to=_value(msg.get("Reply-To", "")),
                      text=text, html=html, headers=headers)
