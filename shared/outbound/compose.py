"""What makes a notification behave in mail clients and among robots.

- Message-IDs are ours (`…@reply-domain`), random, and stored (bare) on the
  row before sending, so the row, the console and an arriving reply agree on them.
- Threading follows Phabricator: a task has one stable thread id
  (Task.thread_id). The first notification *is* the thread root (its
  Message-ID is the thread id); every later one answers it with In-Reply-To
  and References, plus the Message-ID of the mail reply that caused it, so
  clients that saw that reply hang the notification under it.
- `Auto-Submitted: auto-generated` and `X-Auto-Response-Suppress: All` keep
  vacation responders and Exchange auto-replies quiet; OWN_MAIL_HEADER lets
  the inbound guard drop our own mail if it ever loops back.
- The HTML part is built from the escaped plain text, never from mail
  content as HTML: untrusted text cannot inject markup.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import secrets

from mailgate.shared.guard import OWN_MAIL_HEADER
from mailgate.shared.parsing.markers import is_framed

QUIET_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
}

_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?"  # sentence punctuation after a link is not part of it


# (pid, prefix, counter), replaced as one object: a thread reads the prefix and the counter of the same
# state, so two threads racing at a process's first id (or after a fork) can never pair one prefix with
# two counters and repeat an id.
_ids: tuple[int | None, str, "itertools.count[int]"] = (None, "", itertools.count(1))


def new_message_id(domain: str, tag: str = "") -> str:
    """A fresh, globally unique Message-ID in our own domain, without angle brackets.

    Stored bare, like ReceivedMessage.message_id, so the two compare directly.
    64 random bits per process and a counter: unique across hosts, restarts
    and forks without a getrandom() call for every notification (a reply
    to a task with ten subscribers makes ten). Message-IDs are not secrets:
    a reply is authenticated by its signed address.
    """
    global _ids
    state = _ids
    if state[0] != os.getpid():  # first use, or a forked child: a prefix of its own
        state = _ids = (os.getpid(), secrets.token_hex(8), itertools.count(1))
    unique = f"{state[1]}{next(state[2]):x}"
    return f"mailgate.{tag}.{unique}@{domain}" if tag else f"mailgate.{unique}@{domain}"


def bracket(msgid: str) -> str:
    """`<id>` for a header, from a bare or already bracketed id."""
    return f"<{msgid.strip().strip('<>')}>"


def is_threading_id(msgid: str) -> bool:
    """Whether an id may go in In-Reply-To/References as it is.

    Those headers hold msg-ids, where RFC 2047 encoded-words are forbidden:
    an encoded id matches nothing, and a whole encoded References hides even
    the thread root from the client. An inbound mail may carry a non-ASCII
    id (RFC 6532); it cannot be written in our ASCII headers, so it is left
    out of threading rather than encoded.
    """
    bare = msgid.strip().strip("<>")
    return bool(bare) and bare.isascii() and bare.isprintable() and not any(c in bare for c in " <>")


def thread_headers(thread_id: str, parent_id: str = "") -> dict[str, str]:
    """In-Reply-To/References for a notification that is not the thread root.

    `parent_id` is the Message-ID of the inbound mail that caused this
    notification (a reply by mail): it becomes the direct parent, the thread
    root stays first in References so every client finds the thread. An id
    that `is_threading_id` refuses is dropped (no headers at all if none is left).
    """
    refs: list[str] = []
    for msgid in (thread_id, parent_id):
        if msgid and is_threading_id(msgid) and bracket(msgid) not in refs:
            refs.append(bracket(msgid))
    if not refs:
        return {}
    return {"In-Reply-To": refs[-1], "References": " ".join(refs)}


def marker_headers(event: str, task_ref: str) -> dict[str, str]:
    """Robot-quieting headers and our own-mail stamp (the value is informative only)."""
    return {**QUIET_HEADERS, OWN_MAIL_HEADER: f"{event} {task_ref}".strip(), "X-Mailgate-Task": task_ref}


# Hidden from the reader but kept by every copy of the HTML (quoting, conversion
# to text): no display:none, which some clients drop when they quote.
_HIDDEN = ("font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;"
           "color:transparent;mso-hide:all")


def html_from_text(text: str) -> str:
    """An HTML alternative that shows exactly the plain text: escaped, paragraphs, links.

    A reply marker on the first line (`##- … -##`, parsing/markers.py) is
    written twice: in an element the reader cannot see, which survives even
    when they delete the visible line before replying, and as a small grey line.
    """
    first, _, rest = text.strip("\n").partition("\n")
    out = []
    if is_framed(first):
        marker = html.escape(first.strip(), quote=True)
        out.append(f'<div style="{_HIDDEN}">{marker}</div>')
        out.append(f'<p style="color:#9a9a9a;font-size:12px;">{marker}</p>')
        text = rest
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip("\n")) if p.strip()]
    for p in paragraphs:
        out.append("<p>" + _linked(p).replace("\n", "<br>\n") + "</p>")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n"
        "<body style=\"font-family: sans-serif; font-size: 14px;\">\n" + "\n".join(out) + "\n</body></html>\n"
    )


def _linked(text: str) -> str:
    """Escaped text with its URLs as links.

    URLs are found in the raw text and each piece is escaped on its own:
    matched on the escaped text, the `&gt;` of `<https://…>` or the `&quot;`
    of a quoted URL became part of the href.
    """
    pieces: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        while url.endswith(")") and url.count(")") > url.count("("):  # "(see https://x/y)": not the ")"
            url = url[:-1].rstrip(_TRAILING)
        if len(url) <= len("https://"):
            continue
        href = html.escape(url, quote=True)
        pieces.append(html.escape(text[pos:m.start()], quote=True))
        pieces.append(f'<a href="{href}">{href}</a>')
        pos = m.start() + len(url)
    pieces.append(html.escape(text[pos:], quote=True))
    return "".join(pieces)
