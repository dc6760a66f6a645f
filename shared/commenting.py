"""A comment on a task, the one way: from a mail reply, the console, or `mailgate task comment`.

The comment, its commands, the team's notifications and -- for a public
comment on a service-desk task -- the external participants' notices are
written in the caller's transaction, so there is never a comment without
its mail nor mail without its comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from mailgate.shared import notify, tracker
from mailgate.shared.config import Settings
from mailgate.shared.outcomes import Reject
from mailgate.shared.parsing import Attachment as ParsedAttachment
from mailgate.shared.parsing.commands import extract_commands
from mailgate.shared.prepared import Conn
from mailgate.shared.rows import TaskRow, UserRef, save_task, task_by_id, user_by_name
from mailgate.shared.servicedesk import notices, participants
from mailgate.shared.servicedesk.participants import ParticipantRow
from mailgate.shared.tracker import CommandPlan, PlannedCommand


class ExternalActor(NamedTuple):
    """A participant as the team's notifications name them: id 0 leaves out no subscriber."""

    id: int
    username: str
    name: str


@dataclass
class Commented:
    comment_id: int | None
    events: list[str]
    internal: bool = False
    participants_notified: int = 0
    notes: list[str] = field(default_factory=list)


def comment(conn: Conn, settings: Settings, *, task: TaskRow, author: UserRef, text: str, plan: CommandPlan,
            attachments: list[ParsedAttachment] = (), source_received_id: int | None = None,
            parent_message_id: str | None = None, participant: ParticipantRow | None = None) -> Commented:
    """Add the comment, apply the commands, queue every notification; `task` is saved.

    `participant`: written by an external participant (`author` is then the
    Support identity). A `!internal` command keeps the comment from them.
    """
    internal = any(c.name == "internal" for c in plan.valid)
    comment_id = tracker.add_comment(conn, task=task, author=author, text=text, attachments=list(attachments),
                                     source_message_id=source_received_id, internal=internal,
                                     participant_id=participant.id if participant else None)
    events = (["commented"] if comment_id else []) + tracker.apply_commands(conn, task, author, plan)
    done = Commented(comment_id, events, internal)
    external = bool(participants.of_task(conn, task.id))
    if comment_id and external:
        events.insert(1, "internal" if internal else "public")
    actor = author if participant is None else ExternalActor(0, participant.address,
                                                             external_name(participant.name, participant.address))
    notify.queue_task_event(conn, settings, task=task, actor=actor, events=events, new_text=text,
                            source_received_id=source_received_id, parent_message_id=parent_message_id,
                            external=external)
    if comment_id and not internal and external:
        writer = participant.shown_name() if participant else participants.team_name(author)
        rows = notices.queue_comment(conn, settings, task=task, writer=writer, text=text,
                                     skip_participant=participant.id if participant else None,
                                     source_received_id=source_received_id)
        done.participants_notified = len(rows)
        done.notes.append(f"Public comment: mailed to {len(rows)} external participant(s).")
    elif comment_id and internal and external:
        done.notes.append("Internal comment: not mailed to external participants.")
    save_task(conn, task)  # what the commands and the first notification (thread id) changed
    return done


def external_name(name: str, address: str) -> str:
    """How the team's notifications name someone without an account."""
    return f"{name} <{address}> (external)" if name else f"{address} (external)"


class CommentError(ValueError):
    """A comment that cannot be made (no such task or user, nothing to say, a refused command)."""


def comment_as(conn: Conn, settings: Settings, *, ref: str, username: str, text: str,
               internal: bool = False) -> tuple[TaskRow, Commented]:
    """A team member's comment typed in the console or `mailgate task comment`: `!command` lines at the top
    and bottom act as in a mail reply; `internal` is a `!internal` line."""
    number = _task_number(ref)
    task = task_by_id(conn, number) if number is not None else None
    if task is None:
        raise CommentError(f"no task {ref}")
    author = user_by_name(conn, username)
    if author is None or not author.enabled:
        raise CommentError(f"no active user {username!r}")
    text, commands, _cuts = extract_commands(text.replace("\r\n", "\n").replace("\x00", ""))
    text = text.strip("\n")
    try:
        plan = tracker.plan_commands(conn, commands)
    except Reject as refused:
        raise CommentError(refused.text) from None
    if internal and not any(c.name == "internal" for c in plan.valid):
        plan.valid.append(PlannedCommand("internal", []))
    if not text.strip() and not any(c.name != "internal" for c in plan.valid):
        raise CommentError("nothing to add: the text is empty and there is no command")
    return task, comment(conn, settings, task=task, author=author, text=text, plan=plan)


def _task_number(ref: str) -> int | None:
    ref = ref.strip()
    if ref[:1] in ("T", "t"):
        ref = ref[1:]
    return int(ref) if ref.isdigit() and len(ref) <= 12 else None
