"""Queue notifications for a task event: one per subscriber except the actor.

Each row carries everything the worker needs to send it (subject, both
bodies, Message-ID, threading and robot headers, Reply-To), so sending never
reads the tracker again and the console shows exactly what went out.

- Private replies (the default): one message per recipient, each with that
  person's own signed Reply-To, so a reply authenticates as them.
- Public replies (MAILGATE_PUBLIC_REPLIES): one message to everybody with the
  public reply address; any known user may answer it.

Called inside the caller's transaction: the pipeline's act step commits the
task change and its notifications together, so there is never a change
without its mail or mail without a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from mailgate.shared.addresses import incoming, reply_address
from mailgate.shared.config import Settings
from mailgate.shared.db import utcnow
from mailgate.shared.keys import signing_key
from mailgate.shared.models import AppUser, OutboundMessage, ReceivedMessage, TaskSubscriber, UserEmail
from mailgate.shared.outbound.compose import html_from_text, marker_headers, new_message_id, thread_headers
from mailgate.shared.parsing.markers import marker_line
from mailgate.shared.prepared import Conn, Insert, Statement
from mailgate.shared.rows import TaskRow, UserRef

RECIPIENT_MAX = 320  # the column's size; a public message lists everybody in its To header


def describe_events(actor: UserRef, task: TaskRow, events: list[str]) -> list[str]:
    """Human lines for what happened, in the order it happened."""
    who = actor.name or actor.username
    lines: list[str] = []
    for ev in events:
        kind, _, arg = ev.partition(":")
        if kind == "created":
            lines.append(f"{who} created {task.ref}: {task.title}")
        elif kind == "commented":
            lines.append(f"{who} commented on {task.ref}.")
        elif kind == "internal":
            lines.append("The comment is internal: it is not mailed to the external participants.")
        elif kind == "public":
            lines.append("The comment was mailed to the external participants.")
        elif kind == "closed":
            lines.append(f"{who} closed {task.ref}.")
        elif kind == "reopened":
            lines.append(f"{who} reopened {task.ref}.")
        elif kind == "priority":
            lines.append(f"{who} changed the priority to {arg}.")
        elif kind == "assigned":
            lines.append(f"{who} assigned {task.ref} to {arg}.")
        else:
            lines.append(f"{who}: {ev}")
    return lines


def task_link(settings: Settings, task: TaskRow) -> str:
    """The task's page in the application (MAILGATE_BASE_URL), as notifications link to it."""
    return f"{settings.base_url}/tasks/{task.ref}"


EXTERNAL_NOTE = ("This task has external participants (service desk): your reply is mailed to them too, "
                 "unless it has a line !internal.")


def render_text(settings: Settings, task: TaskRow, actor: UserRef, events: list[str], new_text: str,
                external: bool = False) -> str:
    """The plain-text body: the reply marker, what happened, the new text, the task link, how to reply
    (`external`: the task has external participants, and a reply reaches them).

    The marker line (MAILGATE_REPLY_MARKER) comes first so that a reply quoting
    this message carries it above everything it quotes: the trimmer cuts there.
    """
    parts = [marker_line(settings.reply_marker)] if settings.reply_marker else []
    parts.append("\n".join(describe_events(actor, task, events)))
    if new_text:
        parts.append(new_text)
    summary = f"{task.ref} · {task.title}\nStatus: {task.status} · Priority: {task.priority}"
    if settings.base_url:  # the application's page, never the admin-only console
        summary += f"\n{task_link(settings, task)}"
    parts.append(summary)
    parts.append("Reply to this message to comment. Lines like !close, !priority high or "
                 "!assign <user> at the start or end of your reply act on the task.")
    if external:
        parts.append(EXTERNAL_NOTE)
    return "\n\n".join(parts) + "\n"


def subject_for(task: TaskRow) -> str:
    return f"[{task.ref}] {task.title}"


@dataclass(frozen=True)
class Recipient:
    id: int
    primary_email: str


# One query for every subscriber's first address (not one per subscriber, and
# no ORM objects): an event on a task with a thousand subscribers stays cheap.
_SELECT_RECIPIENTS = Statement(
    select(AppUser.id, UserEmail.address)
    .join(TaskSubscriber, TaskSubscriber.user_id == AppUser.id)
    .join(UserEmail, UserEmail.user_id == AppUser.id)
    .where(TaskSubscriber.task_id == bindparam("task_id"), AppUser.enabled.is_(True),
           AppUser.id != bindparam("actor_id"))
    .order_by(AppUser.id, UserEmail.id)
)


@dataclass
class QueuedMessage:
    """A notification as queued: the values of its outbound_messages row.

    Rows are written with prepared INSERTs, not ORM objects: on the path of
    every reply, creating and flushing OutboundMessage objects cost more than
    rendering them. The worker reads the table, never these objects. The
    rows of one event share their `headers` dict: a record, not to be changed.
    """

    status: str
    event: str
    task_id: int
    source_received_id: int | None
    key_id: int
    sender: str
    subject: str
    body_text: str
    body_html: str
    created_at: datetime
    user_id: int | None
    recipient: str
    reply_to: str
    message_id: str
    headers: dict = field(default_factory=dict)
    attempts: int = 0
    sender_name: str = ""  # "": the From name is Mailgate's
    id: int | None = None  # not read back: the rows are written with one executemany

    def values(self) -> dict:
        values = dict(self.__dict__)
        del values["id"]
        return values


_OUTBOUND = OutboundMessage.__table__
_INSERT_OUTBOUND = Insert(_OUTBOUND)
_SELECT_PARENT = Statement(select(ReceivedMessage.message_id).where(ReceivedMessage.id == bindparam("rec_id")))


def _recipients(conn: Conn, task: TaskRow, actor: UserRef) -> list[Recipient]:
    """Subscribers who get mail: not the actor, enabled, with an address (their first one)."""
    found: dict[int, str] = {}
    for user_id, address in conn.all(_SELECT_RECIPIENTS, {"task_id": task.id, "actor_id": actor.id}):
        found.setdefault(user_id, address)
    return [Recipient(uid, addr) for uid, addr in found.items()]


def _parent_message_id(conn: Conn, source_received_id: int | None, known: str | None = None) -> str:
    if known is not None or source_received_id is None:
        return known or ""
    return conn.scalar(_SELECT_PARENT, {"rec_id": source_received_id}) or ""


def queue_task_event(conn: Conn, settings: Settings, *, task: TaskRow, actor: UserRef,
                     events: list[str], new_text: str = "",
                     source_received_id: int | None = None,
                     parent_message_id: str | None = None, external: bool = False) -> list["QueuedMessage"]:
    """Queue the notifications for one event on `task` by `actor`; returns the new rows.

    `events` are the tracker's event words ("created", "commented", "closed",
    "priority:high", "assigned:bob", …); the first names the row's event.
    `source_received_id` is the inbound mail that caused it, if any: its
    Message-ID joins the References so the thread stays whole.
    """
    if not events:
        return []
    users = _recipients(conn, task, actor)
    if not users:
        return []
    body = render_text(settings, task, actor, events, new_text, external)
    body_html = html_from_text(body)
    subject = subject_for(task)
    event = events[0].partition(":")[0]
    domain = settings.reply_domain

    # Threading: the first notification of a task is its thread root.
    if task.thread_id:
        root = False
        threading = thread_headers(task.thread_id, _parent_message_id(conn, source_received_id, parent_message_id))
    else:
        root = True
        task.thread_id = new_message_id(domain, task.ref.lower())
        parent = _parent_message_id(conn, source_received_id, parent_message_id)
        threading = thread_headers(parent) if parent else {}
    headers = {**marker_headers(event, task.ref), **threading}

    key = signing_key(conn)  # one key look-up for the whole event, not one per recipient
    common = dict(status="queued", event=event, task_id=task.id, source_received_id=source_received_id,
                  key_id=key.id, sender=settings.from_address, subject=subject, body_text=body,
                  body_html=body_html, created_at=utcnow())
    if settings.public_replies:
        addresses = [u.primary_email for u in users]
        signed = reply_address(settings, key, task.ref, None)
        rows = [QueuedMessage(
            user_id=None, recipient=_recipient_summary(addresses),
            reply_to=incoming.issue(settings.incoming_address, signed),
            message_id=task.thread_id if root else new_message_id(domain, task.ref.lower()),
            headers={**_carrying(settings, headers, signed), "To": ", ".join(addresses)}, **common,
        )]
    else:
        rows = []
        for user in users:
            signed = reply_address(settings, key, task.ref, user.id)
            rows.append(QueuedMessage(
                user_id=user.id, recipient=user.primary_email,
                reply_to=incoming.issue(settings.incoming_address, signed),
                # Each recipient sees the root once, so the root id may be shared by their copies.
                message_id=task.thread_id if root else new_message_id(domain, task.ref.lower()),
                headers=_carrying(settings, headers, signed), **common,  # the event's dict, unless a key rides in it
            ))
    conn.executemany(_INSERT_OUTBOUND, [r.values() for r in rows])
    return rows


def _carrying(settings: Settings, headers: dict, signed: str) -> dict:
    """The event's headers, plus, for a dedicated incoming mailbox, this reply address's key in References."""
    ref = incoming.reply_reference(settings.incoming_address, signed)
    if ref is None:
        return headers  # shared by the event's rows: serialised once
    refs = headers.get("References", "")
    return {**headers, "References": f"{refs} <{ref}>".strip()}


def _recipient_summary(addresses: list[str]) -> str:
    """All addresses when they fit the column, else the first ones and a count."""
    text = ", ".join(addresses)
    if len(text) <= RECIPIENT_MAX:
        return text
    shown: list[str] = []
    for i, a in enumerate(addresses):
        more = f" (+{len(addresses) - i} more)"
        if len(", ".join(shown + [a])) + len(f" (+{len(addresses) - i - 1} more)") > RECIPIENT_MAX:
            return ", ".join(shown) + more
        shown.append(a)
    return text[:RECIPIENT_MAX]
