"""Resend and Void: the two hand operations on the outbound queue (console buttons, CLI).

Both run in the caller's transaction and add an audit entry there, so the
change and its record commit together (or not at all).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailgate.shared import audit
from mailgate.shared.config import Settings
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.resign import resign_reply_to

VOIDABLE = ("queued", "failed")


class OutboundError(ValueError):
    """The operation does not apply to this row; the message says why, for the admin."""


def get(session: Session, outbound_id: int) -> OutboundMessage:
    row = session.get(OutboundMessage, int(outbound_id))
    if row is None:
        raise OutboundError(f"There is no outbound message #{outbound_id}.")
    return row


def resend(session: Session, outbound_id: int, actor: str, settings: Settings | None = None) -> OutboundMessage:
    """Put a message back in the queue, due now, whatever its status was.

    A sent message is sent again (the admin asked for a copy); a failed or
    void one gets a fresh set of attempts. When the mail key was rotated since
    the row was written, its Reply-To would be refused as `invalid_hash`, so
    it is re-signed under the current key first (needs `settings`; without
    them the address is left as is and the audit entry says so).
    """
    row = get(session, outbound_id)
    before = row.status
    resigned = resign_reply_to(session, settings, row)
    row.status = "queued"
    row.status_reason = f"resent by {actor}"
    row.attempts = 0
    row.next_attempt_at = None
    row.last_error = ""
    previous_mailer, row.mailer, row.sent_at = row.mailer, None, None
    audit.record(session, actor, "outbound.resend", f"outbound #{row.id}",
                 previous_status=before, previous_mailer=previous_mailer, recipient=row.recipient,
                 reply_to_resigned=resigned)
    session.flush()
    return row


def void(session: Session, outbound_id: int, actor: str, reason: str = "") -> OutboundMessage:
    """Stop a queued or failed message from ever being sent; sent mail cannot be unsent."""
    row = get(session, outbound_id)
    if row.status not in VOIDABLE:
        raise OutboundError(f"Outbound message #{row.id} is {row.status}; only queued or failed messages can be voided.")
    before = row.status
    row.status = "void"
    row.status_reason = (reason or f"voided by {actor}").strip()[:2000]
    row.next_attempt_at = None
    audit.record(session, actor, "outbound.void", f"outbound #{row.id}",
                 previous_status=before, reason=row.status_reason, recipient=row.recipient)
    session.flush()
    return row

