"""Act: claim the message, then create the task or add the comment, apply the commands, queue notifications.

The claim goes first: a racing host that claimed the same dedupe key makes
this insert fail (on PostgreSQL it waits for that host's commit), and the
message becomes its duplicate before doing any work. A comment takes the
one path every comment takes (`commenting.comment`: the console's and the
CLI's too); a service desk's new task names its requester to the team, and
the `service_desk` step then records them; a mail to an unsubscribe address
unsubscribes.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from mailgate.shared import commenting, notify, received, tracker
from mailgate.shared.db import utcnow
from mailgate.shared.message import no_nul
from mailgate.shared.pipeline.steps.dedupe import duplicate
from mailgate.shared.pipeline.work import AlreadySettled, Work
from mailgate.shared.rows import TaskRow, save_task
from mailgate.shared.servicedesk import participants, unsubscribe


def run(w: Work) -> None:
    _claim(w)
    if w.recipient.kind == "unsubscribe":
        return _unsubscribe(w)
    text = no_nul(w.parsed.text)
    task, events = _create(w, text) if w.recipient.kind == "create" else _comment(w, text)
    w.task, w.object_ref = task, task.ref
    plan = w.plan
    w.note(f"{'Created' if w.action == 'create' else 'Commented on'} {task.ref} as {w.author.username}"
           + (f"; commands: {', '.join('!' + str(c) for c in plan.valid)}" if plan.valid else "")
           + (f"; unknown commands kept in the text's record: {', '.join('!' + c for c in plan.unknown)}"
              if plan.unknown else "") + ".")


def _create(w: Work, text: str) -> tuple[TaskRow, list[str]]:
    conn, row, parsed, author, create = w.conn, w.row, w.parsed, w.author, w.recipient.create
    requester = w.requester
    builtin = requester is not None and author.id == participants.support_identity(conn).id
    task = tracker.create_task(
        conn, app_id=create.application_id, app_name=create.application, author=author,
        title=tracker.make_title(row.subject, text, parsed.forwarded_subject), description=text,
        attachments=parsed.attachments, source_message_id=row.id, subscribe_author=not builtin,
    )
    events = ["created"] + tracker.apply_commands(conn, task, author, w.plan)
    w.action = "create"
    # A desk task is the requester's doing: the team (the default author too) is told who wrote.
    actor = author if requester is None else commenting.ExternalActor(
        0, requester.address, commenting.external_name(requester.name, requester.address))
    notify.queue_task_event(conn, w.settings, task=task, actor=actor, events=events, new_text=text,
                            source_received_id=row.id, parent_message_id=row.message_id,
                            external=requester is not None)
    save_task(conn, task)  # what the commands and the first notification (thread id) changed
    return task, events


def _comment(w: Work, text: str) -> tuple[TaskRow, list[str]]:
    task = w.recipient.task
    done = commenting.comment(w.conn, w.settings, task=task, author=w.author, text=text, plan=w.plan,
                              attachments=w.parsed.attachments, source_received_id=w.row.id,
                              parent_message_id=w.row.message_id, participant=w.participant)
    w.comment_id, w.action = done.comment_id, "comment"
    for sentence in done.notes:
        w.note(sentence)
    return task, done.events


def _unsubscribe(w: Work) -> None:
    participant, task = w.participant, w.recipient.task
    changed = unsubscribe.unsubscribe(w.conn, participant)
    w.action, w.task, w.object_ref = "unsubscribe", task, task.ref
    w.note(f"External participant #{participant.id} of {task.ref} " + (
        "unsubscribed: no more mail to them about it." if changed else "had unsubscribed already."))


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
