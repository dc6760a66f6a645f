"""Queue one notification per subscriber (except the actor) for a task event.

Each row carries that recipient's personal signed Reply-To, so a reply
authenticates as them. Rendering of the final MIME message and sending are
the outbound worker's job; the rows here hold everything it needs.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailgate.shared.addresses import issue_reply_address
from mailgate.shared.config import Settings
from mailgate.shared.models import AppUser, Comment, OutboundMessage, Task
from mailgate.shared.tracker import subscribers


def describe_events(actor: AppUser, task: Task, events: list[str]) -> list[str]:
    """Human lines for what happened, in the order it happened."""
    who = actor.name or actor.username
    lines: list[str] = []
    for ev in events:
        kind, _, arg = ev.partition(":")
        if kind == "created":
            lines.append(f"{who} created {task.ref}: {task.title}")
        elif kind == "commented":
            lines.append(f"{who} commented on {task.ref}.")
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


def render_text(settings: Settings, task: Task, actor: AppUser, events: list[str], new_text: str) -> str:
    parts = ["\n".join(describe_events(actor, task, events))]
    if new_text:
        parts.append(new_text)
    parts.append(
        f"{task.ref} · {task.title}\n"
        f"Status: {task.status} · Priority: {task.priority}\n"
        f"{settings.base_url}/tasks/{task.id}"
    )
    parts.append("Reply to this message to comment. Lines like !close, !priority high or "
                 "!assign <user> at the start or end of your reply act on the task.")
    return "\n\n".join(parts) + "\n"


def queue_task_event(session: Session, settings: Settings, *, task: Task, actor: AppUser,
                     events: list[str], comment: Comment | None = None, new_text: str = "",
                     source_received_id: int | None = None) -> list[OutboundMessage]:
    """One queued OutboundMessage per other subscriber with an address; returns them."""
    if not events:
        return []
    body = render_text(settings, task, actor, events, new_text)
    subject = f"[{task.ref}] {task.title}"
    rows: list[OutboundMessage] = []
    event = events[0].partition(":")[0]
    for user in subscribers(session, task):
        if user.id == actor.id or not user.enabled or not user.primary_email:
            continue
        reply_to, key = issue_reply_address(
            session, settings, task.ref, None if settings.public_replies else user.id
        )
        row = OutboundMessage(
            status="queued", event=event, task_id=task.id, user_id=user.id,
            source_received_id=source_received_id, key_id=key.id, sender=settings.from_address,
            recipient=user.primary_email, reply_to=reply_to, subject=subject, body_text=body,
            next_attempt_at=None,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows
