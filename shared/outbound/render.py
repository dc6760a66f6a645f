"""An OutboundMessage row to the bytes that go on the wire, and its envelope.

Rendering happens at send time from the stored row, so what the console
shows (subject, headers, both bodies) is what leaves; only the Date is the
moment of sending. The worker renders from a plain snapshot (`Outgoing`),
never from a live ORM object, so it holds no database state while talking
to a mail server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
import secrets
from email import message_from_bytes, quoprimime
from email.header import Header
from email.message import EmailMessage
from email.policy import default
from email.utils import formataddr, formatdate, getaddresses

from mailgate.shared.message import clean_header_value
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.compose import bracket, is_threading_id

DISPLAY_NAME = "Mailgate"
# Headers the row's JSON may not override: they come from the row's own columns.
_RESERVED = {"from", "to", "reply-to", "subject", "message-id", "date", "mime-version", "content-type",
             "content-transfer-encoding", "bcc"}
# msg-id headers: never RFC 2047-encoded (an encoded id threads nothing); ids that are not ASCII are dropped.
_MSGID_LISTS = {"in-reply-to", "references"}
_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # printable ASCII without ':' (RFC 5322 field name)


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
    sender_name: str = ""  # From's display name ("": Mailgate); a service desk's writer, by name only

    @classmethod
    def of(cls, row: OutboundMessage, lease: object = None) -> "Outgoing":
        return cls(id=row.id, sender=row.sender, recipient=row.recipient, reply_to=row.reply_to,
                   subject=row.subject, message_id=row.message_id, headers=dict(row.headers or {}),
                   body_text=row.body_text or "", body_html=row.body_html or "", attempts=row.attempts or 0,
                   lease=lease, sender_name=row.sender_name or "")

    def to_header(self) -> str:
        """The To header: the whole list for a public message, else the one recipient."""
        return self.headers.get("To") or self.recipient

    def envelope_recipients(self) -> list[str]:
        if "To" not in self.headers:  # the usual case: one recipient, no parsing needed
            return [self.recipient.strip()] if self.recipient.strip() else []
        return [addr for _name, addr in getaddresses([self.to_header()]) if addr]


def render_bytes(out: Outgoing, keep_message_id: bool = True) -> bytes:
    """The wire form (CRLF): text/plain, with an HTML alternative when there is one.

    `keep_message_id=False` is for a mailer whose service sets its own
    Message-ID: ours is left out and the thread is carried by References
    instead (`thread_fallback`).

    Assembled directly rather than through EmailMessage: the email package's
    header registry parses every header it is given, which alone capped the
    worker's rate (bench/RESULTS.md). Values are
    ours (addresses, ids) or already clean text (subject), and every value
    is stripped of CR/LF here anyway, so no header can smuggle in another.
    """
    lines = [
        _header("From", from_header(out)),
        _header("To", out.to_header()),
    ]
    if out.reply_to:
        lines.append(_header("Reply-To", out.reply_to))
    lines.append(_header("Subject", out.subject))
    lines.append(_header("Date", formatdate(localtime=True)))
    headers = out.headers
    if not keep_message_id:
        headers = thread_fallback(out)
    elif out.message_id and is_threading_id(out.message_id):
        lines.append(_header("Message-ID", bracket(out.message_id)))
    for name, value in headers.items():
        if not value or name.lower() in _RESERVED or not _NAME.match(name):
            continue
        if name.lower() in _MSGID_LISTS:
            value = " ".join(i for i in str(value).split() if is_threading_id(i))  # rows queued before the check
            if not value:
                continue
        lines.append(_header(name, str(value)))
    lines.append("MIME-Version: 1.0")
    text_part = _part("plain", out.body_text or "\n")
    if out.body_html:
        boundary = "=_mailgate_" + secrets.token_hex(12)
        lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
        body = (f"\r\n--{boundary}\r\n{text_part}\r\n--{boundary}\r\n"
                f"{_part('html', out.body_html)}\r\n--{boundary}--\r\n")
        return ("\r\n".join(lines) + "\r\n" + body).encode("ascii")
    return ("\r\n".join(lines) + "\r\n" + text_part).encode("ascii")


def from_header(out: Outgoing) -> str:
    """`Name <address>`: the name encoded on its own (RFC 2047) when not ASCII, never the address."""
    name = " ".join(clean_header_value(out.sender_name or DISPLAY_NAME).split()) or DISPLAY_NAME
    return formataddr((name, out.sender), charset="utf-8") if out.sender else DISPLAY_NAME


def thread_fallback(out: Outgoing) -> dict:
    """The row's headers for a service that replaces our Message-ID (Phabricator's rule).

    Such a service gives the thread root an id of its own, so nothing could
    point at ours. Instead every notification of a task, the first one
    included, names the task's stable thread id (the root's stored
    Message-ID) first in References, and In-Reply-To names the direct parent
    (the mail that caused it) or else the thread id: clients that thread by
    References group them all under one, absent, root.
    """
    headers = dict(out.headers)
    task = str(headers.get("X-Mailgate-Task", "")).strip().lower()
    if not task or not is_threading_id(out.message_id or ""):
        return headers  # not a task notification (send-test): nothing to thread
    refs = [i for i in str(headers.get("References", "")).split() if is_threading_id(i)]
    if refs and _same_thread(refs[0], out.message_id, task):
        return headers  # a later notification: its References already start with the thread id
    own = bracket(out.message_id)  # the thread root: its own stored id is the thread id
    parent = [i for i in str(headers.get("In-Reply-To", "")).split() if is_threading_id(i)]
    # Other ids already there stay (a dedicated incoming mailbox's <reply-KEY@…>: shared/addresses/incoming.py).
    headers["References"] = " ".join(dict.fromkeys([own, *parent, *refs]))
    headers["In-Reply-To"] = parent[-1] if parent else own
    return headers


def _same_thread(ref: str, own_id: str, task: str) -> bool:
    """Whether `ref` is one of our ids for the same task (compose.new_message_id: mailgate.<task>.…@domain)."""
    ref, own_id = ref.strip("<>"), own_id.strip("<>")
    prefix = f"mailgate.{task}."
    return ref.startswith(prefix) and ref.rpartition("@")[2] == own_id.rpartition("@")[2]


def render(out: Outgoing) -> EmailMessage:
    """The same message parsed back, for showing headers and bodies (CLI, console, tests)."""
    return message_from_bytes(render_bytes(out), policy=default)


def _clean(value: str) -> str:
    """One line of printable text: control characters (CR, LF, ESC, ...) are no part of a header."""
    return " ".join(clean_header_value(str(value)).split())


def _header(name: str, value: str) -> str:
    """One header line, RFC 2047-encoded when not ASCII, folded at spaces near 78 columns."""
    value = _clean(value)
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name, maxlinelen=76).encode(linesep="\r\n")
    line = f"{name}: {value}"
    if len(line) <= 78:
        return line
    folded: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > 78 and current != f"{name}:":
            folded.append(current)
            current = " " + word
        else:
            current += " " + word
    folded.append(current)
    return "\r\n".join(folded)


def _part(subtype: str, text: str) -> str:
    """Headers and quoted-printable UTF-8 body of one text part."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    body = quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), 76, eol="\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{body}")


def headers_as_sent(row: OutboundMessage) -> list[tuple[str, str]]:
    """Every header of a row's message as it goes on the wire (Date: now), for the CLI and the console."""
    return [(name, str(value)) for name, value in render(Outgoing.of(row)).items()]
