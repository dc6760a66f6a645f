"""What a service desk mails to external participants: the acknowledgement and every public comment.

Privacy is the rule of every message here: it goes to one participant
only (To is their address alone), From is the service desk's address with
the writer's name only (a team member's address never appears), and the
body holds the comment and how to answer -- never the console's link, the
subscribers, internal comments or another participant's address.

Threading is per participant: their conversation's root is the mail they
sent (or were copied on), so their client shows one thread; when that had
no usable Message-ID, the first mail we send them becomes the root.
"""

from __future__ import annotations

from mailgate.shared.addresses import incoming
from mailgate.shared.addresses import participant_reply_address
from mailgate.shared.config import Settings
from mailgate.shared.db import utcnow
from mailgate.shared.keys import signing_key
from mailgate.shared.models import OutboundMessage
from mailgate.shared.notify import subject_for
from mailgate.shared.outbound.compose import (
    html_from_text, is_threading_id, marker_headers, new_message_id, thread_headers,
)
from mailgate.shared.parsing.markers import marker_line
from mailgate.shared.prepared import Conn, Insert
from mailgate.shared.rows import TaskRow
from mailgate.shared.servicedesk import acknowledgement, participants, unsubscribe
from mailgate.shared.servicedesk.participants import ParticipantRow

_INSERT_OUTBOUND = Insert(OutboundMessage.__table__)


def desk_from(settings: Settings, desk_address: str) -> str:
    """The desk's address as people are given it (inside a `%{key}` template when there is one)."""
    return incoming.create_address_form(settings.incoming_address, desk_address, settings.reply_domain) \
        or desk_address


def _row(conn: Conn, settings: Settings, *, task: TaskRow, participant: ParticipantRow, sender_name: str, event: str,
         body: str, source_received_id: int | None, auto: str = "auto-generated") -> tuple[dict, ParticipantRow]:
    """One outbound row to `participant`, threaded in their conversation; returns it and the participant
    (with its thread root, when this mail became it)."""
    key = signing_key(conn)
    signed = participant_reply_address(settings, key, task.ref, participant.id, participant.address)
    message_id = new_message_id(settings.reply_domain, task.ref.lower())
    if participant.thread_root and is_threading_id(participant.thread_root):
        threading = thread_headers(participant.thread_root)
    else:
        threading = {}
        participant = participants.set_thread_root(conn, participant, message_id)
    headers = {**marker_headers(event, task.ref), "Auto-Submitted": auto, **threading,
               **unsubscribe.headers(settings, participant.unsubscribe_token)}
    ref = incoming.reply_reference(settings.incoming_address, signed)
    if ref is not None:  # a dedicated incoming mailbox: the reply address's key rides in References
        headers["References"] = f"{headers.get('References', '')} <{ref}>".strip()
    # The reply marker first, as in the team's notifications: a reply quoting this is cut there.
    marker = marker_line(settings.reply_marker) + "\n\n" if settings.reply_marker else ""
    text = (marker + body.rstrip("\n") + "\n\n-- \n"
            + unsubscribe.body_line(settings, participant.unsubscribe_token, task.ref) + "\n")
    values = dict(status="queued", event=event, task_id=task.id, source_received_id=source_received_id,
                  key_id=key.id, sender=desk_from(settings, participant.desk), sender_name=sender_name[:200],
                  subject=subject_for(task), body_text=text, body_html=html_from_text(text), created_at=utcnow(),
                  user_id=None, participant_id=participant.id, recipient=participant.address,
                  reply_to=incoming.issue(settings.incoming_address, signed), message_id=message_id,
                  headers=headers, attempts=0)
    return values, participant


def queue_acknowledgement(conn: Conn, settings: Settings, *, task: TaskRow, participant: ParticipantRow,
                          template: str | None, source_received_id: int | None) -> dict:
    """The acknowledgement to the participant who opened `task` (RFC 3834: Auto-Submitted: auto-replied)."""
    body = acknowledgement.render(template, ref=task.ref, title=task.title, name=participant.name,
                                  address=participant.address, desk=desk_from(settings, participant.desk))
    values, _ = _row(conn, settings, task=task, participant=participant, sender_name=participants.SUPPORT_NAME,
                     event="acknowledge", body=body, source_received_id=source_received_id, auto="auto-replied")
    conn.execute(_INSERT_OUTBOUND, values)
    return values


def comment_body(task: TaskRow, writer: str, text: str) -> str:
    closed = "\nThis request is now closed." if task.status == "closed" else ""
    return (f"{writer} wrote:\n\n{text.strip()}\n\n"
            f"{task.ref}: {task.title}{closed}\n"
            f"Reply to this message to answer; your reply is added to {task.ref}.\n")


def queue_comment(conn: Conn, settings: Settings, *, task: TaskRow, writer: str, text: str,
                  skip_participant: int | None = None, source_received_id: int | None = None) -> list[dict]:
    """A public comment to every subscribed participant of `task` but its writer (`skip_participant`).

    `writer` is the name shown (a team member's name, or another
    participant's display name): never an address.
    """
    rows = []
    for p in participants.of_task(conn, task.id):
        if p.unsubscribed or p.id == skip_participant:
            continue
        values, _ = _row(conn, settings, task=task, participant=p, sender_name=writer,
                         event="comment", body=comment_body(task, writer, text),
                         source_received_id=source_received_id)
        rows.append(values)
    if rows:
        conn.executemany(_INSERT_OUTBOUND, rows)
    return rows
