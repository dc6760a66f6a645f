"""Choosing the text a human wrote, and keeping the attachments.

The MIME tree is walked by hand rather than with `Message.walk()` because a
forwarded message (`message/rfc822`) is an attachment as a whole: its inner
text parts must not be mistaken for the reply's body.

Body choice: inline text/plain wins (it is what the sender's client wrote
for text readers, and it needs no conversion); when there is none, or it is
empty, inline text/html is converted to text with its marked-up quotations
removed (html.py); else there is no body. Several inline text/plain parts
side by side in a multipart/mixed (Apple Mail puts one before and one after
an inline picture) are joined, so no text is lost; the alternatives of a
multipart/alternative are the same text twice and are not.

A part is an attachment when it says so (Content-Disposition: attachment),
has a file name, or is not text. Delivery-report bookkeeping parts without a
file name (message/delivery-status, text/rfc822-headers) are not files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from ..message import TOO_DEEP, UNREADABLE, clean_header_value, decode_header_value
from .charsets import decode_bytes
from . import mime
from .html import MAX_HTML_TAGS, html_to_text, tree_cost
from .models import Attachment, Cut

_STRUCTURAL = {"message/delivery-status", "message/disposition-notification", "text/rfc822-headers",
               "message/feedback-report", "message/global-delivery-status",
               "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
_MAX_DEPTH = 50


@dataclass
class Body:
    """The chosen body text, and what was found around it."""

    text: str = ""
    body_type: str = "none"
    attachments: list[Attachment] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)  # quotations removed from HTML
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Candidate:
    part: Message
    parent: str  # content type of the enclosing multipart ("" at the top)


def _content_type(part: Message) -> str:
    try:
        return mime.content_type(part).lower()
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
        name = mime.filename(part)
    except Exception:
        name = None
    if not name:
        try:
            name = mime.param(part, "name")
            if isinstance(name, tuple):  # RFC 2231 triple
                from email.utils import collapse_rfc2231_value

                name = collapse_rfc2231_value(name)
        except Exception:
            name = None
    if not name:
        return ""
    return _safe_name(decode_header_value(str(name)))


def _safe_name(name: str) -> str:
    # A file name must never carry a path or control characters: it ends up
    # in download headers and on disk.
    # Nor bidi overrides ("invoice<RLO>gpj.exe" reads "invoiceexe.jpg") or line separators:
    # the same cleaning as a header value.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return clean_header_value(name).strip(".")[:255]


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


def _param(part: Message, name: str) -> str:
    try:
        value = mime.param(part, name)
    except Exception:
        return ""
    return str(value).lower() if value and not isinstance(value, tuple) else ""


def part_text(part: Message) -> tuple[str, str | None]:
    """The decoded text of a non-multipart part, and a warning if we guessed.

    Decoded once per part: the robot guard reads the same text first.
    """
    return mime.cached_text(part, _part_text)


def _part_text(part: Message) -> tuple[str, str | None]:
    data = _payload_bytes(part)
    try:
        charset = mime.content_charset(part)
    except Exception:
        charset = None
    text, warning = decode_bytes(data, charset)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _content_type(part) == "text/plain" and _param(part, "format") == "flowed":
        text = unflow(text, delsp=_param(part, "delsp") == "yes")
    return text, warning


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: rejoin soft-wrapped lines.

    A line ending in a space continues on the next line of the same quote
    depth; a leading space is "space-stuffing" and is removed; the
    signature separator "-- " is never a soft break.
    """
    out: list[str] = []
    buf: str | None = None
    buf_depth = 0

    def flush() -> None:
        nonlocal buf
        if buf is not None:
            if buf_depth:
                out.append(">" * buf_depth + (" " + buf if buf else ""))
            else:
                out.append(buf)
        buf = None

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if buf is not None and depth == buf_depth:
            buf += content
        else:
            flush()
            buf, buf_depth = content, depth
        if not flowed:
            flush()
    flush()
    return "\n".join(out)


def _message_attachment(part: Message, index: int) -> tuple[str, bytes]:
    """File name and bytes of an attached message/rfc822 part."""
    data = b""
    subject = ""
    try:
        payload = part.get_payload()
        if isinstance(payload, list) and payload:
            inner = payload[0]
            subject = decode_header_value(inner.get("Subject", ""))
            try:
                data = inner.as_bytes()
            except Exception:
                data = str(inner).encode("utf-8", "replace")
        elif isinstance(payload, str):
            data = payload.encode("utf-8", "surrogateescape")
    except Exception:
        pass
    name = _safe_name(re.sub(r"[^\w .,()-]+", "_", subject).strip()[:80]) if subject else ""
    return (name or f"message-{index + 1}") + ".eml", data


def extract_body(msg: Message) -> Body:
    """Pick the body and collect attachments; never raises."""
    body = Body()
    unread = [str(d) for d in getattr(msg, "defects", ()) if str(d) in (TOO_DEEP, UNREADABLE)]
    if unread:  # load_message kept the body as one text: it is MIME no reader can walk, not a text
        body.warnings.append(unread[0])
        return body
    plain: list[_Candidate] = []
    html: list[_Candidate] = []
    leaves: list[Message] = []
    try:
        _collect(msg, "", plain, html, leaves, depth=0)
    except Exception as exc:  # pragma: no cover - defensive
        body.warnings.append(f"MIME walk failed: {exc.__class__.__name__}")

    used: set[int] = {id(c.part) for c in plain + html}
    chosen = _choose(plain, body, "text/plain")
    if not chosen:
        chosen = _choose(html, body, "text/html")

    for index, part in enumerate(leaves):
        if id(part) in used:
            continue
        try:
            body.attachments.append(_attachment(part, index))
        except Exception as exc:  # pragma: no cover - defensive
            body.warnings.append(f"attachment {index + 1} skipped: {exc.__class__.__name__}")
    body.attachments = [a for a in body.attachments if a is not None]
    return body


def _choose(cands: list[_Candidate], body: Body, kind: str) -> bool:
    """Fill `body` from the first candidate with content, plus its mixed siblings."""
    texts: list[str] = []
    cuts: list[Cut] = []
    first_parent = None
    tags_left = MAX_HTML_TAGS  # for the whole message: thousands of HTML parts must not cost thousands of trees
    for cand in cands:
        if texts and (cand.parent == "multipart/alternative" or first_parent == "multipart/alternative"):
            continue  # an alternative rendering of text we already have
        raw, warning = part_text(cand.part)
        if kind == "text/html":
            text, part_cuts = html_to_text(raw, tags_left)
            tags_left = max(0, tags_left - tree_cost(raw))
        else:
            text, part_cuts = raw, []
        if not text.strip() and not part_cuts:
            continue
        if warning:
            body.warnings.append(warning)
        if first_parent is None:
            first_parent = cand.parent
        texts.append(text.strip("\n"))
        cuts.extend(part_cuts)
    if not texts:
        return False
    body.text, body.body_type, body.cuts = "\n\n".join(texts), kind, cuts
    return True


def _attachment(part: Message, index: int) -> Attachment | None:
    ctype = _content_type(part)
    name = _filename(part)
    if ctype in _STRUCTURAL and not name:
        return None
    if ctype == "message/rfc822":
        auto_name, data = _message_attachment(part, index)
        return Attachment(name=name or auto_name, content_type=ctype, data=data)
    data = _payload_bytes(part)
    if not name:
        ext = {"text/plain": ".txt", "text/html": ".html", "text/calendar": ".ics", "image/png": ".png",
               "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf"}.get(ctype, ".bin")
        name = f"part-{index + 1}{ext}"
    return Attachment(name=name, content_type=ctype, data=data)


def _collect(part: Message, parent: str, plain: list, html: list, leaves: list, depth: int) -> None:
    """Sort the tree's leaves into body candidates and other leaves."""
    if depth > _MAX_DEPTH:  # hostile nesting
        return
    ctype = _content_type(part)
    if part.is_multipart() and ctype != "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _collect(sub, ctype, plain, html, leaves, depth + 1)
        return
    if ctype.startswith("multipart/"):
        # A multipart whose boundary is missing or broken: compat32 leaves
        # the whole body as one string. It is still the sender's text.
        try:
            payload = part.get_payload()
        except Exception:
            payload = None
        if isinstance(payload, str) and payload.strip():
            plain.append(_Candidate(part, parent))
            leaves.append(part)
        return
    leaves.append(part)
    if _disposition(part) == "attachment" or _filename(part):
        return
    if ctype == "text/plain":
        plain.append(_Candidate(part, parent))
    elif ctype == "text/html":
        html.append(_Candidate(part, parent))
