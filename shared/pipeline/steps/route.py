"""Route: which Mailgate address the message is for, checked as the milter checks it at RCPT time.

The envelope recipients when there are any; otherwise (a raw upload) the
routing headers. A reply address wins over a create address copied on the
same message; the others are recorded in the decision log only.
"""

from __future__ import annotations

from email.message import Message

from mailgate.shared.addresses import Recipient, check_recipient, is_ours
from mailgate.shared.message import header_addresses
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.pipeline.work import Work

ROUTING_HEADERS = ("To", "Cc", "Delivered-To", "Envelope-To", "X-Envelope-To")
# Mailgate recipients checked per message (each costs a signature check and look-ups): one message to a
# thousand addresses (Postfix's default recipient limit) costs no more than one to this many.
MAX_CHECKED = 20


def run(w: Work) -> None:
    if w.envelope.recipients:
        candidates = list(w.envelope.recipients)
        w.note("Routed by the envelope recipients: " + ", ".join(candidates) + ".")
    else:
        candidates = header_recipients(w.msg)
        w.note("No envelope: routed by the headers " + ", ".join(ROUTING_HEADERS) + ": "
               + (", ".join(candidates) or "none found") + ".")
    found = _usable(w, _bounded(w, [a for a in candidates if is_ours(w.settings, a)]))
    # A reply to a thread that also copies a create address is a reply.
    w.recipient = next((r for r in found if r.kind == "reply"), found[0])
    if len(found) > 1:
        w.note(f"Acting on {w.recipient.address}; the other Mailgate recipients are recorded only.")
    w.routed_to = w.recipient.address
    w.application = w.recipient.application
    if w.recipient.token is not None:
        w.object_ref = w.recipient.token.obj
    elif w.recipient.kind == "unsubscribe":
        w.object_ref = w.recipient.task.ref


def _bounded(w: Work, ours: list[str]) -> list[str]:
    """Mailgate's recipients once each (case-insensitively), the first MAX_CHECKED of them."""
    seen: set[str] = set()
    distinct = [a for a in ours if not (a.lower() in seen or seen.add(a.lower()))]
    if len(distinct) > MAX_CHECKED:
        w.note(f"{len(distinct)} Mailgate recipients: only the first {MAX_CHECKED} were considered.")
        return distinct[:MAX_CHECKED]
    return distinct


def _usable(w: Work, ours: list[str]) -> list[Recipient]:
    """Mailgate's recipients that pass the RCPT checks; the first refusal if none does."""
    if not ours:
        raise Reject(Reason.UNKNOWN_RECIPIENT, "None of the recipients is a Mailgate address.")
    first_refusal: Reject | None = None
    found: list[Recipient] = []
    for addr in ours:
        try:
            rcpt = check_recipient(w.conn, w.settings, addr)
        except Reject as r:
            w.note(f"{addr}: refused ({r.reason}): {r.text}")
            first_refusal = first_refusal or r
            continue
        w.note(rcpt.describe())
        found.append(rcpt)
    if not found:
        assert first_refusal is not None
        raise first_refusal
    return found


def header_recipients(msg: Message) -> list[str]:
    """Routing candidates of a message without an envelope: every address of the routing headers, once."""
    found: list[str] = []
    for name in ROUTING_HEADERS:
        for addr in header_addresses(msg, name):
            if addr.lower() not in (c.lower() for c in found):
                found.append(addr)
    return found
