"""Unsubscribing an external participant: the List-Unsubscribe headers, the body line, and the act itself.

Each participant has a random token (not the mail key: a key rotation must
not break an unsubscribe link). It is the path of the one-click HTTPS URL
(RFC 8058, served by `mailgate ingress`, never the console) and the local
part of the mailto address (`unsubscribe-<token>@reply-domain`, RFC 2369).
Unsubscribing stops mail about that one task: the participant's queued
notifications are voided, and none are queued for them from then on.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, update

from mailgate.shared.addresses import incoming
from mailgate.shared.addresses import unsubscribe_address
from mailgate.shared.config import Settings
from mailgate.shared.db import utcnow
from mailgate.shared.models import OutboundMessage, TaskParticipant
from mailgate.shared.prepared import Conn, Statement
from mailgate.shared.servicedesk import participants
from mailgate.shared.servicedesk.participants import ParticipantRow

PATH = "/unsubscribe/"
TOKEN = re.compile(r"[0-9a-f]{%d}" % (2 * participants.TOKEN_BYTES))
VOID_REASON = "the participant unsubscribed from this task"

_P = TaskParticipant.__table__
_OUT = OutboundMessage.__table__
_MARK = Statement(update(_P).where(_P.c.id == bindparam("id"), _P.c.unsubscribed_at.is_(None))
                  .values(unsubscribed_at=bindparam("now")))
_VOID = Statement(update(_OUT).where(_OUT.c.participant_id == bindparam("id"), _OUT.c.status == "queued")
                  .values(status="void", status_reason=VOID_REASON))


def one_click_url(settings: Settings, token: str) -> str | None:
    """The RFC 8058 URL, when the public listener's address is configured (MAILGATE_INGRESS_URL)."""
    return f"{settings.ingress_url}{PATH}{token}" if settings.ingress_url else None


def mailto(settings: Settings, token: str) -> str | None:
    """The mailto unsubscribe address as handed out; None with a dedicated incoming mailbox, which can
    carry a key only in References (an unsubscribe mail has none)."""
    template = settings.incoming_address
    if template and incoming.KEY not in template:
        return None
    return incoming.issue(template, unsubscribe_address(settings, token))


def headers(settings: Settings, token: str) -> dict[str, str]:
    """List-Unsubscribe (mailto and HTTPS) and, with the HTTPS one, List-Unsubscribe-Post (RFC 8058)."""
    found: dict[str, str] = {}
    links = []
    address = mailto(settings, token)
    if address:
        links.append(f"<mailto:{address}?subject=unsubscribe>")
    url = one_click_url(settings, token)
    if url:
        links.append(f"<{url}>")
        found["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if links:
        found["List-Unsubscribe"] = ", ".join(links)
    return found


def body_line(settings: Settings, token: str, ref: str) -> str:
    url = one_click_url(settings, token)
    if url:
        return f"To stop receiving mail about {ref}, open {url}"
    address = mailto(settings, token)
    if address:
        return f"To stop receiving mail about {ref}, send a message to {address}"
    return f"To stop receiving mail about {ref}, tell us so in a reply."


def unsubscribe(conn: Conn, participant: ParticipantRow) -> bool:
    """Stop mail to `participant` about their task; False when they had unsubscribed already."""
    if participant.unsubscribed:
        return False
    conn.execute(_MARK, {"id": participant.id, "now": utcnow()})
    conn.execute(_VOID, {"id": participant.id})
    conn.memo.pop(participants.MEMO, None)  # read again with the new state when needed
    return True


def by_token(conn: Conn, token: str) -> ParticipantRow | None:
    """The participant whose unsubscribe token this is (None for anything else, malformed included)."""
    token = (token or "").strip().lower()
    return participants.by_token(conn, token) if TOKEN.fullmatch(token) else None
