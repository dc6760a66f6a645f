"""Act: claim the message, then create the task or add the comment, apply the commands, queue notifications.

The claim goes first: a racing host that claimed the same dedupe key makes
this insert fail (on PostgreSQL it waits for that host's commit), and the
message becomes its duplicate before doing any work.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from mailgate.shared import notify, received, tracker
from mailgate.shared.db import utcnow
from mailgate.shared.message import no_nul
from mailgate.shared.pipeline.steps.dedupe import duplicate
from mailgate.shared.pipeline.work import AlreadySettled, Work
from mailgate.shared.rows import save_task


def run(w: Work) -> None:
    _claim(w)
    conn, row, parsed, plan, author = w.conn, w.row, w.parsed, w.plan, w.author
    text = no_nul(parsed.text)
    if w.recipient.kind == "create":
        create = w.recipient.create
        task = tracker.create_task(
            conn, app_id=create.application_id, app_name=create.application, author=author,
            title=tracker.make_title(row.subject, text, parsed.forwarded_subject), description=text,
            attachments=parsed.attachments, source_message_id=row.id,
        )
        events = ["created"] + tracker.apply_commands(conn, task, author, plan)
        w.action = "create"
    else:
        task = w.recipient.task
        w.comment_id = tracker.add_comment(conn, task=task, author=author, text=text,
                                           attachments=parsed.attachments, source_message_id=row.id)
        events = (["commented"] if w.comment_id else []) + tracker.apply_commands(conn, task, author, plan)
        w.action = "comment"
    notify.queue_task_event(conn, w.settings, task=task, actor=author, events=events, new_text=text,
                            source_received_id=row.id, parent_message_id=row.message_id)
    save_task(conn, task)  # what the commands and the first notification (thread id) changed
    w.task, w.object_ref = task, task.ref
    w.note(f"{'Created' if w.action == 'create' else 'Commented on'} {task.ref} as {author.username}"
           + (f"; commands: {', '.join('!' + str(c) for c in plan.valid)}" if plan.valid else "")
           + (f"; unknown commands kept in the text's record: {', '.join('!' + c for c in plan.unknown)}"
              if plan.unknown else "") + ".")


def _claim(w: Work) -> None:
    try:
        received.claim(w.conn, w.row.dedupe_key, w.row.id, utcnow())
    except IntegrityError:
        w.conn.rollback_to_savepoint()  # PostgreSQL: the transaction is unusable until then
        holder = received.claim_holder(w.conn, w.row.dedupe_key)
        if holder is None:
            raise
        if holder == w.row.id:
            raise AlreadySettled() from None
        raise duplicate(w, holder) from None
