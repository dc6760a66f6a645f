"""The built-in application: what a create or a reply does to tasks, and the !commands.

Small but real: tasks with status, priority, assignee and subscribers;
comments with attachments. Commands are validated before anything is
written, so a refused command leaves no half-applied change behind.

Everything a message does runs as prepared statements on a `Conn`
(`prepared.py`), with tasks and users as plain rows (`rows.py`): the
pipeline's connection, or one the console or a test opens with
`durability.transaction()` to act the same way.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from mailgate.shared.message import clean_header_value
from mailgate.shared.models import Application, Attachment, Comment, Task, TaskSubscriber
from mailgate.shared.models.tracker import PRIORITIES
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.parsing import Attachment as ParsedAttachment
from mailgate.shared.parsing import Command
from mailgate.shared.prepared import Conn, Insert, Statement
from mailgate.shared.rows import TASK_FIELDS, TaskRow, UserRef, user_by_name

BUILTIN_APP = "tasks"
TITLE_MAX = 300

# name -> number of arguments
KNOWN_COMMANDS: dict[str, int] = {
    "close": 0, "reopen": 0, "priority": 1, "assign": 1, "subscribe": 0, "unsubscribe": 0,
    "internal": 0,  # the comment is never mailed to a service desk's external participants
}
PUBLIC_REFUSAL = "commands are not accepted through a public reply address."


@dataclass
class PlannedCommand:
    name: str
    args: list[str]
    assignee: UserRef | None = None

    def __str__(self) -> str:
        return " ".join([self.name, *self.args])


@dataclass
class CommandPlan:
    valid: list[PlannedCommand] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def plan_commands(conn: Conn, commands: list[Command], *, allowed: bool = True,
                  refusal: str = PUBLIC_REFUSAL) -> CommandPlan:
    """Check every command; Reject(command_not_allowed) names the first bad one (`refusal`: why none is
    allowed, when `allowed` is False)."""
    plan = CommandPlan()
    for cmd in commands:
        name = cmd.name.lower()
        if name not in KNOWN_COMMANDS:
            plan.unknown.append(str(cmd))
            continue
        if not allowed:
            raise Reject(Reason.COMMAND_NOT_ALLOWED, f"!{name}: {refusal}")
        want = KNOWN_COMMANDS[name]
        args = list(cmd.args)
        if len(args) != want:
            usage = f"!{name}" + ("" if want == 0 else " <value>")
            raise Reject(Reason.COMMAND_NOT_ALLOWED, f"!{' '.join([name, *args])}: expected `{usage}`.")
        planned = PlannedCommand(name, [a.lower() if name == "priority" else a for a in args])
        if name == "priority" and planned.args[0] not in PRIORITIES:
            raise Reject(Reason.COMMAND_NOT_ALLOWED,
                         f"!priority {args[0]}: use one of {', '.join(PRIORITIES)}.")
        if name == "assign":
            username = args[0].lstrip("@")
            user = user_by_name(conn, username)
            if user is None or not user.enabled:
                raise Reject(Reason.COMMAND_NOT_ALLOWED, f"!assign {args[0]}: there is no active user {username!r}.")
            planned.args = [user.username]
            planned.assignee = user
        plan.valid.append(planned)
    return plan


def builtin_app(session: Session) -> Application:
    app = session.scalars(select(Application).where(Application.name == BUILTIN_APP)).first()
    if app is None:
        app = Application(name=BUILTIN_APP, title="Tasks (built-in tracker)")
        session.add(app)
        session.flush()
    return app


_SUBS = TaskSubscriber.__table__
_SELECT_SUBSCRIBER_IDS = Statement(select(_SUBS.c.user_id).where(_SUBS.c.task_id == bindparam("task_id")))
_INSERT_SUBSCRIBER = Insert(_SUBS)
_DELETE_SUBSCRIBER = Statement(delete(_SUBS).where(_SUBS.c.task_id == bindparam("task_id"),
                                                   _SUBS.c.user_id == bindparam("user_id")))
_MEMO = "mailgate.subscribers"


def subscriber_ids(conn: Conn, task: TaskRow) -> set[int]:
    """The task's subscribers, read once per unit of work and kept in step by (un)subscribe."""
    memo = conn.memo.setdefault(_MEMO, {})
    if task.id not in memo:
        memo[task.id] = set(conn.column(_SELECT_SUBSCRIBER_IDS, {"task_id": task.id}))
    return memo[task.id]


def subscribe(conn: Conn, task: TaskRow, user: UserRef) -> None:
    ids = subscriber_ids(conn, task)
    if user.id not in ids:
        conn.execute(_INSERT_SUBSCRIBER, {"task_id": task.id, "user_id": user.id})
        ids.add(user.id)


def unsubscribe(conn: Conn, task: TaskRow, user: UserRef) -> None:
    ids = subscriber_ids(conn, task)
    if user.id in ids:
        conn.execute(_DELETE_SUBSCRIBER, {"task_id": task.id, "user_id": user.id})
        ids.discard(user.id)


def apply_commands(conn: Conn, task: TaskRow, actor: UserRef, plan: CommandPlan) -> list[str]:
    """Apply validated commands to the row (saved by rows.save_task); returns the events they caused."""
    events: list[str] = []
    for cmd in plan.valid:
        if cmd.name == "close" and task.status != "closed":
            task.status = "closed"
            events.append("closed")
        elif cmd.name == "reopen" and task.status != "open":
            task.status = "open"
            events.append("reopened")
        elif cmd.name == "priority" and task.priority != cmd.args[0]:
            task.priority = cmd.args[0]
            events.append(f"priority:{cmd.args[0]}")
        elif cmd.name == "assign" and cmd.assignee is not None and task.assignee_id != cmd.assignee.id:
            task.assignee_id = cmd.assignee.id
            subscribe(conn, task, cmd.assignee)
            events.append(f"assigned:{cmd.assignee.username}")
        elif cmd.name == "subscribe":
            subscribe(conn, task, actor)
        elif cmd.name == "unsubscribe":
            unsubscribe(conn, task, actor)
    return events


def _attachment_values(task: TaskRow, f: ParsedAttachment, comment_id: int | None = None) -> dict:
    return {"task_id": task.id, "comment_id": comment_id, "name": (f.name or "attachment")[:255],
            "content_type": (f.content_type or "application/octet-stream")[:255], "size": len(f.data),
            "data": f.data}


# Reply and forward prefixes clients put before a Subject, in the languages they
# ship ("AW:", "WG:", "TR:", "RV:", "ENC:", "I:", "Doorst:", "VB:", "PD:", "转发:" …).
_REPLY_PREFIXES = "re|aw|sv|vs|antw|r|res|rif|odp|ynt|ha|回复|回覆|答复|返信"
_FORWARD_PREFIXES = "fw|fwd|wg|tr|rv|enc|i|doorst|vb|vl|pd|i̇lt|转发|轉寄|転送"
_SUBJECT_PREFIX = re.compile(rf"^\s*(?:({_REPLY_PREFIXES})|({_FORWARD_PREFIXES}))\s*(\[\d+\])?\s*[:：]\s*", re.IGNORECASE)


def strip_subject_prefixes(subject: str) -> tuple[str, bool]:
    """The subject without its "Re:"/"Fwd:" prefixes, and whether one of them said forward."""
    title, forwarded = subject.strip(), False
    while (m := _SUBJECT_PREFIX.match(title)) is not None:
        forwarded = forwarded or m.group(2) is not None
        title = title[m.end():]
    return title.strip(), forwarded


def make_title(subject: str, text: str, forwarded_subject: str | None = None) -> str:
    """A task's title: the Subject without prefixes; for a forward, the forwarded message's Subject."""
    title, forwarded = strip_subject_prefixes(subject)
    if forwarded_subject and (forwarded or not title):
        title = strip_subject_prefixes(clean_header_value(forwarded_subject))[0] or title
    if not title:  # the body's first line: mail text, not a header, so not cleaned yet
        title = next((clean for line in text.splitlines() if (clean := clean_header_value(line))), "")
    return (title or "(no subject)")[:TITLE_MAX]


_INSERT_TASK = Insert(Task.__table__, returning=Task.__table__.c.id)
_INSERT_COMMENT = Insert(Comment.__table__, returning=Comment.__table__.c.id)
_INSERT_ATTACHMENT = Insert(Attachment.__table__)


def create_task(conn: Conn, *, app_id: int, app_name: str, author: UserRef, title: str, description: str,
                attachments: list[ParsedAttachment], source_message_id: int | None,
                subscribe_author: bool = True) -> TaskRow:
    """A new open task; its author subscribed (not the built-in Support identity, which reads no mail)."""
    values = dict(application_id=app_id, title=title, description=description, status="open", priority="normal",
                  author_id=author.id, assignee_id=None, thread_id="", source_message_id=source_message_id)
    task_id = conn.scalar(_INSERT_TASK, values)  # the task number is needed for attachments and notifications
    task = TaskRow(task_id, *(values[f] for f in TASK_FIELDS[1:]), application=app_name)
    if subscribe_author:
        subscribe(conn, task, author)
    conn.executemany(_INSERT_ATTACHMENT, [_attachment_values(task, f) for f in attachments])
    return task


def add_comment(conn: Conn, *, task: TaskRow, author: UserRef, text: str,
                attachments: list[ParsedAttachment], source_message_id: int | None, internal: bool = False,
                participant_id: int | None = None) -> int | None:
    """The new comment's id when there is text or a file; a commands-only reply adds none.

    An external participant's comment (`participant_id`) is written under
    the Support identity (`author`), which is not subscribed: it reads no mail.
    """
    if participant_id is None:
        subscribe(conn, task, author)
    if not text and not attachments:
        return None
    comment_id = conn.scalar(_INSERT_COMMENT, {"task_id": task.id, "author_id": author.id, "text": text,
                                               "source_message_id": source_message_id, "internal": internal,
                                               "participant_id": participant_id})
    conn.executemany(_INSERT_ATTACHMENT, [_attachment_values(task, f, comment_id) for f in attachments])
    return comment_id
