"""Choosing the text a human wrote, and keeping the attachments.

The MIME tree is walked by hand rather than with `Message.walk()` because a
forwarded message (`message/rfc822`) is an attachment as a whole: its inner
text parts must not be mistaken for the reply's body.

Body choice: the first inline text/plain part with some content wins (it is
what the sender's client wrote for text readers, and it needs no
conversion); else the first inline text/html part, converted to text with its
marked-up quotations removed (see html.py); else nothing. A part is an
attachment when it says so (Content-Disposition: attachment), has a file
name, or is not text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from ..message import decode_header_value
from .charsets import decode_bytes
from .html import html_to_text
from .models import Attachment, Cut

# Text-like parts that belong to the message structure, not to the user:
# delivery reports and their cousins are kept as attachments only when they
# carry a file name.
_STRUCTURAL = {"message/delivery-status", "message/disposition-notification", "text/rfc822-headers",
               "message/feedback-report", "message/global-delivery-status"}


@dataclass
class Body:
    """The chosen body text, and what was found around it."""

    text: str = ""
    body_type: str = "none"
    attachments: list[Attachment] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)  # quotations removed from HTML
    warnings: list[str] = field(default_factory=list)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str:
    try:
        value = part.get("Content-Disposition")
    except Exception:
        return ""
    if value is None:
        return ""
    return str(value).split(";", 1)[0].strip().lower()


def _filename(part: Message) -> str:
    """The part's file name, decoded (RFC 2231 and, in practice, RFC 2047)."""
    name = None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):  # RFC 2231 triple
                from email.utils import collapse_rfc2231_value

                name = collapse_rfc2231_value(name)
        except Exception:
            name = None
    if not name:
        return ""
    name = decode_header_value(str(name))
    # A file name must never carry a path: it ends up in download headers.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name.strip()[:255]


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Message) -> tuple[str, str | None]:
    """The decoded text of a non-multipart part, and a warning if we guessed."""
    data = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text, warning = decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\r", "\n"), warning


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message/rfc822 part."""
    try:
        payload = part.get_payload()
        if isinstance(payload, list) and payload:
            return payload[0].as_bytes()
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
    except Exception:
        pass
    return b""


def extract_body(msg: Message) -> Body:
    """Pick the body and collect attachments; never raises."""
    body = Body()
    plain: list[Message] = []
    html: list[Message] = []
    leaves: list[Message] = []
    try:
        _collect(msg, plain, html, leaves, depth=0)
    except Exception as exc:  # pragma: no cover - defensive
        body.warnings.append(f"MIME walk failed: {exc.__class__.__name__}")

    chosen: Message | None = None
    for part in plain:
        text, warning = part_text(part)
        if text.strip():
            chosen = part
            body.text, body.body_type = text, "text/plain"
            if warning:
                body.warnings.append(warning)
            break
    if chosen is None:
        for part in html:
            raw, warning = part_text(part)
            text, cuts = html_to_text(raw)
            if text.strip() or cuts:
                chosen = part
                body.text, body.body_type, body.cuts = text, "text/html", cuts
                if warning:
                    body.warnings.append(warning)
                break

    for index, part in enumerate(leaves):
        if part is chosen or part in plain or part in html:
            continue
        ctype = _content_type(part)
        name = _filename(part)
        if ctype in _STRUCTURAL and not name:
            continue
        if ctype == "message/rfc822":
            data = _message_bytes(part)
            name = name or f"message-{index + 1}.eml"
        else:
            data = _payload_bytes(part)
            if not name:
                ext = {"text/plain": ".txt", "text/html": ".html", "text/calendar": ".ics"}.get(ctype, ".bin")
                name = f"part-{index + 1}{ext}"
        body.attachments.append(Attachment(name=name, content_type=ctype, data=data))
    return body


def _collect(part: Message, plain: list, html: list, leaves: list, depth: int) -> None:
    """Sort the tree's leaves into body candidates and other leaves."""
    if depth > 50:  # hostile nesting
        return
    ctype = _content_type(part)
    if part.is_multipart() and ctype != "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _collect(sub, plain, html, leaves, depth + 1)
        return
    if ctype.startswith("multipart/"):
        # A multipart whose boundary is missing or broken: compat32 leaves
        # the whole body as one string. It is still the sender's text.
        if isinstance(part.get_payload(), str) and part.get_payload().strip():
            plain.append(part)
            leaves.append(part)
        return
    leaves.append(part)
    if _disposition(part) == "attachment" or (_filename(part) and ctype not in ("text/plain", "text/html")):
        return
    if _disposition(part) == "inline" or not _filename(part):
        if ctype == "text/plain":
            plain.append(part)
        elif ctype == "text/html":
            html.append(part)
